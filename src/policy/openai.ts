/**
 * The OpenAI-compatible completions backend: vLLM, SGLang and llama.cpp's server, through the
 * legacy `/v1/completions` endpoint because it is the one that returns per-token log-probs of both
 * sampled tokens (`logprobs: 1`) and given text (`echo: true`), which PRL/PAV need.
 *
 * This file is the policy: it turns sample/score requests into completions bodies and the answers
 * into Completions and ScoredContinuations. Retries, failover and the concurrency limit are in
 * openai-client.ts; the wire checks in openai-wire.ts. The API key is read from an environment
 * variable, sent as a Bearer token, and never put in a message, a log line or an inspectable field.
 */
import { PrlError } from '../util/errors.js';
import { alignTokenOffsets, normaliseServerOffsets } from './offsets.js';
import { OpenAiClient, type Endpoint } from './openai-client.js';
import {
  checkTokenIds,
  parseChoices,
  parseModelList,
  promptTokensFromUsage,
  toWirePrompt,
  validateSampleRequest,
  type WireChoice,
} from './openai-wire.js';
import { promptSeed } from './seeds.js';
import type { OpenAiSpecOptions } from './spec.js';
import type {
  Completion,
  Policy,
  PolicyCapabilities,
  SampleRequest,
  ScoredContinuation,
  ScoreItem,
  ScoreRequest,
  TokenList,
} from './types.js';

export interface OpenAiPolicyOptions extends OpenAiSpecOptions {
  /** Base URLs, each ending where `/completions` and `/models` hang off (usually `.../v1`). */
  urls: readonly string[];
  /** Where the API key is looked up (default process.env). */
  env?: Readonly<Record<string, string | undefined>>;
  /** First retry delay; doubles each retry up to `maxBackoffMs`, times a jitter in [0.5, 1). */
  backoffMs?: number;
  maxBackoffMs?: number;
  /** Longest Retry-After honoured. */
  maxRetryAfterMs?: number;
  /** How long a URL that refused a connection is passed over before it is tried again. */
  downCooldownMs?: number;
  /** Seeds the retry jitter, so retry timing is reproducible. */
  jitterSeed?: number;
  /** Non-fatal notices (a URL down at start); default writes to stderr. */
  onWarning?: (message: string) => void;
}

const DEFAULTS = {
  apiKeyEnv: 'OPENAI_API_KEY',
  concurrency: 16,
  timeoutMs: 300_000,
  retries: 5,
  backoffMs: 500,
  maxBackoffMs: 30_000,
  maxRetryAfterMs: 60_000,
  downCooldownMs: 5_000,
  scoreMaxTokens: 1 as 0 | 1,
};

/**
 * Opens an OpenAI-compatible policy: checks the servers (GET /models), picks the model, and
 * returns a Policy. Fails with a PrlError naming the URL when no server answers or the model is
 * not served.
 */
export async function openOpenAiPolicy(options: OpenAiPolicyOptions): Promise<Policy> {
  const policy = new OpenAiPolicy(options);
  try {
    await policy.discover();
  } catch (err) {
    await policy.close();
    throw err;
  }
  return policy;
}

class OpenAiPolicy implements Policy {
  readonly name: string;
  readonly capabilities: PolicyCapabilities;
  private model = '';
  private readonly client: OpenAiClient;
  private readonly settings: Required<Omit<OpenAiPolicyOptions, 'model' | 'env' | 'urls' | 'tokenIds' | 'jitterSeed'>> & {
    tokenIds: boolean;
  };
  private readonly promptIds = new Map<string, Promise<number[]>>();

  constructor(options: OpenAiPolicyOptions) {
    if (options.urls.length === 0) throw new PrlError('openai: no URL given');
    this.name = `openai:${options.urls.join(',')}`;
    this.settings = {
      apiKeyEnv: options.apiKeyEnv ?? DEFAULTS.apiKeyEnv,
      concurrency: options.concurrency ?? DEFAULTS.concurrency,
      timeoutMs: options.timeoutMs ?? DEFAULTS.timeoutMs,
      retries: options.retries ?? DEFAULTS.retries,
      backoffMs: options.backoffMs ?? DEFAULTS.backoffMs,
      maxBackoffMs: options.maxBackoffMs ?? DEFAULTS.maxBackoffMs,
      maxRetryAfterMs: options.maxRetryAfterMs ?? DEFAULTS.maxRetryAfterMs,
      downCooldownMs: options.downCooldownMs ?? DEFAULTS.downCooldownMs,
      scoreMaxTokens: options.scoreMaxTokens ?? DEFAULTS.scoreMaxTokens,
      tokenIds: options.tokenIds ?? false,
      onWarning: options.onWarning ?? ((message) => process.stderr.write(`prl: warning: ${message}\n`)),
    };
    this.capabilities = { seed: true, tokenIds: this.settings.tokenIds, topK: true };
    this.model = options.model ?? '';
    const key = (options.env ?? process.env)[this.settings.apiKeyEnv];
    this.client = new OpenAiClient(options.urls, this.name, this.settings, key, options.jitterSeed ?? 0);
  }

