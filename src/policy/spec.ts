/**
 * Policy specs: the one string every command takes for `--policy`, `--prover` and `--reference`.
 *
 *   engine:runs/x                                  prl's CPU engine, a run or checkpoint directory
 *   engine:models/base?adapter=runs/lora           the same with a PEFT LoRA adapter folder on top
 *   llamacpp:models/m.gguf                         a GGUF file run by llama.cpp
 *   openai:http://127.0.0.1:8000/v1?model=foo      an OpenAI-compatible completions server
 *   openai:http://a:8000/v1,http://b:8000/v1       several servers of one model, load spread
 *
 * OpenAI options ride in the query string (they are prl's, never sent to the server).
 */
import { PrlError } from '../util/errors.js';

export interface OpenAiSpecOptions {
  /** Served model name; discovered from GET /models when the server has exactly one. */
  model?: string;
  /** Name of the environment variable holding the API key (default OPENAI_API_KEY). */
  apiKeyEnv?: string;
  /** Most requests in flight over all URLs. */
  concurrency?: number;
  /** Per-request timeout. */
  timeoutMs?: number;
  /** Retries after the first attempt on 429, 5xx, timeouts and network errors. */
  retries?: number;
  /** Ask for token ids (vLLM's `return_tokens_as_token_ids`). */
  tokenIds?: boolean;
  /** max_tokens of a scoring request: 0 (vLLM) or 1 (servers that reject 0; the token is dropped). */
  scoreMaxTokens?: 0 | 1;
}

export type PolicySpec =
  | { kind: 'engine'; dir: string; adapter?: string }
  | { kind: 'llamacpp'; file: string }
  | { kind: 'openai'; urls: string[]; options: OpenAiSpecOptions };

export const POLICY_KINDS = ['engine', 'llamacpp', 'openai'] as const;

const OPENAI_OPTION_NAMES = ['model', 'keyEnv', 'concurrency', 'timeoutMs', 'retries', 'tokenIds', 'scoreMaxTokens'];

/**
 * Parses one spec string. `where` names its origin in errors (e.g. `--prover`).
 * Throws PrlError naming the problem; a URL's credentials never appear in a message.
 */
export function parsePolicySpec(text: string, where = 'policy'): PolicySpec {
  const fail = (problem: string): never => {
    throw new PrlError(`${where}: ${problem}`);
  };
  const colon = text.indexOf(':');
  const kind = colon < 0 ? '' : text.slice(0, colon);
  const body = colon < 0 ? '' : text.slice(colon + 1);
  if (!(POLICY_KINDS as readonly string[]).includes(kind)) {
    const shown = kind === '' ? JSON.stringify(shorten(text)) : `"${shorten(kind)}:"`;
    fail(`${shown} is not a policy spec; expected engine:DIR, llamacpp:FILE.gguf or openai:URL[,URL...]`);
  }
  if (body.trim() === '') fail(`"${kind}:" needs a ${kind === 'openai' ? 'URL' : 'path'} after the colon`);
  if (kind === 'engine') return parseEngine(body, fail);
  if (kind === 'llamacpp') {
    if (!body.toLowerCase().endsWith('.gguf')) fail(`llamacpp:${shorten(body)}: expected a .gguf file`);
    return { kind: 'llamacpp', file: body };
  }
  return parseOpenAi(body, fail);
}

/**
 * Merges repeated flags (`--policy openai:URL1 --policy openai:URL2`) into one spec. Only
 * OpenAI specs of the same model and options combine; anything else is an error.
 */
export function mergePolicySpecs(specs: readonly PolicySpec[], where = 'policy'): PolicySpec {
  if (specs.length === 0) throw new PrlError(`${where}: no policy given`);
  if (specs.length === 1) return specs[0];
  const urls: string[] = [];
  let options: OpenAiSpecOptions | undefined;
  for (const spec of specs) {
    if (spec.kind !== 'openai') {
      throw new PrlError(`${where}: only openai: specs can be repeated (to list several servers); got ${spec.kind}:`);
    }
    options = mergeOptions(options, spec.options, (problem) => {
      throw new PrlError(`${where}: ${problem}`);
    });
    urls.push(...spec.urls);
  }
  return { kind: 'openai', urls: dedupe(urls), options: options! };
}

/** The spec as a string that is safe to print and parses back to the same spec. */
export function formatPolicySpec(spec: PolicySpec): string {
  if (spec.kind === 'engine') return `engine:${spec.dir}${spec.adapter === undefined ? '' : `?adapter=${spec.adapter}`}`;
  if (spec.kind === 'llamacpp') return `llamacpp:${spec.file}`;
  const query = new URLSearchParams();
  const o = spec.options;
  if (o.model !== undefined) query.set('model', o.model);
  if (o.apiKeyEnv !== undefined) query.set('keyEnv', o.apiKeyEnv);
  if (o.concurrency !== undefined) query.set('concurrency', String(o.concurrency));
  if (o.timeoutMs !== undefined) query.set('timeoutMs', String(o.timeoutMs));
  if (o.retries !== undefined) query.set('retries', String(o.retries));
  if (o.tokenIds !== undefined) query.set('tokenIds', String(o.tokenIds));
  if (o.scoreMaxTokens !== undefined) query.set('scoreMaxTokens', String(o.scoreMaxTokens));
  const q = query.toString();
  return `openai:${spec.urls.join(',')}${q === '' ? '' : '?' + q}`;
}

