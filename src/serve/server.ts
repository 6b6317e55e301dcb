/**
 * `prl serve`: an OpenAI-compatible HTTP server over prl's engine (the `engine:` policy's face), so
 * that every `openai:` consumer (and vLLM-style clients) can use a prl model.
 *
 *   GET  /v1/models        the one served model
 *   POST /v1/completions   the legacy completions API: prompt (text, ids, or a list of either), n,
 *                          temperature, top_p, top_k, max_tokens, stop, seed, logprobs, echo,
 *                          return_tokens_as_token_ids
 *
 * Concurrent requests are batched: sequences arriving within `batchWindowMs` of each other (and
 * those that arrived while a batch ran) go into ONE `generate` call per set of sampling settings.
 * Every choice draws from its own stream (`choiceRng(seed, choice)`), so batching never changes a
 * seeded result, and a request seeded with `promptSeed(s, i)` gives what `engine:` gives prompt i of a
 * batch seeded with s.
 *
 * Wire conventions: `text_offset` counts within the returned `text` (which starts with the prompt
 * under `echo`); `token_logprobs` are the model's at temperature 1 (what RL needs), the first echoed
 * token's is null; token strings are the tokenizer's token texts, except the BOS that the server puts
 * in front of a text prompt, which is not part of the prompt text and is reported as "". `top_logprobs`
 * is always null.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomInt } from 'node:crypto';
import { scoreSequences } from '../engine/sampler.js';
import { prefixDecodeOffsets } from '../engine/tokenizer.js';
import { encodePrompt, generateCompletions, type EnginePolicy, type GenerationJob, type GenerationParams, type IdCompletion } from '../policy/engine.js';
import { choiceRng } from '../policy/seeds.js';
import { PrlError, describeValue } from '../util/errors.js';

export interface ServeOptions {
  /** Interface to bind; loopback unless told otherwise. */
  host?: string;
  /** 0 = any free port. */
  port?: number;
  /** The model id served at /v1/models (default: the folder's base name). */
  modelName: string;
  /** How long the first request of a batch waits for others. */
  batchWindowMs?: number;
  /** Most sequences in one generate call. */
  maxBatchSequences?: number;
  /** Largest request body accepted. */
  maxBodyBytes?: number;
  /** One line per request: method, path, status, completion tokens, milliseconds (never a header or body). */
  log?: (line: string) => void;
}

export interface ServerStats {
  requests: number;
  /** generate calls made, and the sequences they held (sequences / batches = mean batch size). */
  batches: number;
  sequences: number;
  completionTokens: number;
}

export interface CompletionServer {
  /** Base URL ending in /v1. */
  url: string;
  port: number;
  stats: ServerStats;
  /** Stops accepting connections, lets requests in flight finish, then closes idle connections. */
  close(): Promise<void>;
}

/** A 4xx/5xx answer with OpenAI's error body. */
class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly type = 'invalid_request_error',
    readonly param: string | null = null,
  ) {
    super(message);
  }
}

/** A validated completions request. */
interface CompletionRequest {
  prompts: Array<{ ids: number[]; text: string; fromText: boolean; addedBos: boolean }>;
  n: number;
  maxTokens: number;
  params: GenerationParams;
  seed: number;
  logprobs: boolean;
  echo: boolean;
  tokenIds: boolean;
}

