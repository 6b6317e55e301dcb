/**
 * Finding the final answer in a response: every `\boxed{}`/`\fbox{}` (several boxes are one answer, a
 * list or a set split over boxes), else the closing line a model writes (Minerva's "Final Answer: The final
 * answer is X. I hope it is correct.", `####`, "the answer is", "Answer:").
 */

/** The contents of the brace group that opens at or after `start`, or null if unbalanced. */
export function braceGroup(text: string, start: number): { content: string; end: number } | null {
  let i = start;
  while (i < text.length && /\s/.test(text[i])) i++;
  if (text[i] !== '{') return null;
  let depth = 0;
  for (let j = i; j < text.length; j++) {
    if (text[j] === '\\') {
      j++; // an escaped brace \{ \} does not count
      continue;
    }
    if (text[j] === '{') depth++;
    else if (text[j] === '}' && --depth === 0) return { content: text.slice(i + 1, j), end: j + 1 };
  }
  return null;
}

/** The contents of every `\boxed{...}` / `\fbox{...}` (also `\boxed 5`), in order. */
export function extractBoxes(text: string): string[] {
  const re = /\\(?:boxed|fbox)(?![a-zA-Z])/g;
  const boxes: string[] = [];
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    const after = m.index + m[0].length;
    const group = braceGroup(text, after);
    if (group) {
      boxes.push(group.content.trim());
      re.lastIndex = group.end;
      continue;
    }
    const bare = /^\s+([^\s$]+)/.exec(text.slice(after));
    if (bare) boxes.push(bare[1]);
  }
  return boxes;
}

/** The contents of the last box, or null. */
export function extractBoxed(text: string): string | null {
  const boxes = extractBoxes(text);
  return boxes.length === 0 ? null : boxes[boxes.length - 1];
}

/** A set `\{a, b\}` contributes its elements when boxes are joined, so `\boxed{\{1,2\}}, \boxed{3}` is {1,2,3}. */
function boxItems(box: string): string {
  const set = /^\\\{([\s\S]*)\\\}$/.exec(box.trim());
  return set ? set[1] : box;
}

/** Whether two boxes hold the same answer; the grader passes its equivalence, the default is the text. */
export type SameAnswer = (a: string, b: string) => boolean;

const sameText: SameAnswer = (a, b) => a.replace(/\s+/g, '') === b.replace(/\s+/g, '');

/** Several distinct boxes are one collection (joined with commas); a box repeated, in any form, is one answer. */
function joinBoxes(boxes: string[], same: SameAnswer): string {
  const distinct: string[] = [];
  for (const box of boxes) if (!distinct.some((d) => same(d, box))) distinct.push(box);
  return distinct.length === 1 ? distinct[0] : distinct.map(boxItems).join(', ');
}

/** The last match's first group of `re` (global) in `text`, trimmed, or null. */
function lastCapture(text: string, re: RegExp): string | null {
  let last: string | null = null;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) last = m[1];
  return last === null ? null : last.trim();
}

const MINERVA = /final answer is\s*:?\s*([\s\S]*?)\.?\s*I hope it is correct/gi;
const ANSWER_IS = /the (?:final )?answer is\s*:?\s*([^\n]*)/gi;
const ANSWER_LINE = /(?:^|\n)[ \t>#*]*(?:final )?answer\**\s*:\**\s*([^\n]+)/gi;

/** The final answer of a solution text (see the module comment), or null when it has none. */
export function extractFinalAnswer(text: string, same: SameAnswer = sameText): string | null {
  const boxes = extractBoxes(text);
  if (boxes.length > 0) return joinBoxes(boxes, same);
  const minerva = lastCapture(text, MINERVA);
  if (minerva) return minerva;
  const hashes = text.lastIndexOf('####');
  if (hashes !== -1) {
    const line = text.slice(hashes + 4).split('\n')[0].trim();
    if (line !== '') return line;
  }
  for (const re of [ANSWER_IS, ANSWER_LINE]) {
    const said = lastCapture(text, re)?.replace(/\.$/, '').trim();
    if (said) return said;
  }
  return null;
}

/**
 * The answer in a field that holds only the final answer (`prl grade --pred-field`): its boxes or closing
 * line if it has one, else the whole text.
 */
export function predictionAnswer(text: string, same: SameAnswer = sameText): string | null {
  const answer = extractFinalAnswer(text, same) ?? text.trim();
  return answer === '' ? null : answer;
}

/**
 * A reference answer from a dataset field: a string (a `\boxed{}` in it is extracted, so a full solution
 * works), a number, or a Python-style list string such as `['$\\frac{1}{2}$']` (OlympiadBench), whose
 * elements are joined with commas.
 */
export function referenceAnswer(value: unknown): string | null {
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  if (Array.isArray(value)) {
    // A list of answers is flat: a nested list is no answer (and a deeply nested one would overflow the stack).
    const parts = value.map((v) => (Array.isArray(v) ? null : referenceAnswer(v)));
    return parts.every((p) => p !== null) ? parts.join(', ') : null;
  }
  if (typeof value !== 'string') return null;
  const text = value.trim();
  const list = /^\[\s*(['"])([\s\S]*)\1\s*\]$/.exec(text);
  if (list) {
    const items = list[2].split(/['"]\s*,\s*['"]/).map((s) => s.replace(/\\\\/g, '\\'));
    return items.join(', ');
  }
  return extractBoxed(text) ?? text;
}
