/**
 * Answers in OpenAI's shapes, whole or as stream chunks: legacy completions (`text_completion`, log-probs
 * as `tokens` / `token_logprobs` / `top_logprobs` (dicts) / `text_offset`) and chat completions
 * (`chat.completion`, `message`, log-probs as `content: [{token, logprob, bytes, top_logprobs}]`).
 *
 * A stream is the same answer cut per token: for each choice, one chunk per token whose `text` (or
 * `delta.content`) is what that token adds to the text, then a chunk with `finish_reason`; with
 * `include_usage`, every chunk carries `"usage": null` and a last chunk with no choices carries the usage.
 * Concatenating a choice's pieces gives exactly the non-streamed text.
 */
import type { Tokenizer } from '../engine/tokenizer.js';
import type { IdCompletion } from '../policy/engine.js';
import type { TokenLogprob } from './logprobs.js';
import type { GenerationRequest, PromptInfo } from './requests.js';

/** One choice as generated: its prompt, completion and the log-prob extras asked for. */
export interface ChoiceResult {
  prompt: PromptInfo;
  completion: IdCompletion;
  /** echo: the teacher-forced log-probs of prompt tokens 1.. (token 0 has none). */
  promptLogprobs: number[];
  /** logprobs k > 0: the top k at prompt tokens 1.. (echo) and at every completion token. */
  promptTop: TokenLogprob[][];
  completionTop: TokenLogprob[][];
  /** Where each prompt token starts in the prompt text (echo). */
  promptOffsets: number[];
}

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

export interface AnswerContext {
  id: string;
  created: number;
  model: string;
  request: GenerationRequest;
  tokenizer: Tokenizer;
}

export function usageOf(results: readonly ChoiceResult[], request: GenerationRequest): Usage {
  const prompt = request.prompts.reduce((s, p) => s + p.ids.length, 0);
  const completion = results.reduce((s, r) => s + r.completion.tokens.length, 0);
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
}

function tokenString(ctx: AnswerContext, id: number): string {
  return ctx.request.tokenIds ? `token_id:${id}` : ctx.tokenizer.tokenText(id);
}

/** The text each completion token adds (its slice of the returned text: a stop string cuts it). */
function tokenPieces(c: IdCompletion): string[] {
  return c.tokens.map((_, t) => c.text.slice(c.offsets[t], t + 1 < c.tokens.length ? c.offsets[t + 1] : c.text.length));
}

// ----------------------------------------------------------------------------------------------------
// Legacy completions

interface LegacyLogprobs {
  tokens: string[];
  token_logprobs: Array<number | null>;
  top_logprobs: Array<Record<string, number> | null> | null;
  text_offset: number[];
}

/** The top-k dict of one position, plus the sampled token (OpenAI: up to k + 1 entries). */
function topDict(ctx: AnswerContext, top: TokenLogprob[], sampled: number, sampledLogprob: number): Record<string, number> {
  const dict: Record<string, number> = {};
  for (const e of top) dict[tokenString(ctx, e.token)] = e.logprob;
  const key = tokenString(ctx, sampled);
  if (!(key in dict)) dict[key] = sampledLogprob;
  return dict;
}

function legacyLogprobs(ctx: AnswerContext, r: ChoiceResult): LegacyLogprobs {
  const k = ctx.request.logprobs!;
  const out: LegacyLogprobs = { tokens: [], token_logprobs: [], top_logprobs: k > 0 ? [] : null, text_offset: [] };
  const { prompt, completion: c } = r;
  if (ctx.request.echo) {
    prompt.ids.forEach((id, t) => {
      out.tokens.push(t === 0 && prompt.addedBos && !ctx.request.tokenIds ? '' : tokenString(ctx, id));
      out.token_logprobs.push(t === 0 ? null : r.promptLogprobs[t - 1]);
      out.top_logprobs?.push(t === 0 ? null : topDict(ctx, r.promptTop[t - 1], id, r.promptLogprobs[t - 1]));
      out.text_offset.push(r.promptOffsets[t]);
    });
  }
  const base = ctx.request.echo ? prompt.text.length : 0;
  c.tokens.forEach((id, t) => {
    out.tokens.push(tokenString(ctx, id));
    out.token_logprobs.push(c.logprobs[t]);
    out.top_logprobs?.push(topDict(ctx, r.completionTop[t], id, c.logprobs[t]));
    out.text_offset.push(base + c.offsets[t]);
  });
  return out;
}

