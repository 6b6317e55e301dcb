/**
 * The wire format of the legacy `/v1/completions` and `/v1/models` endpoints, checked field by
 * field so that a server that answers something else fails with a message naming the field; and
 * the checks of what the caller asks for before a request is sent.
 */
import { PrlError } from '../util/errors.js';
import type { Endpoint } from './openai-client.js';
import type { Prompt, SampleRequest } from './types.js';

/** A choice of the legacy completions response, checked field by field. */
export interface WireChoice {
  index: number;
  text: string;
  finishReason: string | undefined;
  tokens: string[];
  logprobs: (number | null)[];
  textOffset: number[];
}

/** Checks `choices` and returns them ordered by `index`, exactly `n` of them. */
export function parseChoices(json: unknown, malformed: (problem: string) => never, n: number): WireChoice[] {
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

export function parseModelList(endpoint: Endpoint, json: unknown): string[] {
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

export function promptTokensFromUsage(json: unknown): number | undefined {
  const usage = (json as { usage?: { prompt_tokens?: unknown } }).usage;
  const count = usage?.prompt_tokens;
  return Number.isInteger(count) && (count as number) >= 0 ? (count as number) : undefined;
}

export function toWirePrompt(prompt: Prompt, where: string): string | number[] {
  if (typeof prompt === 'string') return prompt;
  return checkTokenIds(prompt, where);
}

export function checkTokenIds(ids: unknown, where: string): number[] {
  if (!Array.isArray(ids) || ids.some((id) => !Number.isInteger(id) || id < 0)) {
    throw new PrlError(`${where}: expected text or an array of non-negative integer token ids`);
  }
  return [...(ids as number[])];
}

export function validateSampleRequest(request: SampleRequest): void {
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
