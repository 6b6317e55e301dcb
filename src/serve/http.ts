/**
 * HTTP plumbing of `prl serve`: errors in vLLM's shape, JSON and text answers, request bodies, and
 * server-sent events.
 *
 * Errors are `{"error": {"message", "type", "param", "code"}}` as vLLM answers them: `type` is vLLM's
 * class name (BadRequestError, NotFoundError, InvalidUserInput, ...) and `code` the HTTP status.
 */
import type http from 'node:http';

/** A 4xx/5xx answer with vLLM's error body. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly type = 'BadRequestError',
    readonly param: string | null = null,
  ) {
    super(message);
  }
}

export function errorBody(e: HttpError): { error: { message: string; type: string; param: string | null; code: number } } {
  return { error: { message: e.message, type: e.type, param: e.param, code: e.status } };
}

export function sendJson(res: http.ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/** A plain-text answer (vLLM's LoRA endpoints answer their success line as text). */
export function sendText(res: http.ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** Server-sent events as OpenAI streams them: `data: {json}\n\n` per chunk, then `data: [DONE]\n\n`. */
export function sendEvents(res: http.ServerResponse, chunks: readonly unknown[]): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
  for (const chunk of chunks) res.write(`data: ${JSON.stringify(chunk)}\n\n`);
  res.end('data: [DONE]\n\n');
}

export function readBody(req: http.IncomingMessage, maxBytes: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        reject(new HttpError(413, `request body exceeds ${maxBytes} bytes`));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('error', reject);
    req.on('end', () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown);
      } catch (err) {
        reject(new HttpError(400, `the body is not valid JSON (${(err as Error).message})`));
      }
    });
  });
}

/** The body as an object, or a 400. */
export function asObject(body: unknown): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new HttpError(400, 'the body must be a JSON object');
  return body as Record<string, unknown>;
}