/** Starts the server; resolves once it listens. */
export async function startCompletionServer(policy: EnginePolicy, options: ServeOptions): Promise<CompletionServer> {
  const maxBody = options.maxBodyBytes ?? 8 << 20;
  const batcher = new Batcher(policy, options.batchWindowMs ?? 5, options.maxBatchSequences ?? 64);
  const stats = batcher.stats;
  const inFlight = new Set<Promise<void>>();
  const completionTokens = new WeakMap<http.ServerResponse, number>();

  const server = http.createServer((req, res) => {
    const started = performance.now();
    if (options.log) {
      res.once('finish', () => {
        const path = (req.url ?? '/').split('?')[0];
        const tokens = completionTokens.get(res);
        options.log!(`${req.method ?? '?'} ${path} ${res.statusCode}${tokens === undefined ? '' : ` ${String(tokens)} tokens`} ${Math.round(performance.now() - started)} ms`);
      });
    }
    const done = handle(req, res).catch(() => undefined);
    inFlight.add(done);
    void done.finally(() => inFlight.delete(done));
  });

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    try {
      const path = (req.url ?? '/').split('?')[0].replace(/\/+$/, '');
      if (path === '/v1/models' || path === '/models') {
        if (req.method !== 'GET') throw new HttpError(405, `${req.method} is not allowed on ${path}; use GET`);
        sendJson(res, 200, { object: 'list', data: [{ id: options.modelName, object: 'model', created: 0, owned_by: 'prl' }] });
        return;
      }
      if (path === '/v1/completions' || path === '/completions') {
        if (req.method !== 'POST') throw new HttpError(405, `${req.method} is not allowed on ${path}; use POST`);
        const body = await readBody(req, maxBody);
        stats.requests++;
        const request = parseCompletionRequest(body, policy, options.modelName);
        const response = await complete(request);
        completionTokens.set(res, response.usage.completion_tokens);
        sendJson(res, 200, response);
        return;
      }
      throw new HttpError(404, `no route ${req.method ?? ''} ${path} (this server has GET /v1/models and POST /v1/completions)`, 'not_found_error');
    } catch (err) {
      const e = err instanceof HttpError ? err : err instanceof PrlError ? new HttpError(400, err.message) : new HttpError(500, `internal error: ${(err as Error).message}`, 'server_error');
      if (!res.headersSent) sendJson(res, e.status, { error: { message: e.message, type: e.type, param: e.param, code: null } });
      else res.destroy();
    }
  }

  async function complete(request: CompletionRequest): Promise<Record<string, unknown> & { usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number } }> {
    const created = Math.floor(Date.now() / 1000);
    // Echoed prompts are scored (teacher-forced) first; sampling goes through the batcher.
    const echoLogprobs = request.echo ? await policy.serialised(() => scoreSequences(policy.model, request.prompts.map((p) => p.ids))) : [];
    const jobs: GenerationJob[] = [];
    request.prompts.forEach((p, k) => {
      for (let j = 0; j < request.n; j++) jobs.push({ prompt: p.ids, maxTokens: request.maxTokens, rng: choiceRng(request.seed, k * request.n + j) });
    });
    const completions: IdCompletion[] = request.maxTokens === 0 ? jobs.map(() => ({ text: '', tokens: [], logprobs: [], offsets: [], finishReason: 'length' })) : await batcher.run(jobs, request.params);
    let completionTokens = 0;
    const choices = completions.map((c, index) => {
      completionTokens += c.tokens.length;
      const prompt = request.prompts[Math.floor(index / request.n)];
      return toChoice(index, prompt, c, request, request.echo ? echoLogprobs[Math.floor(index / request.n)] : []);
    });
    const promptTokens = request.prompts.reduce((s, p) => s + p.ids.length, 0);
    return {
      id: `cmpl-${created.toString(36)}${randomInt(1 << 30).toString(36)}`,
      object: 'text_completion',
      created,
      model: options.modelName,
      choices,
      usage: { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens },
    };
  }

  function toChoice(index: number, prompt: CompletionRequest['prompts'][number], c: IdCompletion, request: CompletionRequest, promptLogprobs: number[]): object {
    const tokenString = (id: number): string => (request.tokenIds ? `token_id:${id}` : policy.tokenizer.tokenText(id));
    const text = request.echo ? prompt.text + c.text : c.text;
    if (!request.logprobs) return { index, text, logprobs: null, finish_reason: c.finishReason };
    const tokens: string[] = [];
    const tokenLogprobs: Array<number | null> = [];
    const textOffset: number[] = [];
    if (request.echo) {
      const offsets = promptOffsets(prompt);
      prompt.ids.forEach((id, t) => {
        tokens.push(t === 0 && prompt.addedBos && !request.tokenIds ? '' : tokenString(id));
        tokenLogprobs.push(t === 0 ? null : promptLogprobs[t - 1]);
        textOffset.push(offsets[t]);
      });
    }
    const base = request.echo ? prompt.text.length : 0;
    c.tokens.forEach((id, t) => {
      tokens.push(tokenString(id));
      tokenLogprobs.push(c.logprobs[t]);
      textOffset.push(base + c.offsets[t]);
    });
    return { index, text, logprobs: { tokens, token_logprobs: tokenLogprobs, text_offset: textOffset, top_logprobs: null }, finish_reason: c.finishReason };
  }

  /** Where each prompt token starts in the prompt text (an added BOS at 0). */
  function promptOffsets(prompt: CompletionRequest['prompts'][number]): number[] {
    if (prompt.fromText) return [...(prompt.addedBos ? [0] : []), ...policy.tokenizer.encode(prompt.text).offsets];
    return prefixDecodeOffsets(prompt.text, prompt.ids, (ids) => policy.tokenizer.decode(ids));
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(new PrlError(`cannot listen on ${options.host ?? '127.0.0.1'}:${options.port ?? 0} (${err.code === 'EADDRINUSE' ? 'address already in use' : err.message})`)),
    );
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${host}:${address.port}/v1`,
    port: address.port,
    stats,
    close() {
      closing ??= (async () => {
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        await Promise.all([...inFlight]);
        server.closeAllConnections();
        await stopped;
      })();
      return closing;
    },
  };
}

function sendJson(res: http.ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function readBody(req: http.IncomingMessage, maxBytes: number): Promise<unknown> {
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

/** Checks every field of a completions body; an error names the field (`param`). */
export function parseCompletionRequest(body: unknown, policy: EnginePolicy, modelName: string): CompletionRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new HttpError(400, 'the body must be a JSON object');
  const b = body as Record<string, unknown>;
  const bad = (param: string, problem: string): never => {
    throw new HttpError(400, `${param}: ${problem}`, 'invalid_request_error', param);
  };
  if (b.model !== undefined && b.model !== modelName) {
    throw new HttpError(404, `model ${describeValue(b.model)} is not served here; available: ${modelName}`, 'invalid_request_error', 'model');
  }
  if (b.stream === true) bad('stream', 'streaming is not supported');
  const int = (name: string, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number => {
    const v = b[name] ?? fallback;
    if (!(typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max)) bad(name, `must be an integer in [${min}, ${max}], got ${describeValue(v)}`);
    return v as number;
  };
  const num = (name: string, fallback: number, ok: (v: number) => boolean, range: string): number => {
    const v = b[name] ?? fallback;
    if (!(typeof v === 'number' && Number.isFinite(v) && ok(v))) bad(name, `must be a number ${range}, got ${describeValue(v)}`);
    return v as number;
  };
  const bool = (name: string): boolean => {
    const v = b[name] ?? false;
    if (typeof v !== 'boolean') bad(name, `must be true or false, got ${describeValue(v)}`);
    return v as boolean;
  };

  const n = int('n', 1, 1, 128);
  const maxTokens = int('max_tokens', 16, 0);
  const temperature = num('temperature', 1, (v) => v >= 0, '>= 0');
  const topP = num('top_p', 1, (v) => v > 0 && v <= 1, 'in (0, 1]');
  const topKRaw = int('top_k', 0, -1);
  const seed = b.seed === undefined || b.seed === null ? randomInt(2 ** 31) : int('seed', 0, 0, 2 ** 53);
  const logprobsRaw = b.logprobs === undefined || b.logprobs === null ? null : int('logprobs', 0, 0, 20);
  const echo = bool('echo');
  const tokenIds = bool('return_tokens_as_token_ids');
  let stop: string[] = [];
  if (typeof b.stop === 'string') stop = [b.stop];
  else if (Array.isArray(b.stop) && b.stop.every((s) => typeof s === 'string')) stop = b.stop as string[];
  else if (b.stop !== undefined && b.stop !== null) bad('stop', 'must be a string or a list of strings');
  if (stop.length > 16) bad('stop', `at most 16 stop strings, got ${stop.length}`);

  // prompt: "text" | ["text", ...] | [ids] | [[ids], ...]
  const raw = b.prompt;
  let list: unknown[];
  if (typeof raw === 'string') list = [raw];
  else if (Array.isArray(raw) && raw.length > 0 && raw.every((x) => typeof x === 'number')) list = [raw];
  else if (Array.isArray(raw) && raw.length > 0) list = raw;
  else return bad('prompt', 'must be a string, a list of token ids, or a non-empty list of either');
  const vocab = policy.vocabSize;
  const maxPositions = policy.model.config.maxPositionEmbeddings;
  const prompts = list.map((p, k) => {
    const where = list.length === 1 && p === raw ? 'prompt' : `prompt[${k}]`;
    if (typeof p !== 'string' && !(Array.isArray(p) && p.every((x) => typeof x === 'number'))) bad(where, 'must be a string or a list of token ids');
    let ids: number[];
    try {
      ids = encodePrompt(policy.tokenizer, vocab, p as string | number[], where);
    } catch (err) {
      throw new HttpError(400, (err as Error).message, 'invalid_request_error', 'prompt');
    }
    if (ids.length + maxTokens > maxPositions) bad('max_tokens', `${where} has ${ids.length} tokens; with max_tokens ${maxTokens} that exceeds the model's ${maxPositions} positions`);
    const addedBos = typeof p === 'string' && policy.tokenizer.bosId !== undefined;
    return { ids, text: typeof p === 'string' ? p : policy.tokenizer.decode(ids), fromText: typeof p === 'string', addedBos };
  });
  if (prompts.length * n > 1024) bad('n', `${prompts.length} prompts x n ${n} exceed 1024 choices`);
  return {
    prompts,
    n,
    maxTokens,
    params: { temperature, topP, topK: topKRaw < 0 ? 0 : topKRaw, stop },
    seed,
    logprobs: logprobsRaw !== null,
    echo,
    tokenIds,
  };
}

