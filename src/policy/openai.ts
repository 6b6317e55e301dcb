/**
 * The OpenAI-compatible completions backend: vLLM, SGLang and llama.cpp's server, through the
 * legacy `/v1/completions` endpoint because it is the one that returns per-token log-probs of both
 * sampled tokens (`logprobs: 1`) and given text (`echo: true`), which PRL/PAV need.
 *
 * Robustness for long sampling runs: a concurrency limit, retries with exponential backoff and
 * jitter on 429/5xx/timeouts/network errors (honouring Retry-After), several base URLs with
 * least-loaded choice and failover. The API key is read from an environment variable, sent as a
 * Bearer token, and never put in a message, a log line or an inspectable field.
 */
import { PrlError, PromptError } from '../util/errors.js';
import { Rng } from '../util/rng.js';
import { alignTokenOffsets, normaliseServerOffsets } from './offsets.js';
import { promptSeed } from './seeds.js';
import type { OpenAiSpecOptions } from './spec.js';
import type {
  Completion,
  Policy,
  PolicyCapabilities,
  Prompt,
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

/** One base URL and what we know of its load and health. */
interface Endpoint {
  url: string;
  name: string; // `openai:URL`, the prefix of every message about it
  inFlight: number;
  downUntil: number;
  /** Whether it ever answered: a refusal from a server that answered before may be a restart, worth retrying. */
  answered: boolean;
}

/** A failed attempt, classified for the retry loop. Internal: callers see PrlError. */
class AttemptError extends Error {
  readonly retryable: boolean;
  /** No connection was made (the next URL can be tried at once). */
  readonly connectFailed: boolean;
  readonly retryAfterMs?: number;
  /** The server actively refused the connection (nothing listens there). */
  readonly refused: boolean;
  /** The server refused this prompt as too long for its context (vLLM, SGLang and llama.cpp answer 400). */
  readonly promptRejected: boolean;
  constructor(message: string, how: { retryable: boolean; connectFailed?: boolean; retryAfterMs?: number; refused?: boolean; status?: number }) {
    super(message);
    this.retryable = how.retryable;
    this.connectFailed = how.connectFailed ?? false;
    this.retryAfterMs = how.retryAfterMs;
    this.refused = how.refused ?? false;
    this.promptRejected = how.status === 400 && /context length|context window|maximum.*tokens|too long|exceeds.*context/i.test(message);
  }
}

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

/** A counting semaphore; waiters are served in arrival order. */
class Semaphore {
  private available: number;
  private readonly waiters: { resolve: () => void; reject: (err: Error) => void }[] = [];
  constructor(permits: number) {
    this.available = permits;
  }
  acquire(): Promise<void> {
    if (this.available > 0) {
      this.available--;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }
  release(): void {
    const next = this.waiters.shift();
    if (next) next.resolve();
    else this.available++;
  }
  rejectAll(err: Error): void {
    for (const waiter of this.waiters.splice(0)) waiter.reject(err);
  }
}

class OpenAiPolicy implements Policy {
  readonly name: string;
  readonly capabilities: PolicyCapabilities;
  private model = '';
  private readonly endpoints: Endpoint[];
  private nextEndpoint = 0;
  private readonly semaphore: Semaphore;
  private readonly closing = new AbortController();
  private readonly jitter: Rng;
  private readonly settings: Required<Omit<OpenAiPolicyOptions, 'model' | 'env' | 'urls' | 'tokenIds' | 'jitterSeed'>> & {
    tokenIds: boolean;
  };
  private readonly promptIds = new Map<string, Promise<number[]>>();
  // Closures rather than fields so that the key never shows in util.inspect or JSON.stringify.
  private readonly authorise: (headers: Record<string, string>) => void;
  private readonly redact: (text: string) => string;

  constructor(options: OpenAiPolicyOptions) {
    if (options.urls.length === 0) throw new PrlError('openai: no URL given');
    this.endpoints = options.urls.map((url) => ({ url, name: `openai:${url}`, inFlight: 0, downUntil: 0, answered: false }));
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
    this.semaphore = new Semaphore(this.settings.concurrency);
    this.jitter = new Rng(options.jitterSeed ?? 0);
    const key = (options.env ?? process.env)[this.settings.apiKeyEnv];
    this.authorise = (headers) => {
      if (key !== undefined && key !== '') headers.authorization = `Bearer ${key}`;
    };
    this.redact = (text) => (key !== undefined && key.length >= 4 ? text.split(key).join('***') : text);
  }

  /** GET /models on every URL: find the model, fail early on a wrong URL or model name. */
  async discover(): Promise<void> {
    const results = await Promise.allSettled(
      this.endpoints.map(async (endpoint) => ({
        endpoint,
        models: parseModelList(endpoint, await this.call('GET', '/models', undefined, { endpoint, failFastOnConnect: true })),
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
      if (result.status === 'rejected') this.endpoints[i].downUntil = Date.now() + this.settings.downCooldownMs;
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
        const { json, endpoint } = await this.callWithEndpoint('POST', '/completions', body);
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
    if (this.closing.signal.aborted) return;
    this.closing.abort();
    this.semaphore.rejectAll(new PrlError(`${this.name}: policy closed`));
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
    const { json, endpoint } = await this.callWithEndpoint('POST', '/completions', body);
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
      throw new PrlError(this.redact(`${endpoint.name}: malformed response from POST /completions: ${problem}`));
    };
  }

  private async callWithEndpoint(method: string, path: string, body: unknown): Promise<{ json: unknown; endpoint: Endpoint }> {
    let used: Endpoint | undefined;
    const json = await this.call(method, path, body, { onEndpoint: (e) => (used = e) });
    return { json, endpoint: used! };
  }

  /**
   * One logical request with retries. Each attempt takes a concurrency permit and the least
   * loaded healthy URL (round-robin among equals), avoiding the one that just failed.
   */
  private async call(
    method: string,
    path: string,
    body: unknown,
    route: { endpoint?: Endpoint; failFastOnConnect?: boolean; onEndpoint?: (endpoint: Endpoint) => void },
  ): Promise<unknown> {
    const attempts = this.settings.retries + 1;
    let lastFailed: Endpoint | undefined;
    const refusedUrls: string[] = [];
    for (let attempt = 1; ; attempt++) {
      this.throwIfClosed();
      const endpoint = route.endpoint ?? this.pickEndpoint(lastFailed);
      route.onEndpoint?.(endpoint);
      await this.semaphore.acquire();
      endpoint.inFlight++;
      let failure: AttemptError;
      try {
        return await this.attempt(endpoint, method, path, body);
      } catch (err) {
        if (!(err instanceof AttemptError)) throw err;
        failure = err;
      } finally {
        endpoint.inFlight--;
        this.semaphore.release();
      }
      if (failure.connectFailed) endpoint.downUntil = Date.now() + this.settings.downCooldownMs;
      if (failure.refused && !refusedUrls.includes(endpoint.url)) refusedUrls.push(endpoint.url);
      // A refused connection fails over at once when another URL is healthy; otherwise back off.
      const failOver = failure.connectFailed && route.endpoint === undefined && this.healthyOther(endpoint);
      if (attempt >= attempts || (!failure.retryable && !failOver) || (failure.connectFailed && route.failFastOnConnect)) {
        if (failure.refused) {
          const tries = attempt === 1 ? '' : ` (${attempt} attempts)`;
          throw new PrlError(this.redact(`connection refused: is a server running at ${refusedUrls.join(' or ')}?${tries}`));
        }
        const message = attempt === 1 ? failure.message : `${method} ${path} failed after ${attempt} attempts; last: ${failure.message}`;
        throw new (failure.promptRejected ? PromptError : PrlError)(this.redact(`${endpoint.name}: ${message}`));
      }
      lastFailed = endpoint;
      if (!failOver) await this.sleep(this.backoff(attempt, failure.retryAfterMs));
    }
  }

  private async attempt(endpoint: Endpoint, method: string, path: string, body: unknown): Promise<unknown> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    this.authorise(headers);
    const timeout = AbortSignal.timeout(this.settings.timeoutMs);
    const signal = AbortSignal.any([this.closing.signal, timeout]);
    let text: string;
    let status: number;
    let retryAfter: string | null;
    try {
      const response = await fetch(endpoint.url + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal,
      });
      status = response.status;
      endpoint.answered = true;
      retryAfter = response.headers.get('retry-after');
      text = await response.text();
    } catch (err) {
      this.throwIfClosed();
      if (timeout.aborted) throw new AttemptError(`${method} ${path} timed out after ${this.settings.timeoutMs} ms`, { retryable: true });
      const code = networkErrorCode(err);
      // Nothing listens there: retrying only delays the answer, unless the server answered before and may be restarting.
      if (code === 'ECONNREFUSED') throw new AttemptError('connection refused', { retryable: endpoint.answered, connectFailed: true, refused: true });
      if (code === 'ENOTFOUND' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH') {
        throw new AttemptError(`cannot connect (${code})`, { retryable: true, connectFailed: true });
      }
      throw new AttemptError(`${method} ${path}: connection dropped (${code ?? 'no code'})`, { retryable: true });
    }
    if (status < 200 || status >= 300) {
      const retryable = status === 408 || status === 429 || status >= 500;
      const hint = status === 401 || status === 403 ? ` (check $${this.settings.apiKeyEnv})` : '';
      const retryAfterMs = parseRetryAfter(retryAfter, this.settings.maxRetryAfterMs);
      throw new AttemptError(`${method} ${path}: HTTP ${status}${hint}: ${serverMessage(text)}`, { retryable, retryAfterMs, status });
    }
    try {
      return JSON.parse(text);
    } catch {
      throw new AttemptError(`malformed response from ${method} ${path}: not JSON (starts ${JSON.stringify(text.slice(0, 40))})`, { retryable: false });
    }
  }

  /** Least in-flight among healthy URLs, round-robin among equals; the failed one last. */
  private pickEndpoint(avoid: Endpoint | undefined): Endpoint {
    const now = Date.now();
    let candidates = this.endpoints.filter((e) => e.downUntil <= now && e !== avoid);
    if (candidates.length === 0) candidates = this.endpoints.filter((e) => e.downUntil <= now);
    if (candidates.length === 0) {
      // All down: try the one that comes back soonest rather than failing without asking.
      return this.endpoints.reduce((a, b) => (b.downUntil < a.downUntil ? b : a));
    }
    const least = Math.min(...candidates.map((e) => e.inFlight));
    const n = this.endpoints.length;
    for (let k = 0; k < n; k++) {
      const endpoint = this.endpoints[(this.nextEndpoint + k) % n];
      if (candidates.includes(endpoint) && endpoint.inFlight === least) {
        this.nextEndpoint = (this.endpoints.indexOf(endpoint) + 1) % n;
        return endpoint;
      }
    }
    return candidates[0];
  }

  private healthyOther(failed: Endpoint): boolean {
    const now = Date.now();
    return this.endpoints.some((e) => e !== failed && e.downUntil <= now);
  }

  /** min(max, base * 2^(attempt-1)) * U[0.5, 1), or Retry-After when the server asked for longer. */
  private backoff(attempt: number, retryAfterMs: number | undefined): number {
    const exponential = Math.min(this.settings.maxBackoffMs, this.settings.backoffMs * 2 ** (attempt - 1));
    const jittered = exponential * (0.5 + 0.5 * this.jitter.next());
    return Math.max(jittered, retryAfterMs ?? 0);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const signal = this.closing.signal;
      const onAbort = (): void => {
        clearTimeout(timer);
        reject(new PrlError(`${this.name}: policy closed`));
      };
      const timer = setTimeout(() => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  private throwIfClosed(): void {
    if (this.closing.signal.aborted) throw new PrlError(`${this.name}: policy closed`);
  }
}

/** A choice of the legacy completions response, checked field by field. */
interface WireChoice {
  index: number;
  text: string;
  finishReason: string | undefined;
  tokens: string[];
  logprobs: (number | null)[];
  textOffset: number[];
}

/** Checks `choices` and returns them ordered by `index`, exactly `n` of them. */
function parseChoices(json: unknown, malformed: (problem: string) => never, n: number): WireChoice[] {
  const choices = field(json, 'choices', malformed, '');
  if (!Array.isArray(choices)) malformed(`choices: expected an array, got ${kindOf(choices)}`);
  const list = choices as unknown[];
  if (list.length !== n) malformed(`choices: expected ${n} choices, got ${list.length}`);
  const ordered = new Array<WireChoice>(n);
  list.forEach((raw, position) => {
    const where = `choices[${position}]`;
    const index = (raw as { index?: unknown } | null)?.index ?? position;
    if (!Number.isInteger(index) || (index as number) < 0 || (index as number) >= n) malformed(`${where}.index: expected 0..${n - 1}, got ${String(index)}`);
    if (ordered[index as number] !== undefined) malformed(`${where}.index: ${String(index)} appears twice`);
    const text = field(raw, 'text', malformed, where);
    if (typeof text !== 'string') malformed(`${where}.text: expected a string, got ${kindOf(text)}`);
    const finish = (raw as { finish_reason?: unknown }).finish_reason;
    if (finish !== undefined && finish !== null && typeof finish !== 'string') malformed(`${where}.finish_reason: expected a string, got ${kindOf(finish)}`);
    const logprobs = field(raw, 'logprobs', malformed, where);
    const lpWhere = `${where}.logprobs`;
    const tokens = field(logprobs, 'tokens', malformed, lpWhere);
    const tokenLogprobs = field(logprobs, 'token_logprobs', malformed, lpWhere);
    const textOffset = field(logprobs, 'text_offset', malformed, lpWhere);
    if (!Array.isArray(tokens) || tokens.some((t) => typeof t !== 'string')) malformed(`${lpWhere}.tokens: expected an array of strings`);
    if (!Array.isArray(tokenLogprobs) || tokenLogprobs.some((x) => x !== null && (typeof x !== 'number' || Number.isNaN(x)))) {
      malformed(`${lpWhere}.token_logprobs: expected an array of numbers`);
    }
    if (!Array.isArray(textOffset) || textOffset.some((x) => !Number.isInteger(x))) malformed(`${lpWhere}.text_offset: expected an array of integers`);
    const count = (tokens as unknown[]).length;
    if ((tokenLogprobs as unknown[]).length !== count || (textOffset as unknown[]).length !== count) {
      malformed(`${lpWhere}: tokens, token_logprobs and text_offset differ in length (${count}, ${(tokenLogprobs as unknown[]).length}, ${(textOffset as unknown[]).length})`);
    }
    ordered[index as number] = {
      index: index as number,
      text: text as string,
      finishReason: (finish as string | null | undefined) ?? undefined,
      tokens: tokens as string[],
      logprobs: tokenLogprobs as (number | null)[],
      textOffset: textOffset as number[],
    };
  });
  return ordered;
}

function parseModelList(endpoint: Endpoint, json: unknown): string[] {
  const malformed = (problem: string): never => {
    throw new PrlError(`${endpoint.name}: malformed response from GET /models: ${problem}`);
  };
  const data = field(json, 'data', malformed, '');
  if (!Array.isArray(data)) malformed(`data: expected an array, got ${kindOf(data)}`);
  return (data as unknown[]).map((entry, i) => {
    const id = field(entry, 'id', malformed, `data[${i}]`);
    if (typeof id !== 'string') malformed(`data[${i}].id: expected a string, got ${kindOf(id)}`);
    return id as string;
  });
}

function field(value: unknown, name: string, malformed: (problem: string) => never, where: string): unknown {
  const path = where === '' ? name : `${where}.${name}`;
  if (value === null || typeof value !== 'object' || !(name in value)) malformed(`${path}: missing`);
  return (value as Record<string, unknown>)[name];
}

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value;
}

function promptTokensFromUsage(json: unknown): number | undefined {
  const usage = (json as { usage?: { prompt_tokens?: unknown } }).usage;
  const count = usage?.prompt_tokens;
  return Number.isInteger(count) && (count as number) >= 0 ? (count as number) : undefined;
}

function toWirePrompt(prompt: Prompt, where: string): string | number[] {
  if (typeof prompt === 'string') return prompt;
  return checkTokenIds(prompt, where);
}

function checkTokenIds(ids: unknown, where: string): number[] {
  if (!Array.isArray(ids) || ids.some((id) => !Number.isInteger(id) || id < 0)) {
    throw new PrlError(`${where}: expected text or an array of non-negative integer token ids`);
  }
  return [...(ids as number[])];
}

function validateSampleRequest(request: SampleRequest): void {
  const bad = (name: string, problem: string): never => {
    throw new PrlError(`sample: ${name}: ${problem}`);
  };
  if (!Array.isArray(request.prompts)) bad('prompts', 'expected an array');
  if (!Number.isInteger(request.n) || request.n < 1) bad('n', `expected an integer >= 1, got ${String(request.n)}`);
  if (!Number.isInteger(request.maxTokens) || request.maxTokens < 1) bad('maxTokens', `expected an integer >= 1, got ${String(request.maxTokens)}`);
  if (!(request.temperature >= 0) || !Number.isFinite(request.temperature)) bad('temperature', `expected a number >= 0, got ${String(request.temperature)}`);
  if (request.topP !== undefined && !(request.topP > 0 && request.topP <= 1)) bad('topP', `expected a number in (0, 1], got ${String(request.topP)}`);
  if (request.topK !== undefined && (!Number.isInteger(request.topK) || request.topK < 1)) bad('topK', `expected an integer >= 1, got ${String(request.topK)}`);
  if (request.seed !== undefined && !Number.isInteger(request.seed)) bad('seed', `expected an integer, got ${String(request.seed)}`);
  if (request.stop !== undefined && (!Array.isArray(request.stop) || request.stop.some((s) => typeof s !== 'string' || s === ''))) {
    bad('stop', 'expected an array of non-empty strings');
  }
}

/** The `code` of a fetch failure (undici nests it in `cause`, sometimes in an AggregateError). */
function networkErrorCode(err: unknown): string | undefined {
  let current: unknown = err;
  for (let depth = 0; depth < 4 && current !== null && typeof current === 'object'; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    const inner = (current as { errors?: unknown[] }).errors;
    if (Array.isArray(inner) && inner.length > 0) {
      current = inner[0];
      continue;
    }
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/** Retry-After in seconds or as an HTTP date, capped; undefined when absent or unreadable. */
function parseRetryAfter(header: string | null, maxMs: number): number | undefined {
  if (header === null) return undefined;
  const seconds = Number(header);
  const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(header) - Date.now();
  return Number.isFinite(ms) ? Math.min(maxMs, Math.max(0, ms)) : undefined;
}

/** The server's error message (JSON `error.message`, `message` or `detail`), clipped. */
export function serverMessage(body: string): string {
  let message = body;
  try {
    const json = JSON.parse(body) as { error?: { message?: unknown } | string; message?: unknown; detail?: unknown };
    const candidate = typeof json.error === 'object' ? json.error?.message : (json.error ?? json.message ?? json.detail);
    if (typeof candidate === 'string') message = candidate;
  } catch {
    // Not JSON: show the text itself.
  }
  message = message.trim().replace(/\s+/g, ' ');
  if (message === '') return '(empty body)';
  return message.length > 300 ? message.slice(0, 297) + '...' : message;
}