  /** GET /models on every URL: find the model, fail early on a wrong URL or model name. */
  async discover(): Promise<void> {
    const results = await Promise.allSettled(
      this.client.endpoints.map(async (endpoint) => ({
        endpoint,
        models: parseModelList(endpoint, await this.client.call('GET', '/models', undefined, { endpoint, failFastOnConnect: true })),
      })),
    );
    const reachable = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const failures = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
    if (reachable.length === 0) throw failures[0];
    for (const failure of failures) {
      const message = failure instanceof Error ? failure.message : String(failure);
      if (!(failure instanceof PrlError) || !/connection refused|cannot connect|timed out|connection dropped/.test(message)) throw failure;
      this.settings.onWarning(`${message} (using the other servers)`);
    }
    for (const [i, result] of results.entries()) {
      if (result.status === 'rejected') this.client.markDown(this.client.endpoints[i]);
    }
    for (const { endpoint, models } of reachable) {
      if (this.model !== '') {
        if (!models.includes(this.model)) {
          throw new PrlError(
            `${endpoint.name}: model ${JSON.stringify(this.model)} is not served; available: ${models.join(', ') || '(none)'}`,
          );
        }
      } else if (models.length === 1) {
        this.model = models[0];
      } else {
        throw new PrlError(
          models.length === 0
            ? `${endpoint.name}: the server lists no models`
            : `${endpoint.name}: the server has several models (${models.join(', ')}); choose one with ?model=NAME`,
        );
      }
    }
  }

  async sample(request: SampleRequest): Promise<Completion[][]> {
    validateSampleRequest(request);
    return Promise.all(
      request.prompts.map(async (prompt, i) => {
        const body: Record<string, unknown> = {
          model: this.model,
          prompt: toWirePrompt(prompt, `sample: prompts[${i}]`),
          n: request.n,
          temperature: request.temperature,
          top_p: request.topP ?? 1,
          max_tokens: request.maxTokens,
          logprobs: 1,
          echo: false,
        };
        if (request.topK !== undefined) body.top_k = request.topK;
        if (request.stop !== undefined && request.stop.length > 0) body.stop = [...request.stop];
        if (request.seed !== undefined) body.seed = promptSeed(request.seed, i);
        if (this.settings.tokenIds) body.return_tokens_as_token_ids = true;
        const { json, endpoint } = await this.client.callWithEndpoint('POST', '/completions', body);
        const choices = parseChoices(json, this.malformed(endpoint), request.n);
        return choices.map((choice) => this.toCompletion(choice, request.maxTokens, endpoint));
      }),
    );
  }

  async score(request: ScoreRequest): Promise<ScoredContinuation[]> {
    if (!Array.isArray(request.items)) throw new PrlError('score: items must be an array');
    return Promise.all(request.items.map((item, i) => this.scoreOne(item, `score: items[${i}]`)));
  }

  async close(): Promise<void> {
    this.client.close();
  }

  private async scoreOne(item: ScoreItem, where: string): Promise<ScoredContinuation> {
    const { prompt, continuation } = item;
    if (typeof continuation === 'string') {
      if (typeof prompt !== 'string') {
        throw new PrlError(`${where}: a text continuation needs a text prompt (got token ids); pass ids for both`);
      }
      return this.scoreText(prompt, continuation, where);
    }
    checkTokenIds(continuation, `${where}.continuation`);
    const promptIds = typeof prompt === 'string' ? await this.tokenisePrompt(prompt, where) : checkTokenIds(prompt, `${where}.prompt`);
    return this.scoreIds(promptIds, [...continuation], where);
  }

  /** Teacher-forces text: echo prompt+continuation and keep the tokens past the prompt. */
  private async scoreText(prompt: string, continuation: string, where: string): Promise<ScoredContinuation> {
    const full = prompt + continuation;
    const echoed = await this.echo(full);
    const scored: ScoredContinuation = { tokens: [], logprobs: [], offsets: [], exactBoundary: true };
    for (let k = 0; k < echoed.count; k++) {
      const start = echoed.offsets[k];
      const end = echoed.strings ? start + echoed.strings[k].length : (echoed.offsets[k + 1] ?? full.length);
      if (start >= full.length || end <= prompt.length) continue;
      const logprob = echoed.logprobs[k];
      if (logprob === null) throw new PrlError(`${where}: the server gave no log-prob for the first token (add a prompt or BOS)`);
      if (start < prompt.length) scored.exactBoundary = false;
      (scored.tokens as (number | string)[]).push(echoed.tokens[k]);
      scored.logprobs.push(logprob);
      scored.offsets.push(Math.max(0, start - prompt.length));
    }
    return scored;
  }

