/**
 * One OpenAI-compatible inference server as the rollout fleet uses it: its model list, vLLM's and
 * SGLang's runtime LoRA routes, SGLang's full-weight reload, and token-id completions with the
 * sampled tokens' log-probs. Failures come back as `ServerFailure` (retry elsewhere) or PrlError
 * (the request itself is wrong: retrying would not help). The API key goes only into the header.
 */
import { PrlError } from '../../util/errors.js';
import { serverMessage } from '../../policy/openai-client.js';

export type ServerKind = 'vllm' | 'sglang';

/** A failure worth retrying on another server: refused, reset, timeout, 5xx, 429. */
export class ServerFailure extends Error {
  constructor(readonly url: string, message: string, readonly status?: number) {
    super(`${url}: ${message}`);
  }
}

export interface HttpAnswer {
  status: number;
  body: string;
}

export interface CompletionRequest {
  model: string;
  prompt: readonly number[];
  n: number;
  maxTokens: number;
  temperature: number;
  topP: number;
  stopIds: readonly number[];
  seed: number;
}

/** One choice: sampled ids and the server's log-prob of each (NaN where it gave none). */
export interface CompletionChoice {
  tokens: number[];
  logprobs: number[];
}

/** vLLM says this when runtime LoRA updating is off (the routes do not exist). */
export const LORA_HELP = 'start the server with --enable-lora (vLLM also needs the environment variable VLLM_ALLOW_RUNTIME_LORA_UPDATING=True; SGLang --enable-lora with --max-lora-rank and --lora-target-modules)';

export class ServerApi {
  constructor(
    readonly url: string,
    private readonly apiKey: string | undefined,
    private readonly timeoutMs: number,
  ) {}

  /** POST or GET `path`; network errors and timeouts become ServerFailure. */
  async call(method: 'GET' | 'POST', path: string, body?: unknown): Promise<HttpAnswer> {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (this.apiKey) headers.authorization = `Bearer ${this.apiKey}`;
    let response: Response;
    try {
      response = await fetch(this.url + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(this.timeoutMs) });
      return { status: response.status, body: await response.text() };
    } catch (err) {
      const e = err as Error & { cause?: { code?: string } };
      const reason = e.name === 'TimeoutError' ? `no answer in ${this.timeoutMs / 1000} s (--request-timeout)` : (e.cause?.code ?? e.message);
      throw new ServerFailure(this.url, `${method} ${path}: ${reason}`);
    }
  }

  /** The served models: the base (no `parent`/`root` other than itself) and the loaded adapters. */
  async models(): Promise<{ base: string; ids: string[] }> {
    const answer = this.ok(await this.call('GET', '/v1/models'), 'GET /v1/models');
    const data = (JSON.parse(answer.body) as { data?: Array<{ id?: unknown; parent?: unknown; root?: unknown }> }).data;
    if (!Array.isArray(data) || data.length === 0) throw new PrlError(`${this.url}: GET /v1/models listed no model`);
    const base = data.find((m) => (m.parent === undefined || m.parent === null) && (m.root === undefined || m.root === m.id)) ?? data[0];
    return { base: String(base.id), ids: data.map((m) => String(m.id)) };
  }

  /** Which runtime-LoRA API the server has: probes vLLM's route, then SGLang's. */
  async detectKind(): Promise<ServerKind> {
    // An empty body: a server with the route answers 400 (missing fields), one without it 404/405.
    const vllm = await this.call('POST', '/v1/load_lora_adapter', {});
    if (vllm.status !== 404 && vllm.status !== 405) return 'vllm';
    const sglang = await this.call('POST', '/load_lora_adapter', {});
    if (sglang.status !== 404 && sglang.status !== 405) return 'sglang';
    throw new PrlError(`${this.url}: the server has no runtime LoRA loading (POST /v1/load_lora_adapter answered ${vllm.status}); ${LORA_HELP}`);
  }

  /** Loads a PEFT folder under `name`; a name already loaded counts as loaded. */
  async loadAdapter(kind: ServerKind, name: string, path: string): Promise<void> {
    const route = kind === 'vllm' ? '/v1/load_lora_adapter' : '/load_lora_adapter';
    const answer = await this.call('POST', route, { lora_name: name, lora_path: path });
    if (answer.status === 200) return;
    if (answer.status === 404 || answer.status === 405) throw new PrlError(`${this.url}: POST ${route} answered ${answer.status}; ${LORA_HELP}`);
    const message = serverMessage(answer.body);
    if (answer.status === 400 && /already (been )?loaded|already exists/i.test(message)) return;
    if (answer.status >= 500 || answer.status === 429) throw new ServerFailure(this.url, `POST ${route}: ${answer.status} ${message}`, answer.status);
    throw new PrlError(`${this.url}: loading adapter ${name} from ${path} failed (${answer.status}): ${message}`);
  }

  /** Unloads `name`; failures are ignored (the server may have restarted without it). */
  async unloadAdapter(kind: ServerKind, name: string): Promise<void> {
    await this.call('POST', kind === 'vllm' ? '/v1/unload_lora_adapter' : '/unload_lora_adapter', { lora_name: name }).catch(() => undefined);
  }

  /** SGLang's full-weight reload from a Hugging Face folder. */
  async updateWeightsFromDisk(path: string, version: number): Promise<void> {
    const answer = await this.call('POST', '/update_weights_from_disk', { model_path: path, weight_version: String(version) });
    if (answer.status === 200) return;
    if (answer.status >= 500 || answer.status === 429) throw new ServerFailure(this.url, `POST /update_weights_from_disk: ${answer.status}`, answer.status);
    throw new PrlError(`${this.url}: POST /update_weights_from_disk answered ${answer.status}: ${serverMessage(answer.body)}`);
  }

  /**
   * Samples `n` completions of a token-id prompt with the sampled tokens' log-probs; each is cut after
   * its first stop id. Resolves null when the server does not know the model (404: reload it there).
   */
  async complete(request: CompletionRequest): Promise<CompletionChoice[] | null> {
    const body = {
      model: request.model,
      prompt: request.prompt,
      n: request.n,
      max_tokens: request.maxTokens,
      temperature: request.temperature,
      top_p: request.topP,
      seed: request.seed,
      logprobs: 1,
      stop_token_ids: request.stopIds,
      skip_special_tokens: false,
      return_tokens_as_token_ids: true,
    };
    const answer = await this.call('POST', '/v1/completions', body);
    if (answer.status === 404) return null;
    if (answer.status >= 500 || answer.status === 429 || answer.status === 408) throw new ServerFailure(this.url, `POST /v1/completions: ${answer.status} ${serverMessage(answer.body)}`, answer.status);
    this.ok(answer, 'POST /v1/completions');
    return parseChoices(this.url, answer.body, request.n, new Set(request.stopIds));
  }

  private ok(answer: HttpAnswer, what: string): HttpAnswer {
    if (answer.status >= 500 || answer.status === 429) throw new ServerFailure(this.url, `${what}: ${answer.status} ${serverMessage(answer.body)}`, answer.status);
    if (answer.status !== 200) throw new PrlError(`${this.url}: ${what} answered ${answer.status}: ${serverMessage(answer.body)}`);
    return answer;
  }
}

