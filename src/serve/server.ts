/**
 * `prl serve`: an OpenAI/vLLM-compatible HTTP server over prl's engine (the `engine:` policy's face), so
 * that every `openai:` consumer, OpenAI's clients and vLLM-style clients can use a prl model.
 *
 *   GET  /v1/models               the served model, and the loaded LoRA adapters (`parent`: the model)
 *   POST /v1/completions          legacy completions: prompt (text, ids, or a list of either), n,
 *                                 temperature, top_p, top_k, max_tokens, stop, seed, logprobs (k),
 *                                 echo, return_tokens_as_token_ids, stream, stream_options
 *   POST /v1/chat/completions     messages rendered with the folder's chat template; logprobs,
 *                                 top_logprobs, max_completion_tokens, the rest as above
 *   POST /v1/load_lora_adapter    with `enableLora`: vLLM's runtime LoRA API (./adapters.ts)
 *   POST /v1/unload_lora_adapter
 *
 * `"model"` picks the base (its name, or absent) or a loaded adapter; anything else is vLLM's 404.
 *
 * Concurrent requests are batched: sequences arriving within `batchWindowMs` of each other (and those
 * that arrived while a batch ran) go into ONE `generate` call per adapter and set of sampling settings.
 * The adapter is attached for that call and detached after it, in the policy's queue, so calls never
 * see each other's adapter. Every choice draws from its own stream (`choiceRng(seed, choice)`), so
 * batching never changes a seeded result, and a request seeded with `promptSeed(s, i)` gives what
 * `engine:` gives prompt i of a batch seeded with s.
 *
 * Wire conventions: `text_offset` counts within the returned `text` (which starts with the prompt under
 * `echo`); log-probs are the model's at temperature 1 without top-k/top-p (what RL importance weights
 * need), the first echoed token's is null; token strings are the tokenizer's token texts, except the BOS
 * that the server puts in front of a text prompt, which is not part of the prompt text and is reported
 * as "". Streams are cut from the finished answer (the engine runs a batch to its end before answering).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomInt } from 'node:crypto';
import type { Template } from '@huggingface/jinja';
import type { LoraAdapter } from '../engine/lora.js';
import { scoreSequences } from '../engine/sampler.js';
import { prefixDecodeOffsets } from '../engine/tokenizer.js';
import type { EnginePolicy, GenerationJob, IdCompletion } from '../policy/engine.js';
import { choiceRng } from '../policy/seeds.js';
import { PrlError, describeValue } from '../util/errors.js';
import { AdapterRegistry, type AdapterLimits } from './adapters.js';
import { Batcher, type ServerStats } from './batcher.js';
import { HttpError, asObject, errorBody, readBody, sendEvents, sendJson, sendText } from './http.js';
import { topLogprobs } from './logprobs.js';
import { compileChatTemplate, parseChatRequest, parseCompletionRequest, type GenerationRequest, type PromptInfo } from './requests.js';
import { chatChunks, chatResponse, completionChunks, completionResponse, type AnswerContext, type ChoiceResult } from './responses.js';

export type { ServerStats } from './batcher.js';

export interface ServeOptions {
  /** Interface to bind; loopback unless told otherwise. */
  host?: string;
  /** 0 = any free port. */
  port?: number;
  /** The model id served at /v1/models (default: the folder's base name). */
  modelName: string;
  /** Where the model came from, listed as `root` in /v1/models. */
  modelPath?: string;
  /** How long the first request of a batch waits for others. */
  batchWindowMs?: number;
  /** Most sequences in one generate call. */
  maxBatchSequences?: number;
  /** Largest request body accepted. */
  maxBodyBytes?: number;
  /** vLLM's runtime LoRA API (`--enable-lora`), with its limits. */
  lora?: AdapterLimits;
  /** One line per request: method, path, status, completion tokens, milliseconds (never a header or body). */
  log?: (line: string) => void;
}

export interface CompletionServer {
  /** Base URL ending in /v1. */
  url: string;
  port: number;
  stats: ServerStats;
  /** The runtime adapters (with `lora`), e.g. to watch its slots. */
  adapters: AdapterRegistry | undefined;
  /** Stops accepting connections, lets requests in flight finish, then closes idle connections. */
  close(): Promise<void>;
}

const LORA_OFF = 'runtime LoRA loading is off: start prl serve with --enable-lora (vLLM: --enable-lora and VLLM_ALLOW_RUNTIME_LORA_UPDATING=True)';

