/**
 * A fake OpenAI-compatible completions server on 127.0.0.1 for tests: GET /v1/models and
 * POST /v1/completions with legacy logprobs, echo, n, seed, stop, top_p/top_k, and vLLM's
 * `return_tokens_as_token_ids`. Its "model" is a fixed bigram table over a small vocabulary with
 * byte tokens (so "é" is two tokens that each decode to U+FFFD, as with Llama tokenizers), and it
 * reports `text_offset` the way vLLM does (running sum of tokens decoded alone), so the client's
 * offset repair is exercised.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Rng } from '../../src/util/rng.js';

export const BOS = 0;
export const EOS = 1;
const BYTE0 = 2; // ids 2..257 are the bytes 0x00..0xff
const WORDS = ['the', ' the', 'Step', ' step', '\n\n', 'ing', '12'];

/** The fake model: vocabulary, tokenizer and bigram log-probs, usable by tests as a reference. */
export class FakeModel {
  readonly pieces: string[] = ['<s>', '</s>'];
  private readonly pieceIds = new Map<string, number>();
  private readonly logprobCache = new Map<number, Float64Array>();

  constructor() {
    for (let b = 0; b < 256; b++) this.pieces.push(`<0x${b.toString(16).padStart(2, '0').toUpperCase()}>`);
    for (let c = 32; c < 127; c++) this.addPiece(String.fromCharCode(c));
    this.addPiece('\n');
    for (const word of WORDS) this.addPiece(word);
  }

  get vocabSize(): number {
    return this.pieces.length;
  }

  /** Greedy longest match over pieces; characters outside them become UTF-8 byte tokens. */
  tokenize(text: string): number[] {
    const ids: number[] = [];
    let p = 0;
    while (p < text.length) {
      const word = [...WORDS].sort((a, b) => b.length - a.length).find((w) => text.startsWith(w, p));
      if (word !== undefined) {
        ids.push(this.pieceIds.get(word)!);
        p += word.length;
        continue;
      }
      const char = String.fromCodePoint(text.codePointAt(p)!);
      const id = this.pieceIds.get(char);
      if (id !== undefined) ids.push(id);
      else for (const byte of Buffer.from(char, 'utf8')) ids.push(BYTE0 + byte);
      p += char.length;
    }
    return ids;
  }

  /** Text of a token sequence: special tokens dropped, byte runs decoded as UTF-8. */
  decode(ids: readonly number[]): string {
    let out = '';
    let bytes: number[] = [];
    const flush = (): void => {
      if (bytes.length > 0) out += Buffer.from(bytes).toString('utf8');
      bytes = [];
    };
    for (const id of ids) {
      if (id >= BYTE0 && id < BYTE0 + 256) {
        bytes.push(id - BYTE0);
        continue;
      }
      flush();
      if (id !== BOS && id !== EOS) out += this.pieces[id];
    }
    flush();
    return out;
  }

  /** One token decoded alone, as vLLM reports it in `logprobs.tokens`. */
  tokenString(id: number): string {
    if (id === BOS || id === EOS) return this.pieces[id];
    return this.decode([id]);
  }

  /** log p(next | previous) for every next token: a fixed pseudo-random bigram table. */
  logprobs(previous: number): Float64Array {
    let row = this.logprobCache.get(previous);
    if (row !== undefined) return row;
    const logits = new Float64Array(this.vocabSize);
    for (let next = 0; next < this.vocabSize; next++) {
      let logit = (hash(previous * 7919 + next * 104729 + 12345) % 1000) / 1000 * 3;
      if (next === BOS) logit = -1e9;
      else if (next === EOS) logit -= 2.5;
      // Byte tokens of ASCII never win (as in trained models: the tokenizer never emits them).
      else if (next >= BYTE0 && next < BYTE0 + 0x80) logit = -1e9;
      else if (next >= BYTE0 && next < BYTE0 + 256) logit -= next === BYTE0 + 0xc3 ? 0.5 : 6;
      if (this.pieces[next] === '\n') logit += 1.5;
      if (previous === BYTE0 + 0xc3 && next === BYTE0 + 0xa9) logit += 15;
      logits[next] = logit;
    }
    let max = -Infinity;
    for (const l of logits) max = Math.max(max, l);
    let sum = 0;
    for (const l of logits) sum += Math.exp(l - max);
    const logZ = max + Math.log(sum);
    row = logits.map((l) => l - logZ);
    this.logprobCache.set(previous, row);
    return row;
  }