function parseChoices(url: string, text: string, n: number, stopIds: ReadonlySet<number>): CompletionChoice[] {
  const malformed = (problem: string): never => {
    throw new PrlError(`${url}: malformed /v1/completions answer: ${problem}`);
  };
  let json: { choices?: Array<{ index?: number; logprobs?: { tokens?: unknown[]; token_logprobs?: unknown[] } }> };
  try {
    json = JSON.parse(text) as typeof json;
  } catch {
    return malformed('not JSON');
  }
  const choices = json.choices;
  if (!Array.isArray(choices) || choices.length !== n) return malformed(`expected ${n} choices, got ${Array.isArray(choices) ? choices.length : 'none'}`);
  const ordered = [...choices].sort((a, b) => (a.index ?? 0) - (b.index ?? 0));
  return ordered.map((choice, k) => {
    const tokens = choice.logprobs?.tokens;
    const logprobs = choice.logprobs?.token_logprobs;
    if (!Array.isArray(tokens) || !Array.isArray(logprobs) || tokens.length !== logprobs.length) return malformed(`choices[${k}].logprobs: expected tokens and token_logprobs of equal length`);
    const out: CompletionChoice = { tokens: [], logprobs: [] };
    for (let t = 0; t < tokens.length; t++) {
      const match = /^token_id:(\d+)$/.exec(String(tokens[t]));
      if (!match) return malformed(`choices[${k}].logprobs.tokens[${t}]: expected "token_id:N" (return_tokens_as_token_ids), got ${JSON.stringify(tokens[t])}`);
      const id = Number(match[1]);
      out.tokens.push(id);
      out.logprobs.push(typeof logprobs[t] === 'number' ? (logprobs[t] as number) : NaN);
      if (stopIds.has(id)) break;
    }
    return out;
  });
}
