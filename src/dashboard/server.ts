/**
 * `prl dashboard`'s HTTP server (plain node:http): the page and a small JSON API over the runs under
 * one directory, with server-sent events that push metrics rows as runs append them.
 *
 *   GET /                             the page (src/dashboard/page.ts)
 *   GET /api/runs                     { runs: RunInfo[] }
 *   GET /api/runs/:id/metrics         { run, rows: MetricsPoint[], skipped }
 *   GET /api/runs/:id/samples?step=N  StepSamples: the step's traces with painted tokens
 *   GET /api/events                   text/event-stream: `runs` (the list, when it changes) and
 *                                     `rows` ({ run, from, reset, rows }) as metrics.jsonl grows
 *
 * `:id` is a run's path under the directory, URL-encoded, and is looked up among discovered runs,
 * never joined onto a path. Bound to loopback, the server also refuses requests whose Host is not
 * a loopback name, so a web page cannot reach it through DNS rebinding.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { PrlError } from '../util/errors.js';
import { dashboardPage } from './page.js';
import { readStepSamples } from './samples.js';
import { RunsWatcher, type DashboardEvent } from './watcher.js';

export interface DashboardOptions {
  runsDir: string;
  /** Interface to bind; loopback unless told otherwise. */
  host?: string;
  /** 0 = any free port. */
  port?: number;
  /** How often runs are re-read besides file events. */
  pollMs?: number;
  /** Receives one line per request (method, path, status, ms); none when absent. */
  log?: (line: string) => void;
}

export interface DashboardServer {
  /** Base URL ending in `/`. */
  url: string;
  port: number;
  /** Ends the event streams, stops watching, and closes the server. */
  close(): Promise<void>;
}

/** Comment lines that keep idle event streams open through proxies and let dead ones be noticed. */
const KEEPALIVE_MS = 15_000;
const LOOPBACK_NAMES = new Set(['localhost', '127.0.0.1', '[::1]']);

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export async function startDashboard(options: DashboardOptions): Promise<DashboardServer> {
  const root = resolve(options.runsDir);
  if (!isDirectory(root)) throw new PrlError(`--runs ${options.runsDir}: no such directory`);
  const host = options.host ?? '127.0.0.1';
  const loopbackOnly = LOOPBACK_NAMES.has(host) || host === '::1';
  const watcher = new RunsWatcher(root, options.pollMs ?? 1000);
  const streams = new Set<http.ServerResponse>();
  watcher.subscribe((event) => {
    const frame = eventFrame(event);
    for (const stream of streams) stream.write(frame);
  });
  const keepalive = setInterval(() => {
    for (const stream of streams) stream.write(': keepalive\n\n');
  }, KEEPALIVE_MS);
  const page = dashboardPage();

  const server = http.createServer((req, res) => {
    const started = performance.now();
    const path = (req.url ?? '/').split('?')[0];
    res.on('close', () => options.log?.(`${req.method} ${path} ${res.statusCode} ${Math.round(performance.now() - started)}ms`));
    try {
      if (req.method !== 'GET' && req.method !== 'HEAD') throw new HttpError(405, `${req.method} is not served; the dashboard only reads`);
      if (loopbackOnly && !LOOPBACK_NAMES.has(hostName(req.headers.host))) throw new HttpError(403, 'this dashboard answers requests addressed to localhost only');
      const url = new URL(req.url ?? '/', 'http://dashboard');
      const parts = url.pathname.split('/').slice(1).map(decodeSegment);
      if (url.pathname === '/') return send(res, 200, 'text/html; charset=utf-8', page, PAGE_HEADERS);
      if (url.pathname === '/api/runs') return sendJson(res, 200, { runs: watcher.list() });
      if (url.pathname === '/api/events') return openStream(req, res);
      if (parts.length === 4 && parts[0] === 'api' && parts[1] === 'runs') {
        const run = watcher.current(parts[2]);
        if (!run) throw new HttpError(404, `no run ${JSON.stringify(parts[2])} under the runs directory`);
        if (parts[3] === 'metrics') return sendJson(res, 200, { run: run.id, rows: run.rows, skipped: run.info(Date.now()).skipped });
        if (parts[3] === 'samples') return sendJson(res, 200, readStepSamples(run.dir, stepParam(url.searchParams.get('step'))));
      }
      throw new HttpError(404, `nothing at ${url.pathname}`);
    } catch (err) {
      if (err instanceof HttpError) return sendJson(res, err.status, { error: err.message });
      sendJson(res, 500, { error: err instanceof Error ? err.message : String(err) });
    }
  });

  function openStream(req: http.IncomingMessage, res: http.ServerResponse): void {
    res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-cache', Connection: 'keep-alive' });
    // The list first, so a page knows the runs before any rows arrive.
    res.write('retry: 2000\n\n' + eventFrame({ type: 'runs', runs: watcher.list() }));
    streams.add(res);
    req.on('close', () => streams.delete(res));
  }

  await new Promise<void>((resolveListen, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      watcher.close();
      clearInterval(keepalive);
      reject(err.code === 'EADDRINUSE' ? new PrlError(`--port ${options.port}: already in use; choose another (0 picks a free one)`) : err);
    });
    server.listen(options.port ?? 8080, host, () => resolveListen());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}/`,
    port,
    close: async () => {
      clearInterval(keepalive);
      watcher.close();
      for (const stream of streams) stream.end();
      streams.clear();
      await new Promise<void>((resolveClose) => {
        server.close(() => resolveClose());
        server.closeIdleConnections();
      });
    },
  };
}

/** No request leaves for another origin: the page is one file with its script and styles inline. */
const PAGE_HEADERS = {
  'Content-Security-Policy': "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'",
  'Cache-Control': 'no-cache',
};

function eventFrame(event: DashboardEvent): string {
  const data = event.type === 'runs' ? { runs: event.runs } : event.update;
  return `event: ${event.type}\ndata: ${JSON.stringify(data)}\n\n`;
}

function send(res: http.ServerResponse, status: number, type: string, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body), 'X-Content-Type-Options': 'nosniff', ...headers });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

function sendJson(res: http.ServerResponse, status: number, value: unknown): void {
  send(res, status, 'application/json; charset=utf-8', JSON.stringify(value), { 'Cache-Control': 'no-cache' });
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new HttpError(400, `malformed path segment ${JSON.stringify(segment)}`);
  }
}

function stepParam(raw: string | null): number {
  const step = Number(raw);
  if (raw === null || raw.trim() === '' || !Number.isInteger(step) || step < 0) throw new HttpError(400, `step: expected a step number (?step=N), got ${JSON.stringify(raw)}`);
  return step;
}

/** The host name of a Host header, without its port. */
function hostName(header: string | undefined): string {
  if (header === undefined) return '';
  return header.startsWith('[') ? header.slice(0, header.indexOf(']') + 1) : header.split(':')[0];
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}
