/**
 * A fault-injecting HTTP proxy on 127.0.0.1 for retry and failover tests. Request k (0-based)
 * meets `schedule(k)`: pass it through, answer with an error status (429 with Retry-After, 500,
 * ...), hang without answering, or drop the connection.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export type Fault = 'pass' | 'hang' | 'drop' | { status: number; retryAfter?: string; body?: string };

export interface FaultProxy {
  /** Base URL ending in /v1, mirroring the target's paths. */
  url: string;
  /** The fault each faultable request met, in arrival order. */
  log: Fault[];
  close(): Promise<void>;
}

/**
 * Proxies to `target` (an origin such as http://127.0.0.1:1234). Requests whose path ends with
 * `faultPath` (default /completions) meet the schedule in turn; others pass untouched.
 */
export async function startFaultProxy(
  target: string,
  schedule: Fault[] | ((k: number) => Fault),
  faultPath = '/completions',
): Promise<FaultProxy> {
  const faultFor = typeof schedule === 'function' ? schedule : (k: number): Fault => schedule[k] ?? 'pass';
  const log: Fault[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      let fault: Fault = 'pass';
      if (req.url?.endsWith(faultPath)) {
        fault = faultFor(log.length);
        log.push(fault);
      }
      if (fault === 'hang') return; // the client's timeout (or close()) ends it
      if (fault === 'drop') {
        req.socket.destroy();
        return;
      }
      if (fault !== 'pass') {
        const headers: Record<string, string> = { 'content-type': 'application/json' };
        if (fault.retryAfter !== undefined) headers['retry-after'] = fault.retryAfter;
        res.writeHead(fault.status, headers);
        res.end(fault.body ?? JSON.stringify({ error: { message: `injected ${fault.status}` } }));
        return;
      }
      const headers: Record<string, string> = {};
      for (const name of ['content-type', 'authorization', 'accept']) {
        const value = req.headers[name];
        if (typeof value === 'string') headers[name] = value;
      }
      const body = chunks.length > 0 ? Buffer.concat(chunks) : undefined;
      fetch(target + req.url, { method: req.method, headers, body, signal: AbortSignal.timeout(10_000) })
        .then(async (upstream) => {
          const text = await upstream.text();
          res.writeHead(upstream.status, { 'content-type': upstream.headers.get('content-type') ?? 'application/json' });
          res.end(text);
        })
        .catch(() => req.socket.destroy());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    log,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