/** `DIR` or `DIR?adapter=ADIR`: the one option of an engine spec is its LoRA adapter folder. */
function parseEngine(body: string, fail: (problem: string) => never): PolicySpec {
  const question = body.indexOf('?');
  if (question < 0) return { kind: 'engine', dir: body };
  const dir = body.slice(0, question);
  const query = body.slice(question + 1);
  const match = /^adapter=(.+)$/.exec(query);
  if (!match) return fail(`engine:${shorten(body)}: the only option is adapter=DIR (a PEFT LoRA folder), got ${JSON.stringify(shorten(query))}`);
  if (dir === '') return fail(`engine:${shorten(body)}: needs a model folder before "?"`);
  return { kind: 'engine', dir, adapter: match[1] };
}

function parseOpenAi(body: string, fail: (problem: string) => never): PolicySpec {
  // Split before each further URL; a comma inside a query string stays put.
  const parts = body.split(/,(?=\s*(?:openai:)?[a-zA-Z][a-zA-Z0-9+.-]*:\/\/)/).map((p) => p.trim().replace(/^openai:/, ''));
  const urls: string[] = [];
  let options: OpenAiSpecOptions | undefined;
  for (const part of parts) {
    let url: URL;
    try {
      url = new URL(part);
    } catch {
      return fail(`openai:${shorten(part)}: not a URL (expected e.g. openai:http://127.0.0.1:8000/v1)`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      fail(`openai:${shorten(part)}: the URL must start with http:// or https://`);
    }
    if (url.username !== '' || url.password !== '') {
      fail(`openai:${url.protocol}//${url.host}: credentials in the URL are not supported; put the key in an environment variable (keyEnv=NAME, default OPENAI_API_KEY)`);
    }
    const own = parseOptions(url.searchParams, (problem) => fail(`openai:${baseUrl(url)}: ${problem}`));
    options = mergeOptions(options, own, (problem) => fail(problem));
    urls.push(baseUrl(url));
  }
  return { kind: 'openai', urls: dedupe(urls), options: options ?? {} };
}

/** The base URL without query, fragment or trailing slash; a bare host gets vLLM's `/v1`. */
function baseUrl(url: URL): string {
  const path = url.pathname.replace(/\/+$/, '');
  return `${url.protocol}//${url.host}${path === '' ? '/v1' : path}`;
}

function parseOptions(query: URLSearchParams, fail: (problem: string) => never): OpenAiSpecOptions {
  const options: OpenAiSpecOptions = {};
  for (const [key, value] of query) {
    const positive = (min: number): number => {
      const n = Number(value);
      if (!Number.isInteger(n) || n < min) fail(`${key}=${shorten(value)} must be an integer >= ${min}`);
      return n;
    };
    switch (key) {
      case 'model':
        if (value === '') fail('model= is empty');
        options.model = value;
        break;
      case 'keyEnv':
        if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(value)) fail(`keyEnv=${shorten(value)} is not an environment variable name`);
        options.apiKeyEnv = value;
        break;
      case 'concurrency':
        options.concurrency = positive(1);
        break;
      case 'timeoutMs':
        options.timeoutMs = positive(1);
        break;
      case 'retries':
        options.retries = positive(0);
        break;
      case 'tokenIds':
        if (value !== 'true' && value !== 'false') fail(`tokenIds=${shorten(value)} must be true or false`);
        options.tokenIds = value === 'true';
        break;
      case 'scoreMaxTokens':
        if (value !== '0' && value !== '1') fail(`scoreMaxTokens=${shorten(value)} must be 0 or 1`);
        options.scoreMaxTokens = value === '0' ? 0 : 1;
        break;
      default:
        fail(`unknown option "${shorten(key)}" (known: ${OPENAI_OPTION_NAMES.join(', ')})`);
    }
  }
  return options;
}

/** Options given on several URLs must agree: they describe one policy. */
function mergeOptions(
  into: OpenAiSpecOptions | undefined,
  next: OpenAiSpecOptions,
  fail: (problem: string) => never,
): OpenAiSpecOptions {
  if (into === undefined) return { ...next };
  const merged: OpenAiSpecOptions = { ...into };
  for (const [key, value] of Object.entries(next) as [keyof OpenAiSpecOptions, unknown][]) {
    const have = merged[key];
    if (have !== undefined && have !== value) {
      fail(`conflicting ${key} for one policy: ${JSON.stringify(have)} and ${JSON.stringify(value)}`);
    }
    (merged as Record<string, unknown>)[key] = value;
  }
  return merged;
}

function dedupe(urls: string[]): string[] {
  return [...new Set(urls)];
}

/** Clips long input for messages and hides anything that looks like URL credentials. */
function shorten(s: string): string {
  const safe = s.replace(/\/\/[^/@]*@/g, '//***@');
  return safe.length > 80 ? safe.slice(0, 77) + '...' : safe;
}