export function completionResponse(ctx: AnswerContext, results: readonly ChoiceResult[]): object {
  const choices = results.map((r, index) => ({
    index,
    text: ctx.request.echo ? r.prompt.text + r.completion.text : r.completion.text,
    logprobs: ctx.request.logprobs === null ? null : legacyLogprobs(ctx, r),
    finish_reason: r.completion.finishReason,
  }));
  return { id: ctx.id, object: 'text_completion', created: ctx.created, model: ctx.model, choices, usage: usageOf(results, ctx.request) };
}

export function completionChunks(ctx: AnswerContext, results: readonly ChoiceResult[]): object[] {
  const chunk = (choice: object): object => withUsageNull(ctx, { id: ctx.id, object: 'text_completion', created: ctx.created, model: ctx.model, choices: [choice] });
  const chunks: object[] = [];
  results.forEach((r, index) => {
    const all = ctx.request.logprobs === null ? null : legacyLogprobs(ctx, r);
    const echoed = ctx.request.echo ? r.prompt.ids.length : 0;
    if (ctx.request.echo) chunks.push(chunk({ index, text: r.prompt.text, logprobs: all && sliceLegacy(all, 0, echoed), finish_reason: null }));
    tokenPieces(r.completion).forEach((text, t) => chunks.push(chunk({ index, text, logprobs: all && sliceLegacy(all, echoed + t, echoed + t + 1), finish_reason: null })));
    chunks.push(chunk({ index, text: '', logprobs: null, finish_reason: r.completion.finishReason }));
  });
  if (ctx.request.includeUsage) chunks.push({ id: ctx.id, object: 'text_completion', created: ctx.created, model: ctx.model, choices: [], usage: usageOf(results, ctx.request) });
  return chunks;
}

function sliceLegacy(lp: LegacyLogprobs, from: number, to: number): LegacyLogprobs {
  return {
    tokens: lp.tokens.slice(from, to),
    token_logprobs: lp.token_logprobs.slice(from, to),
    top_logprobs: lp.top_logprobs && lp.top_logprobs.slice(from, to),
    text_offset: lp.text_offset.slice(from, to),
  };
}

// ----------------------------------------------------------------------------------------------------
// Chat completions

interface ChatLogprob {
  token: string;
  logprob: number;
  bytes: number[];
  top_logprobs: Array<{ token: string; logprob: number; bytes: number[] }>;
}

function chatEntry(ctx: AnswerContext, token: number, logprob: number): { token: string; logprob: number; bytes: number[] } {
  const text = tokenString(ctx, token);
  return { token: text, logprob, bytes: [...Buffer.from(text, 'utf8')] };
}

function chatLogprobs(ctx: AnswerContext, r: ChoiceResult): ChatLogprob[] {
  const c = r.completion;
  return c.tokens.map((id, t) => ({
    ...chatEntry(ctx, id, c.logprobs[t]),
    top_logprobs: ctx.request.logprobs! > 0 ? r.completionTop[t].map((e) => chatEntry(ctx, e.token, e.logprob)) : [],
  }));
}

export function chatResponse(ctx: AnswerContext, results: readonly ChoiceResult[]): object {
  const choices = results.map((r, index) => ({
    index,
    message: { role: 'assistant', content: r.completion.text },
    logprobs: ctx.request.logprobs === null ? null : { content: chatLogprobs(ctx, r) },
    finish_reason: r.completion.finishReason,
  }));
  return { id: ctx.id, object: 'chat.completion', created: ctx.created, model: ctx.model, choices, usage: usageOf(results, ctx.request) };
}

export function chatChunks(ctx: AnswerContext, results: readonly ChoiceResult[]): object[] {
  const chunk = (choice: object): object => withUsageNull(ctx, { id: ctx.id, object: 'chat.completion.chunk', created: ctx.created, model: ctx.model, choices: [choice] });
  const chunks: object[] = [];
  results.forEach((r, index) => {
    const all = ctx.request.logprobs === null ? null : chatLogprobs(ctx, r);
    chunks.push(chunk({ index, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }));
    tokenPieces(r.completion).forEach((content, t) => chunks.push(chunk({ index, delta: { content }, logprobs: all && { content: [all[t]] }, finish_reason: null })));
    chunks.push(chunk({ index, delta: {}, logprobs: null, finish_reason: r.completion.finishReason }));
  });
  if (ctx.request.includeUsage) chunks.push({ id: ctx.id, object: 'chat.completion.chunk', created: ctx.created, model: ctx.model, choices: [], usage: usageOf(results, ctx.request) });
  return chunks;
}

/** With `include_usage`, every chunk but the last carries `"usage": null` (OpenAI's convention). */
function withUsageNull(ctx: AnswerContext, chunk: Record<string, unknown>): object {
  return ctx.request.includeUsage ? { ...chunk, usage: null } : chunk;
}
