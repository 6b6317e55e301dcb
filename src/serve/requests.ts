/**
 * Validation of `/v1/completions` and `/v1/chat/completions` bodies into one generation request. Every
 * error is a 400 naming the field (`param`), as vLLM names it.
 */
import { randomInt } from 'node:crypto';
import { Template } from '@huggingface/jinja';
import { encodePrompt, type EnginePolicy, type GenerationParams } from '../policy/engine.js';
import { describeValue, inputError } from '../util/errors.js';
import { HttpError, asObject } from './http.js';

/** One prompt: its ids and the text it stands for. */
export interface PromptInfo {
  ids: number[];
  text: string;
  fromText: boolean;
  /** The server put a BOS in front of a text prompt (it is not part of `text`). */
  addedBos: boolean;
}

export interface GenerationRequest {
  prompts: PromptInfo[];
  n: number;
  maxTokens: number;
  params: GenerationParams;
  seed: number;
  /** null: no log-probs; k >= 0: the sampled token's log-prob and the k most likely alternatives. */
  logprobs: number | null;
  echo: boolean;
  /** vLLM's `return_tokens_as_token_ids`: token strings are "token_id:N". */
  tokenIds: boolean;
  stream: boolean;
  /** `stream_options.include_usage`: a last chunk with the usage. */
  includeUsage: boolean;
}

/** Reads typed fields of a body; a wrong one is a 400 naming it. */
class Fields {
  constructor(readonly body: Record<string, unknown>) {}

  bad(param: string, problem: string): never {
    throw new HttpError(400, `${param}: ${problem}`, 'BadRequestError', param);
  }

  int(name: string, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
    const v = this.body[name] ?? fallback;
    if (!(typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max)) this.bad(name, `must be an integer in [${min}, ${max}], got ${describeValue(v)}`);
    return v as number;
  }

  num(name: string, fallback: number, ok: (v: number) => boolean, range: string): number {
    const v = this.body[name] ?? fallback;
    if (!(typeof v === 'number' && Number.isFinite(v) && ok(v))) this.bad(name, `must be a number ${range}, got ${describeValue(v)}`);
    return v as number;
  }

  bool(name: string): boolean {
    const v = this.body[name] ?? false;
    if (typeof v !== 'boolean') this.bad(name, `must be true or false, got ${describeValue(v)}`);
    return v as boolean;
  }
}

/** What completions and chat share: n, budget, sampling settings, seed, stop, stream, token ids. */
function parseSampling(f: Fields, maxTokensField: string): Omit<GenerationRequest, 'prompts' | 'logprobs' | 'echo'> {
  const b = f.body;
  const n = f.int('n', 1, 1, 128);
  const maxTokens = f.int(maxTokensField, 16, 0);
  const temperature = f.num('temperature', 1, (v) => v >= 0, '>= 0');
  const topP = f.num('top_p', 1, (v) => v > 0 && v <= 1, 'in (0, 1]');
  const topK = f.int('top_k', 0, -1);
  const seed = b.seed === undefined || b.seed === null ? randomInt(2 ** 31) : f.int('seed', 0, 0, 2 ** 53);
  let stop: string[] = [];
  if (typeof b.stop === 'string') stop = [b.stop];
  else if (Array.isArray(b.stop) && b.stop.every((s) => typeof s === 'string')) stop = b.stop as string[];
  else if (b.stop !== undefined && b.stop !== null) f.bad('stop', 'must be a string or a list of strings');
  if (stop.length > 16) f.bad('stop', `at most 16 stop strings, got ${stop.length}`);
  const stream = f.bool('stream');
  let includeUsage = false;
  if (b.stream_options !== undefined && b.stream_options !== null) {
    // vLLM: "Stream options can only be defined when `stream=True`."
    if (!stream) f.bad('stream_options', 'can only be defined when `stream=True`');
    const options = b.stream_options as Record<string, unknown>;
    if (typeof options !== 'object' || Array.isArray(options)) f.bad('stream_options', 'must be an object');
    const usage = options.include_usage ?? false;
    if (typeof usage !== 'boolean') f.bad('stream_options.include_usage', `must be true or false, got ${describeValue(usage)}`);
    includeUsage = usage as boolean;
  }
  return {
    n,
    maxTokens,
    params: { temperature, topP, topK: topK < 0 ? 0 : topK, stop },
    seed,
    tokenIds: f.bool('return_tokens_as_token_ids'),
    stream,
    includeUsage,
  };
}

/** Checks a prompt's length against the model's positions. */
function checkFits(f: Fields, policy: EnginePolicy, prompts: PromptInfo[], maxTokens: number, maxTokensField: string): void {
  const maxPositions = policy.model.config.maxPositionEmbeddings;
  prompts.forEach((p, k) => {
    const where = prompts.length === 1 ? 'prompt' : `prompt[${k}]`;
    if (p.ids.length + maxTokens > maxPositions) f.bad(maxTokensField, `${where} has ${p.ids.length} tokens; with ${maxTokensField} ${maxTokens} that exceeds the model's ${maxPositions} positions`);
  });
}