/** Starts the server; resolves once it listens. */
export async function startCompletionServer(policy: EnginePolicy, options: ServeOptions): Promise<CompletionServer> {
  const maxBody = options.maxBodyBytes ?? 8 << 20;
  const model = policy.model;
  // The adapter the policy was opened with (`--adapter`) is the served base; runtime adapters replace it.
  const baseAdapter = model.adapter;
  const adapters = options.lora ? new AdapterRegistry(model, options.lora, Math.max(options.lora.maxLoraRank, baseAdapter?.config.rank ?? 0)) : undefined;
  const chatTemplate: Template | undefined = compileChatTemplate(policy.tokenizer.chatTemplate);

  /** Runs `work` in the policy's queue with adapter `name` attached (null: the base), restoring the base after. */
  const runWithAdapter = <T>(name: string | null, work: () => T): Promise<T> =>
    policy.serialised(() => {
      const adapter = name === null ? baseAdapter : adapters?.get(name);
      if (adapter === undefined) throw modelNotFound(name ?? '');
      attach(adapter);
      try {
        return work();
      } finally {
        attach(baseAdapter);
      }
    });
  const attach = (adapter: LoraAdapter | null): void => {
    if (adapter === model.adapter) return;
    if (adapter) model.attachAdapter(adapter);
    else model.detachAdapter();
  };

  const batcher = new Batcher(policy, runWithAdapter, options.batchWindowMs ?? 5, options.maxBatchSequences ?? 64);
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
      const path = (req.url ?? '/').split('?')[0].replace(/\/+$/, '').replace(/^(?!\/v1\/)/, '/v1');
      const method = (allowed: string): void => {
        if (req.method !== allowed) throw new HttpError(405, `${req.method} is not allowed on ${path}; use ${allowed}`, 'Method Not Allowed');
      };
      if (path === '/v1/models') {
        method('GET');
        sendJson(res, 200, modelList());
        return;
      }
      if (path === '/v1/load_lora_adapter' || path === '/v1/unload_lora_adapter') {
        // vLLM does not register these routes without runtime LoRA updating: its 404 "Not Found".
        if (!adapters) throw new HttpError(404, `Not Found: ${path} (${LORA_OFF})`, 'Not Found');
        method('POST');
        const body = asObject(await readBody(req, maxBody));
        sendText(res, 200, await (path === '/v1/load_lora_adapter' ? loadAdapter(adapters, body) : unloadAdapter(adapters, body)));
        return;
      }
      if (path === '/v1/completions' || path === '/v1/chat/completions') {
        method('POST');
        const body = await readBody(req, maxBody);
        stats.requests++;
        const chat = path === '/v1/chat/completions';
        const adapter = resolveModel(body);
        const request = chat ? parseChatRequest(body, policy, chatTemplate) : parseCompletionRequest(body, policy);
        const results = await generate(request, adapter);
        const ctx: AnswerContext = { id: `${chat ? 'chatcmpl' : 'cmpl'}-${randomId()}`, created: Math.floor(Date.now() / 1000), model: adapter ?? options.modelName, request, tokenizer: policy.tokenizer };
        completionTokens.set(res, results.reduce((s, r) => s + r.completion.tokens.length, 0));
        if (request.stream) sendEvents(res, chat ? chatChunks(ctx, results) : completionChunks(ctx, results));
        else sendJson(res, 200, chat ? chatResponse(ctx, results) : completionResponse(ctx, results));
        return;
      }
      throw new HttpError(404, `Not Found: no route ${req.method ?? ''} ${path} (this server has GET /v1/models, POST /v1/completions, /v1/chat/completions${adapters ? ', /v1/load_lora_adapter, /v1/unload_lora_adapter' : ''})`, 'Not Found');
    } catch (err) {
      const e = err instanceof HttpError ? err : err instanceof PrlError ? new HttpError(400, err.message) : new HttpError(500, `internal error: ${(err as Error).message}`, 'InternalServerError');
      if (!res.headersSent) sendJson(res, e.status, errorBody(e));
      else res.destroy();
    }
  }

  function modelList(): object {
    const base = { id: options.modelName, object: 'model', created: 0, owned_by: 'prl', root: options.modelPath ?? options.modelName, parent: null, max_model_len: model.config.maxPositionEmbeddings };
    const loaded = (adapters?.cards(options.modelName) ?? []).map((c) => ({ id: c.id, object: 'model', created: 0, owned_by: 'prl', root: c.root, parent: c.parent, max_model_len: null }));
    return { object: 'list', data: [base, ...loaded] };
  }

  /** The adapter a body's `"model"` names (null: the base); vLLM's 404 for anything else. */
  function resolveModel(body: unknown): string | null {
    const name = typeof body === 'object' && body !== null ? (body as Record<string, unknown>).model : undefined;
    if (name === undefined || name === null || name === options.modelName) return null;
    if (typeof name === 'string' && adapters?.get(name)) return name;
    throw modelNotFound(typeof name === 'string' ? name : describeValue(name));
  }

  async function loadAdapter(registry: AdapterRegistry, body: Record<string, unknown>): Promise<string> {
    const { lora_name: name, lora_path: path } = body;
    if (typeof name !== 'string' || typeof path !== 'string' || name === '' || path === '') {
      throw new HttpError(400, "Both 'lora_name' and 'lora_path' must be provided.", 'InvalidUserInput');
    }
    if (name === options.modelName) throw new HttpError(400, `The lora adapter name '${name}' conflicts with the served base model.`, 'InvalidUserInput', 'lora_name');
    const inplace = body.load_inplace ?? false;
    if (typeof inplace !== 'boolean') throw new HttpError(400, `load_inplace: must be true or false, got ${describeValue(inplace)}`, 'BadRequestError', 'load_inplace');
    // In the policy's queue: no generate call runs while slots change.
    return policy.serialised(() => registry.load(name, path, inplace));
  }

  async function unloadAdapter(registry: AdapterRegistry, body: Record<string, unknown>): Promise<string> {
    const name = body.lora_name;
    if (typeof name !== 'string' || name === '') throw new HttpError(400, "'lora_name' needs to be provided to unload a LoRA adapter.", 'InvalidUserInput');
    return policy.serialised(() => registry.unload(name));
  }

  /** Samples every choice through the batcher, then the log-prob extras (echo scoring, top-k) with the same adapter. */
  async function generate(request: GenerationRequest, adapter: string | null): Promise<ChoiceResult[]> {
    const jobs: GenerationJob[] = [];
    request.prompts.forEach((p, k) => {
      for (let j = 0; j < request.n; j++) jobs.push({ prompt: p.ids, maxTokens: request.maxTokens, rng: choiceRng(request.seed, k * request.n + j) });
    });
    const completions: IdCompletion[] =
      request.maxTokens === 0 ? jobs.map(() => ({ text: '', tokens: [], logprobs: [], offsets: [], finishReason: 'length' })) : await batcher.run(jobs, request.params, adapter);
    const promptOf = (index: number): PromptInfo => request.prompts[Math.floor(index / request.n)];
    const k = request.logprobs ?? 0;
    if (!request.echo && k === 0) return completions.map((completion, i) => ({ prompt: promptOf(i), completion, promptLogprobs: [], promptTop: [], completionTop: [], promptOffsets: [] }));
    return runWithAdapter(adapter, () => {
      const echoLogprobs = request.echo ? scoreSequences(model, request.prompts.map((p) => p.ids)) : [];
      return completions.map((completion, i) => {
        const prompt = promptOf(i);
        const from = request.echo ? 1 : prompt.ids.length;
        const top = k > 0 ? topLogprobs(model, [...prompt.ids, ...completion.tokens], from, k) : [];
        const echoed = request.echo ? prompt.ids.length - 1 : 0;
        return {
          prompt,
          completion,
          promptLogprobs: request.echo ? echoLogprobs[Math.floor(i / request.n)] : [],
          promptTop: top.slice(0, echoed),
          completionTop: top.slice(echoed),
          promptOffsets: request.echo ? promptOffsets(prompt) : [],
        };
      });
    });
  }

  /** Where each prompt token starts in the prompt text (an added BOS at 0). */
  function promptOffsets(prompt: PromptInfo): number[] {
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
    adapters,
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

/** vLLM's answer to a `"model"` it does not serve. */
function modelNotFound(name: string): HttpError {
  return new HttpError(404, `The model \`${name}\` does not exist.`, 'NotFoundError', 'model');
}

function randomId(): string {
  return `${Date.now().toString(36)}${randomInt(1 << 30).toString(36)}`;
}
