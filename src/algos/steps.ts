/**
 * Step segmentation shared by PRL and PAV. A step is a contiguous span of response tokens; step k
 * ends at token e_k. SPEC.md "PRL advantages", item 4.
 */
import { PrlError } from '../util/errors.js';

export type StepSplit =
  | { kind: 'length'; length: number }
  | { kind: 'text'; delimiter: string }
  | { kind: 'tokens'; ids: readonly number[] };

/** What a split may look at, per response: `mask` always; text splits need text and offsets; token splits ids. */
export interface StepTokens {
  mask: ArrayLike<number>; // (T,)
  /** Decoded response text. */
  text?: string;
  /** Character offset in `text` where each token starts, non-decreasing; token t spans [off_t, off_{t+1}). */
  tokenOffsets?: ArrayLike<number>; // (T,)
  tokenIds?: ArrayLike<number>; // (T,)
}

/**
 * Parses `length:L`, `text:DELIM` or `tokens:ID,ID..`. DELIM takes JSON-style escapes
 * (`text:\n\n` is two newlines), so a shell user can type it.
 */
export function parseStepSplit(spec: string): StepSplit {
  const colon = spec.indexOf(':');
  const kind = colon < 0 ? spec : spec.slice(0, colon);
  const arg = colon < 0 ? '' : spec.slice(colon + 1);
  const bad = (problem: string): PrlError => new PrlError(`step split ${JSON.stringify(spec)}: ${problem}`);
  if (kind === 'length') {
    if (!/^[1-9][0-9]*$/.test(arg)) throw bad('expected length:L with L a positive integer');
    return { kind: 'length', length: Number(arg) };
  }
  if (kind === 'text') {
    const delimiter = unescapeJsonStyle(arg, bad);
    if (delimiter === '') throw bad('the delimiter is empty');
    return { kind: 'text', delimiter };
  }
  if (kind === 'tokens') {
    const parts = arg.split(',').map((s) => s.trim());
    if (parts.some((p) => !/^[0-9]+$/.test(p))) throw bad('expected tokens:ID,ID.. with non-negative integer ids');
    return { kind: 'tokens', ids: parts.map(Number) };
  }
  throw bad('expected length:L, text:DELIM or tokens:ID,ID..');
}

/** The spec string for a split; `parseStepSplit(formatStepSplit(s))` gives back `s`. */
export function formatStepSplit(split: StepSplit): string {
  if (split.kind === 'length') return `length:${split.length}`;
  if (split.kind === 'tokens') return `tokens:${split.ids.join(',')}`;
  return `text:${JSON.stringify(split.delimiter).slice(1, -1)}`;
}

function unescapeJsonStyle(raw: string, bad: (problem: string) => PrlError): string {
  // Quote bare double quotes so that JSON.parse sees one string literal.
  let quoted = '';
  for (let i = 0; i < raw.length; i++) {
    if (raw[i] === '\\' && i + 1 < raw.length) {
      quoted += raw[i] + raw[i + 1];
      i++;
    } else quoted += raw[i] === '"' ? '\\"' : raw[i];
  }
  try {
    return JSON.parse(`"${quoted}"`) as string;
  } catch {
    throw bad('bad escape in the delimiter (use JSON escapes such as \\n, \\t, \\\\, \\u000a)');
  }
}

/** Index of the last token with a nonzero mask, or -1. */
export function lastValidIndex(mask: ArrayLike<number>): number {
  for (let t = mask.length - 1; t >= 0; t--) if (mask[t] !== 0) return t;
  return -1;
}

/**
 * Step end indices e_0 < e_1 < .. (0-based token positions), always ending with the last valid
 * token; empty when no token is valid. `length:L`: (t+1) mod L == 0. `text:DELIM`: the token holding
 * the last character of each non-overlapping occurrence of DELIM (left to right, as str.split finds
 * them), found through character offsets, so a token that merges "\n\n" with other text still ends a
 * step. `tokens:IDS`: every token whose id is listed. Ends after the last valid token are dropped.
 */
export function stepEnds(split: StepSplit, tokens: StepTokens): number[] {
  const last = lastValidIndex(tokens.mask);
  if (last < 0) return [];
  const ends: number[] = [];
  if (split.kind === 'length') {
    for (let t = split.length - 1; t < last; t += split.length) ends.push(t);
  } else if (split.kind === 'tokens') {
    const { tokenIds } = tokens;
    if (!tokenIds) throw new PrlError('stepEnds: a tokens: split needs token ids');
    const ids = new Set(split.ids);
    for (let t = 0; t < last; t++) if (ids.has(tokenIds[t])) ends.push(t);
  } else {
    const { text, tokenOffsets } = tokens;
    if (text === undefined || !tokenOffsets) throw new PrlError('stepEnds: a text: split needs text and token offsets');
    const d = split.delimiter;
    for (let start = text.indexOf(d); start >= 0; start = text.indexOf(d, start + d.length)) {
      const t = tokenAtChar(tokenOffsets, start + d.length - 1);
      if (t >= last) break;
      if (t >= 0 && ends[ends.length - 1] !== t) ends.push(t);
    }
  }
  ends.push(last);
  return ends;
}

/** The token holding character `c`: the largest t with offsets[t] <= c (-1 if none). */
export function tokenAtChar(offsets: ArrayLike<number>, c: number): number {
  let lo = 0;
  let hi = offsets.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (offsets[mid] <= c) {
      found = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found;
}

/** Step id per token from step ends; tokens after the last end get -1. */
export function stepIdsFromEnds(ends: readonly number[], length: number): Int32Array {
  const ids = new Int32Array(length).fill(-1);
  let start = 0;
  ends.forEach((end, k) => {
    for (let t = start; t <= end; t++) ids[t] = k;
    start = end + 1;
  });
  return ids;
}

/**
 * Every token of step k takes values[e_k], the value at its step's end; 0 where the mask is 0 and
 * after the last step. Fills by step membership, not the authors' "next nonzero value", which
 * misfires when values[e_k] is exactly 0 (SPEC.md item 5).
 */
export function fillFromStepEnds(values: ArrayLike<number>, ends: readonly number[], mask: ArrayLike<number>): Float64Array {
  const out = new Float64Array(mask.length);
  let start = 0;
  for (const end of ends) {
    for (let t = start; t <= end; t++) out[t] = mask[t] !== 0 ? values[end] : 0;
    start = end + 1;
  }
  return out;
}