/**
 * Gathers sequences from concurrent requests into generate calls: the first arrival opens a window
 * of `windowMs`; when it closes, everything pending runs, grouped by sampling settings, at most
 * `maxSequences` per call. Requests that arrive while a batch runs wait for the next window.
 */
class Batcher {
  readonly stats: ServerStats = { requests: 0, batches: 0, sequences: 0, completionTokens: 0 };
  private pending: Array<{ jobs: GenerationJob[]; params: GenerationParams; resolve: (c: IdCompletion[]) => void; reject: (e: unknown) => void }> = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly policy: EnginePolicy,
    private readonly windowMs: number,
    private readonly maxSequences: number,
  ) {}

  run(jobs: GenerationJob[], params: GenerationParams): Promise<IdCompletion[]> {
    return new Promise((resolve, reject) => {
      this.pending.push({ jobs, params, resolve, reject });
      this.timer ??= setTimeout(() => this.flush(), this.windowMs);
    });
  }

  private flush(): void {
    this.timer = undefined;
    const taken = this.pending;
    this.pending = [];
    const groups = new Map<string, typeof taken>();
    for (const entry of taken) {
      const key = JSON.stringify(entry.params);
      groups.set(key, [...(groups.get(key) ?? []), entry]);
    }
    for (const group of groups.values()) {
      void this.policy
        .serialised(() => {
          const flat = group.flatMap((e) => e.jobs);
          const out: IdCompletion[] = [];
          for (let start = 0; start < flat.length; start += this.maxSequences) {
            const slice = flat.slice(start, start + this.maxSequences);
            out.push(...generateCompletions(this.policy.model, this.policy.tokenizer, slice, group[0].params));
            this.stats.batches++;
            this.stats.sequences += slice.length;
          }
          return out;
        })
        .then(
          (out) => {
            let at = 0;
            for (const entry of group) {
              const mine = out.slice(at, at + entry.jobs.length);
              at += entry.jobs.length;
              this.stats.completionTokens += mine.reduce((s, c) => s + c.tokens.length, 0);
              entry.resolve(mine);
            }
          },
          (err: unknown) => group.forEach((e) => e.reject(err)),
        );
    }
  }
}