  /** Teacher-forces ids: the echo of prompt+continuation has exactly those tokens first. */
  private async scoreIds(promptIds: number[], continuation: number[], where: string): Promise<ScoredContinuation> {
    if (continuation.length === 0) return { tokens: [], logprobs: [], offsets: [], exactBoundary: true };
    const echoed = await this.echo([...promptIds, ...continuation]);
    const expected = promptIds.length + continuation.length;
    if (echoed.count < expected) {
      throw new PrlError(`${echoed.endpoint.name}: echo returned ${echoed.count} prompt tokens for ${expected} ids (does the server support echo?)`);
    }
    const logprobs: number[] = [];
    for (let k = promptIds.length; k < expected; k++) {
      const logprob = echoed.logprobs[k];
      if (logprob === null) throw new PrlError(`${where}: the server gave no log-prob for the first token (add a prompt or BOS)`);
      logprobs.push(logprob);
    }
    const base = echoed.offsets[promptIds.length];
    const offsets = echoed.offsets.slice(promptIds.length, expected).map((o) => o - base);
    return { tokens: continuation, logprobs, offsets, exactBoundary: true };
  }

  /** The ids the server gives a text prompt (BOS included), through echo; needs tokenIds. */
  private tokenisePrompt(prompt: string, where: string): Promise<number[]> {
    if (!this.settings.tokenIds) {
      throw new PrlError(`${where}: scoring token ids after a text prompt needs tokenIds=true in the openai: spec`);
    }
    let ids = this.promptIds.get(prompt);
    if (ids === undefined) {
      ids = this.echo(prompt).then((echoed) => echoed.tokens.slice(0, echoed.count) as number[]);
      ids.catch(() => this.promptIds.delete(prompt));
      if (this.promptIds.size >= 1024) this.promptIds.delete(this.promptIds.keys().next().value!);
      this.promptIds.set(prompt, ids);
    }
    return ids;
  }

  /** One echo request: the prompt's tokens with their log-probs (first is null), offsets in the echoed text. */
  private async echo(prompt: string | number[]): Promise<{
    count: number;
    tokens: TokenList;
    strings: string[] | undefined;
    logprobs: (number | null)[];
    offsets: number[];
    endpoint: Endpoint;
  }> {
    const body: Record<string, unknown> = {
      model: this.model,
      prompt,
      n: 1,
      temperature: 1,
      max_tokens: this.settings.scoreMaxTokens,
      logprobs: 1,
      echo: true,
    };
    if (this.settings.tokenIds) body.return_tokens_as_token_ids = true;
    const { json, endpoint } = await this.client.callWithEndpoint('POST', '/completions', body);
    const malformed = this.malformed(endpoint);
    const [choice] = parseChoices(json, malformed, 1);
    const tokens = this.parseTokens(choice.tokens, malformed, 'choices[0].logprobs.tokens');
    const strings = typeof tokens[0] === 'string' ? (tokens as string[]) : undefined;
    const serverOffsets = normaliseServerOffsets(choice.textOffset, choice.text.length);
    const offsets = strings ? alignTokenOffsets(choice.text, strings, serverOffsets) : serverOffsets;
    // Echoed prompt tokens come first, then the scoreMaxTokens generated ones (no stop is set).
    const usagePrompt = promptTokensFromUsage(json);
    const count = usagePrompt !== undefined && usagePrompt <= tokens.length ? usagePrompt : tokens.length - this.settings.scoreMaxTokens;
    for (let k = 1; k < count; k++) {
      if (choice.logprobs[k] === null) malformed(`choices[0].logprobs.token_logprobs[${k}]: expected a number, got null`);
    }
    return { count, tokens, strings, logprobs: choice.logprobs, offsets, endpoint };
  }

  private toCompletion(choice: WireChoice, maxTokens: number, endpoint: Endpoint): Completion {
    const malformed = this.malformed(endpoint);
    const field = `choices[${choice.index}].logprobs`;
    const tokens = this.parseTokens(choice.tokens, malformed, `${field}.tokens`);
    const logprobs = choice.logprobs.map((lp, k) =>
      lp === null ? malformed(`${field}.token_logprobs[${k}]: expected a number, got null`) : lp,
    );
    const serverOffsets = normaliseServerOffsets(choice.textOffset, choice.text.length);
    const offsets = typeof tokens[0] === 'string' ? alignTokenOffsets(choice.text, tokens as string[], serverOffsets) : serverOffsets;
    const finishReason = choice.finishReason ?? (tokens.length >= maxTokens ? 'length' : 'stop');
    return { text: choice.text, tokens, logprobs, offsets, finishReason };
  }

  /** Token strings, or ids when `return_tokens_as_token_ids` ("token_id:N") was asked for. */
  private parseTokens(tokens: string[], malformed: (problem: string) => never, field: string): TokenList {
    if (!this.settings.tokenIds) return tokens;
    return tokens.map((token, k) => {
      const match = /^token_id:(\d+)$/.exec(token);
      if (!match) malformed(`${field}[${k}]: expected "token_id:N" (tokenIds=true; is this vLLM?), got ${JSON.stringify(token.slice(0, 20))}`);
      return Number(match![1]);
    });
  }

  private malformed(endpoint: Endpoint): (problem: string) => never {
    return (problem) => {
      throw new PrlError(this.client.redact(`${endpoint.name}: malformed response from POST /completions: ${problem}`));
    };
  }
}