  /** Draws the next token with temperature, top-k and top-p (0 temperature is greedy). */
  sampleNext(previous: number, rng: Rng, temperature: number, topP: number, topK: number): number {
    const row = this.logprobs(previous);
    const order = Array.from(row.keys()).sort((a, b) => row[b] - row[a] || a - b);
    if (temperature === 0) return order[0];
    let kept = order.slice(0, topK > 0 ? topK : order.length);
    const weights = kept.map((id) => Math.exp((row[id] - row[kept[0]]) / temperature));
    const total = weights.reduce((a, b) => a + b, 0);
    let cumulative = 0;
    let cut = kept.length;
    for (let k = 0; k < kept.length; k++) {
      cumulative += weights[k] / total;
      if (cumulative >= topP) {
        cut = k + 1;
        break;
      }
    }
    kept = kept.slice(0, cut);
    const keptTotal = weights.slice(0, cut).reduce((a, b) => a + b, 0);
    let u = rng.next() * keptTotal;
    for (let k = 0; k < kept.length; k++) {
      u -= weights[k];
      if (u < 0) return kept[k];
    }
    return kept[kept.length - 1];
  }

  private addPiece(piece: string): void {
    this.pieceIds.set(piece, this.pieces.length);
    this.pieces.push(piece);
  }
}

function hash(x: number): number {
  let z = x >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
  return (z ^ (z >>> 16)) >>> 0;
}

export interface FakeOpenAiOptions {
  models?: string[];
  /** When set, requests must carry `Authorization: Bearer <apiKey>`. */
  apiKey?: string;
  /** A careless server that repeats the presented key in its 401 message. */
  echoKeyInErrors?: boolean;
  /** Latency of each completions request, so concurrency can be observed. */
  delayMs?: number;
  /** `openai`: non-echo text_offset counts from the start of the prompt (the legacy OpenAI API). */
  offsetStyle?: 'vllm' | 'openai';
  /** Leave `usage` out of responses. */
  omitUsage?: boolean;
  /** Replace a field of every completions response (to test malformed responses). */
  corrupt?: (response: Record<string, unknown>) => void;
}

export interface FakeOpenAiStats {
  requests: number;
  completions: number;
  inFlight: number;
  maxInFlight: number;
  authorizations: (string | undefined)[];
  bodies: Record<string, unknown>[];
}

export interface FakeOpenAiServer {
  /** Base URL, ending in /v1. */
  url: string;
  model: FakeModel;
  stats: FakeOpenAiStats;
  close(): Promise<void>;
}

