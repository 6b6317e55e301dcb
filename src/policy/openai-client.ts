/**
 * The HTTP side of the OpenAI-compatible policy: one logical request becomes attempts against
 * several base URLs, under a concurrency limit, with retries (exponential backoff with seeded
 * jitter, honouring Retry-After) on 429/5xx/timeouts/network errors, least-loaded URL choice and
 * failover. It knows nothing of completions: the policy (openai.ts) builds bodies and reads answers.
 * The API key lives only in closures, so it never shows in a message, a log line or util.inspect.
 */
import { PrlError, PromptError } from '../util/errors.js';
import { Rng } from '../util/rng.js';

/** What the client needs of the policy's settings (see OpenAiPolicyOptions for each). */
export interface OpenAiClientSettings {
  apiKeyEnv: string;
  concurrency: number;
  timeoutMs: number;
  retries: number;
  backoffMs: number;
  maxBackoffMs: number;
  maxRetryAfterMs: number;
  downCooldownMs: number;
}

/** How one call picks its URL. */
export interface Route {
  /** Only this URL (no failover). */
  endpoint?: Endpoint;
  /** Give up at the first failed connection instead of retrying. */
  failFastOnConnect?: boolean;
  /** Told the URL of each attempt, so answers can name the server that gave them. */
  onEndpoint?: (endpoint: Endpoint) => void;
}

/** One base URL and what we know of its load and health. */
export interface Endpoint {
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

export class OpenAiClient {
  readonly endpoints: Endpoint[];
  private nextEndpoint = 0;
  private readonly semaphore: Semaphore;
  private readonly closing = new AbortController();
  private readonly jitter: Rng;
  // Closures rather than fields so that the key never shows in util.inspect or JSON.stringify.
  private readonly authorise: (headers: Record<string, string>) => void;
  /** Replaces the API key by *** in a message before it leaves the client. */
  readonly redact: (text: string) => string;

  /** `name` prefixes the "policy closed" messages; `apiKey` goes only into the Authorization header. */
  constructor(
    urls: readonly string[],
    private readonly name: string,
    private readonly settings: OpenAiClientSettings,
    apiKey: string | undefined,
    jitterSeed: number,
  ) {
    this.endpoints = urls.map((url) => ({ url, name: `openai:${url}`, inFlight: 0, downUntil: 0, answered: false }));
    this.semaphore = new Semaphore(settings.concurrency);
    this.jitter = new Rng(jitterSeed);
    this.authorise = (headers) => {
      if (apiKey !== undefined && apiKey !== '') headers.authorization = `Bearer ${apiKey}`;
    };
    this.redact = (text) => (apiKey !== undefined && apiKey.length >= 4 ? text.split(apiKey).join('***') : text);
  }

  /** Aborts requests in flight and waiting ones; later calls fail with "policy closed". */
  close(): void {
    if (this.closing.signal.aborted) return;
    this.closing.abort();
    this.semaphore.rejectAll(new PrlError(`${this.name}: policy closed`));
  }

  /** Passes over `endpoint` for the down cooldown (it did not answer at start). */
  markDown(endpoint: Endpoint): void {
    endpoint.downUntil = Date.now() + this.settings.downCooldownMs;
  }

  /** One call that also says which URL gave the answer (for messages about it). */
  async callWithEndpoint(method: string, path: string, body: unknown): Promise<{ json: unknown; endpoint: Endpoint }> {
    let used: Endpoint | undefined;
    const json = await this.call(method, path, body, { onEndpoint: (e) => (used = e) });
    return { json, endpoint: used! };
  }

  /**
   * One logical request with retries. Each attempt takes a concurrency permit and the least
   * loaded healthy URL (round-robin among equals), avoiding the one that just failed.
   */
  async call(
    method: string,
    path: string,
    body: unknown,
    route: Route,
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
