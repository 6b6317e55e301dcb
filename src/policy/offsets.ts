/**
 * Where each token starts in a completion's text. Steps are split on "\n" by char offset, so the
 * offsets must be right even where servers get them wrong: vLLM's `text_offset` is the running
 * sum of each token decoded alone, which drifts after a character split over byte tokens (each
 * piece decodes to U+FFFD), and the legacy OpenAI API counts from the start of the prompt.
 */

/**
 * Server offsets shifted so the first token starts at 0, made non-decreasing and clipped to
 * [0, textLength]. Used when only ids are known (no token strings to align).
 */
export function normaliseServerOffsets(raw: readonly number[], textLength: number): number[] {
  const start = raw.length > 0 ? raw[0] : 0;
  const offsets: number[] = [];
  let previous = 0;
  for (const r of raw) {
    previous = Math.min(textLength, Math.max(previous, r - start));
    offsets.push(previous);
  }
  return offsets;
}

/**
 * Offsets of `tokens` (decoded strings) in `text`, found by walking the text: a token that
 * matches at the cursor starts there. A run of tokens that does not match (pieces of one
 * character, raw tokenizer pieces) starts at the cursor and ends where the next clean token is
 * found within the run's possible length; a token running past the end of the text (the one that
 * completed a stop string) starts at the cursor. If the walk cannot resynchronise, the remaining
 * tokens take `fallback` (normalised server offsets), kept non-decreasing.
 */
export function alignTokenOffsets(text: string, tokens: readonly string[], fallback: readonly number[]): number[] {
  const offsets = new Array<number>(tokens.length);
  let pos = 0;
  let i = 0;
  while (i < tokens.length) {
    const token = tokens[i];
    if (text.startsWith(token, pos)) {
      offsets[i] = pos;
      pos += token.length;
      i++;
      continue;
    }
    if (pos + token.length > text.length && token.startsWith(text.slice(pos))) {
      offsets[i] = pos;
      pos = text.length;
      i++;
      continue;
    }
    const resync = findResync(text, tokens, i, pos);
    if (resync === undefined) {
      for (let k = i; k < tokens.length; k++) {
        pos = Math.min(text.length, Math.max(pos, fallback[k] ?? pos));
        offsets[k] = pos;
      }
      break;
    }
    for (let k = i; k < resync.index; k++) offsets[k] = pos;
    pos = resync.pos;
    i = resync.index;
  }
  return offsets;
}

/** The first clean token after a mismatch at `start` that occurs within reach of `pos`. */
function findResync(
  text: string,
  tokens: readonly string[],
  start: number,
  pos: number,
): { index: number; pos: number } | undefined {
  let reach = 0;
  for (let j = start + 1; j <= tokens.length; j++) {
    reach += Math.max(tokens[j - 1].length, 1);
    if (j === tokens.length) {
      // Only unclean pieces remain (a trailing split character): they all start at the cursor.
      const allPieces = tokens.slice(start).every((t) => !isClean(t));
      return allPieces ? { index: j, pos } : undefined;
    }
    const candidate = tokens[j];
    if (!isClean(candidate)) continue;
    const at = text.indexOf(candidate, pos);
    if (at >= 0 && at <= pos + reach) return { index: j, pos: at };
  }
  return undefined;
}

/** A token string that stands for itself: not empty and not a replacement-character piece. */
function isClean(token: string): boolean {
  return token.length > 0 && !token.includes('\uFFFD');
}

/**
 * Where a continuation starts among the tokens of `prompt + continuation` tokenised together:
 * the first token starting at or after the prompt's end, or the token before it when that one
 * starts inside the prompt and reaches past its end (the tokenizer merged across the boundary:
 * `exact` is then false). `offsets` are the tokens' starts in the joint text.
 */
export function continuationStart(offsets: readonly number[], promptLength: number, textLength: number): { start: number; exact: boolean } {
  let first = offsets.findIndex((o) => o >= promptLength);
  if (first < 0) first = offsets.length;
  const end = offsets[first] ?? textLength;
  const merged = first > 0 && textLength > promptLength && offsets[first - 1] < promptLength && end > promptLength;
  return merged ? { start: first - 1, exact: false } : { start: first, exact: true };
}