/** A `/v1/completions` body: prompt as text, ids, or a list of either. */
export function parseCompletionRequest(body: unknown, policy: EnginePolicy): GenerationRequest {
  const f = new Fields(asObject(body));
  const b = f.body;
  const sampling = parseSampling(f, 'max_tokens');
  const logprobs = b.logprobs === undefined || b.logprobs === null ? null : f.int('logprobs', 0, 0, 20);
  const echo = f.bool('echo');

  const raw = b.prompt;
  let list: unknown[];
  if (typeof raw === 'string') list = [raw];
  else if (Array.isArray(raw) && raw.length > 0 && raw.every((x) => typeof x === 'number')) list = [raw];
  else if (Array.isArray(raw) && raw.length > 0) list = raw;
  else return f.bad('prompt', 'must be a string, a list of token ids, or a non-empty list of either');
  const prompts = list.map((p, k): PromptInfo => {
    const where = list.length === 1 && p === raw ? 'prompt' : `prompt[${k}]`;
    if (typeof p !== 'string' && !(Array.isArray(p) && p.every((x) => typeof x === 'number'))) f.bad(where, 'must be a string or a list of token ids');
    let ids: number[];
    try {
      ids = encodePrompt(policy.tokenizer, policy.vocabSize, p as string | number[], where);
    } catch (err) {
      throw new HttpError(400, (err as Error).message, 'BadRequestError', 'prompt');
    }
    const addedBos = typeof p === 'string' && policy.tokenizer.bosId !== undefined;
    return { ids, text: typeof p === 'string' ? p : policy.tokenizer.decode(ids), fromText: typeof p === 'string', addedBos };
  });
  checkFits(f, policy, prompts, sampling.maxTokens, 'max_tokens');
  if (prompts.length * sampling.n > 1024) f.bad('n', `${prompts.length} prompts x n ${sampling.n} exceed 1024 choices`);
  return { ...sampling, prompts, logprobs, echo };
}

/** A chat message as the template sees it: role and text content. */
interface ChatMessage {
  role: string;
  content: string;
}

/**
 * A `/v1/chat/completions` body: `messages` rendered with the model folder's `chat_template` (with
 * `add_generation_prompt`, default true as in vLLM) and encoded as is (the template writes any BOS).
 */
export function parseChatRequest(body: unknown, policy: EnginePolicy, template: Template | undefined): GenerationRequest {
  const f = new Fields(asObject(body));
  const b = f.body;
  const maxField = b.max_completion_tokens !== undefined && b.max_completion_tokens !== null ? 'max_completion_tokens' : 'max_tokens';
  const sampling = parseSampling(f, maxField);
  const wantLogprobs = f.bool('logprobs');
  const top = b.top_logprobs === undefined || b.top_logprobs === null ? 0 : f.int('top_logprobs', 0, 0, 20);
  if (top > 0 && !wantLogprobs) f.bad('top_logprobs', 'needs logprobs: true');
  const messages = parseMessages(f);
  if (!template) {
    throw new HttpError(400, 'the model folder has no chat_template in tokenizer_config.json, so /v1/chat/completions cannot render messages; use /v1/completions with a prompt', 'BadRequestError', 'messages');
  }
  const addGenerationPrompt = b.add_generation_prompt === undefined ? true : f.bool('add_generation_prompt');
  const tokenizer = policy.tokenizer;
  let text: string;
  try {
    text = template.render({
      messages,
      add_generation_prompt: addGenerationPrompt,
      bos_token: tokenizer.bosId === undefined ? '' : tokenizer.tokenText(tokenizer.bosId),
      eos_token: tokenizer.eosId === undefined ? '' : tokenizer.tokenText(tokenizer.eosId),
    });
  } catch (err) {
    throw new HttpError(400, `chat_template: cannot render these messages (${(err as Error).message})`, 'BadRequestError', 'messages');
  }
  let ids: number[];
  try {
    ids = tokenizer.encode(text).ids;
  } catch (err) {
    throw new HttpError(400, `messages: the rendered conversation cannot be encoded (${(err as Error).message})`, 'BadRequestError', 'messages');
  }
  if (ids.length === 0) f.bad('messages', 'the rendered conversation is empty');
  const prompts = [{ ids, text, fromText: true, addedBos: false }];
  checkFits(f, policy, prompts, sampling.maxTokens, maxField);
  return { ...sampling, prompts, logprobs: wantLogprobs ? top : null, echo: false };
}

/** `messages`: roles with text content (a string, or OpenAI's list of `{"type": "text", "text"}` parts). */
function parseMessages(f: Fields): ChatMessage[] {
  const raw = f.body.messages;
  if (!Array.isArray(raw) || raw.length === 0) f.bad('messages', 'must be a non-empty list of {"role", "content"} objects');
  return (raw as unknown[]).map((m, i) => {
    const where = `messages[${i}]`;
    if (typeof m !== 'object' || m === null || Array.isArray(m)) f.bad(where, 'must be an object with "role" and "content"');
    const { role, content } = m as Record<string, unknown>;
    if (typeof role !== 'string' || role.length === 0) f.bad(`${where}.role`, `must be a non-empty string, got ${describeValue(role)}`);
    if (typeof content === 'string') return { role: role as string, content };
    if (content === null || content === undefined) return { role: role as string, content: '' };
    if (Array.isArray(content)) {
      const parts = content.map((part, j) => {
        const p = part as Record<string, unknown>;
        if (typeof p !== 'object' || p === null || p.type !== 'text' || typeof p.text !== 'string') f.bad(`${where}.content[${j}]`, 'only {"type": "text", "text": ...} parts are supported');
        return p.text as string;
      });
      return { role: role as string, content: parts.join('') };
    }
    return f.bad(`${where}.content`, `must be a string or a list of text parts, got ${describeValue(content)}`);
  });
}

/** The folder's chat template compiled once, or undefined without one; a broken template fails at start. */
export function compileChatTemplate(source: string | undefined): Template | undefined {
  if (source === undefined) return undefined;
  try {
    return new Template(source);
  } catch (err) {
    throw inputError('tokenizer_config.json: chat_template', `is not a valid Jinja template (${(err as Error).message})`);
  }
}