/** Starts the fake on 127.0.0.1 (a free port). */
export async function startFakeOpenAi(options: FakeOpenAiOptions = {}): Promise<FakeOpenAiServer> {
  const model = new FakeModel();
  const models = options.models ?? ['fake-model'];
  const stats: FakeOpenAiStats = { requests: 0, completions: 0, inFlight: 0, maxInFlight: 0, authorizations: [], bodies: [] };
  const timers = new Set<NodeJS.Timeout>();

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      stats.requests++;
      stats.authorizations.push(req.headers.authorization);
      const send = (status: number, body: unknown): void => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      if (options.apiKey !== undefined && req.headers.authorization !== `Bearer ${options.apiKey}`) {
        const shown = options.echoKeyInErrors ? `Incorrect API key provided: ${req.headers.authorization ?? ''}` : 'invalid api key';
        return send(401, { error: { message: shown } });
      }
      if (req.method === 'GET' && req.url === '/v1/models') {
        return send(200, { object: 'list', data: models.map((id) => ({ id, object: 'model' })) });
      }
      if (req.method !== 'POST' || req.url !== '/v1/completions') return send(404, { error: { message: `no route ${req.url}` } });
      let body: Record<string, unknown>;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
      } catch {
        return send(400, { error: { message: 'body is not JSON' } });
      }
      stats.bodies.push(body);
      stats.completions++;
      stats.inFlight++;
      stats.maxInFlight = Math.max(stats.maxInFlight, stats.inFlight);
      const respond = (): void => {
        stats.inFlight--;
        if (res.destroyed) return;
        if (!models.includes(body.model as string)) {
          return send(404, { error: { message: `The model \`${String(body.model)}\` does not exist.` } });
        }
        try {
          const response = complete(model, body, options);
          options.corrupt?.(response);
          send(200, response);
        } catch (err) {
          send(400, { error: { message: (err as Error).message } });
        }
      };
      if (options.delayMs) {
        const timer = setTimeout(() => {
          timers.delete(timer);
          respond();
        }, options.delayMs);
        timers.add(timer);
      } else {
        respond();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    model,
    stats,
    close: () =>
      new Promise<void>((resolve) => {
        for (const timer of timers) clearTimeout(timer);
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The completions endpoint proper. */
function complete(model: FakeModel, body: Record<string, unknown>, options: FakeOpenAiOptions): Record<string, unknown> {
  const prompt = body.prompt;
  let promptIds: number[];
  let promptText: string;
  if (typeof prompt === 'string') {
    promptIds = [BOS, ...model.tokenize(prompt)];
    promptText = prompt;
  } else if (Array.isArray(prompt) && prompt.every((x) => Number.isInteger(x))) {
    promptIds = prompt as number[];
    promptText = model.decode(promptIds);
  } else {
    throw new Error('prompt must be a string or an array of token ids');
  }
  const n = (body.n as number | undefined) ?? 1;
  const maxTokens = (body.max_tokens as number | undefined) ?? 16;
  const temperature = (body.temperature as number | undefined) ?? 1;
  const topP = (body.top_p as number | undefined) ?? 1;
  const topK = (body.top_k as number | undefined) ?? -1;
  const stop = (body.stop as string[] | undefined) ?? [];
  const echo = body.echo === true;
  const asIds = body.return_tokens_as_token_ids === true;
  const rng = new Rng(typeof body.seed === 'number' ? body.seed : Math.floor(Math.random() * 2 ** 32));
  const show = (id: number): string => (asIds ? `token_id:${id}` : model.tokenString(id));

  const choices = [];
  let completionTokens = 0;
  for (let index = 0; index < n; index++) {
    const generated: number[] = [];
    let finish = 'length';
    let text = '';
    let previous = promptIds[promptIds.length - 1] ?? BOS;
    while (generated.length < maxTokens) {
      const next = model.sampleNext(previous, rng, temperature, topP, topK);
      generated.push(next);
      previous = next;
      if (next === EOS) {
        finish = 'stop';
        break;
      }
      text = model.decode(generated);
      const cut = Math.min(...stop.map((s) => text.indexOf(s)).filter((i) => i >= 0));
      if (Number.isFinite(cut)) {
        text = text.slice(0, cut);
        finish = 'stop';
        break;
      }
    }
    completionTokens += generated.length;
    const shown = echo ? [...promptIds, ...generated] : generated;
    const logprobs: (number | null)[] = [];
    const context = echo ? [] : [promptIds[promptIds.length - 1] ?? BOS];
    const all = [...context, ...shown];
    for (let k = context.length; k < all.length; k++) logprobs.push(k === 0 ? null : model.logprobs(all[k - 1])[all[k]]);
    // vLLM: running sum of the lengths of tokens decoded one by one.
    const textOffset: number[] = [];
    let offset = !echo && options.offsetStyle === 'openai' ? promptText.length : 0;
    for (const id of shown) {
      textOffset.push(offset);
      offset += model.tokenString(id).length;
    }
    choices.push({
      index,
      text: echo ? promptText + text : text,
      logprobs: { tokens: shown.map(show), token_logprobs: logprobs, text_offset: textOffset, top_logprobs: null },
      finish_reason: finish,
    });
  }
  const response: Record<string, unknown> = { id: 'cmpl-fake', object: 'text_completion', model: body.model, choices };
  if (!options.omitUsage) {
    response.usage = { prompt_tokens: promptIds.length, completion_tokens: completionTokens, total_tokens: promptIds.length + completionTokens };
  }
  return response;
}
