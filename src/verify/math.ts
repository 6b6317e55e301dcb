/**
 * The math grader: is the final answer of a response mathematically equal to the reference answer?
 *
 * 1. Extraction (`extractFinalAnswer`): the last `\boxed{...}` / `\fbox{...}` (balanced braces), else the
 *    text after the last `####`, else the text after the last "the answer is".
 * 2. Normalisation (`normalizeAnswer`): LaTeX that does not change the value is removed (`\left`/`\right`,
 *    spacing, `$`, `\%`, degrees, `\text{...}` units after a value, a trailing period, `x =`), `\dfrac` becomes
 *    `\frac`, shorthand like `\frac12` gets braces, thousands separators go, `\text{(C)}` becomes `C`.
 * 3. Structure (`answersEquivalent`): tuples and intervals compare element-wise with the same brackets; sets,
 *    bare comma lists ("all solutions, separated by commas") and unions compare as unordered collections; `a \pm b`
 *    is the list {a + b, a - b}; matrices compare entry-wise.
 * 4. Scalars: equal normalised text, else both are parsed by the Compute Engine (@cortex-js/compute-engine)
 *    and compared numerically (relative tolerance), expressions with free variables at several fixed points,
 *    equations as lhs - rhs up to a nonzero factor. Plain words (`\text{east}`) compare as lower-case text.
 * Not a string match: `\frac{1}{2}`, `0.5` and `\dfrac12` are all one answer.
 */
import { ComputeEngine } from '@cortex-js/compute-engine';

// The package's own type exports do not resolve under NodeNext (extensionless re-exports): derive the type.
type BoxedExpression = ReturnType<ComputeEngine['parse']>;

/** Tolerances of numeric equality: |a - b| <= relTol * max(|a|, |b|) + absTol. */
export interface MathGradeOptions {
  relTol: number;
  absTol: number;
}

const DEFAULT_GRADE: MathGradeOptions = { relTol: 1e-6, absTol: 1e-9 };

/** Result of grading one response. */
export interface MathGrade {
  correct: boolean;
  /** The final answer found in the response (before normalisation), or null when there is none. */
  extracted: string | null;
}

/** The contents of the brace group that opens at or after `start`, or null if unbalanced. */
function braceGroup(text: string, start: number): { content: string; end: number } | null {
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

/** The contents of the last `\boxed{...}` or `\fbox{...}` (also `\boxed 5`), or null. */
export function extractBoxed(text: string): string | null {
  const re = /\\(?:boxed|fbox)(?![a-zA-Z])/g;
  let last: RegExpExecArray | null = null;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) last = m;
  if (last === null) return null;
  const after = last.index + last[0].length;
  const group = braceGroup(text, after);
  if (group) return group.content.trim();
  const bare = /^\s+([^\s$]+)/.exec(text.slice(after));
  return bare ? bare[1] : null;
}

/** The final answer of a solution text: last boxed, else after the last `####`, else after "the answer is". */
export function extractFinalAnswer(text: string): string | null {
  const boxed = extractBoxed(text);
  if (boxed !== null) return boxed;
  const hashes = text.lastIndexOf('####');
  if (hashes !== -1) {
    const line = text.slice(hashes + 4).split('\n')[0].trim();
    if (line !== '') return line;
  }
  const said = /the (?:final )?answer is\s*:?\s*([^\n]*)/gi;
  let last: string | null = null;
  for (let m = said.exec(text); m !== null; m = said.exec(text)) last = m[1];
  if (last !== null) {
    const answer = last.trim().replace(/\.$/, '').trim();
    if (answer !== '') return answer;
  }
  return null;
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

/** Gives `\frac` and `\sqrt` shorthand (`\frac12`, `\frac{270}7`, `\sqrt2`) explicit braces. */
function braceShorthand(s: string): string {
  let out = '';
  let i = 0;
  while (i < s.length) {
    const m = /^\\(frac|sqrt)(?![a-zA-Z])/.exec(s.slice(i));
    if (!m) {
      out += s[i++];
      continue;
    }
    out += `\\${m[1]}`;
    i += m[0].length;
    const args = m[1] === 'frac' ? 2 : 1;
    for (let a = 0; a < args; a++) {
      while (s[i] === ' ') i++;
      if (m[1] === 'sqrt' && s[i] === '[') break;
      if (s[i] === '{') {
        const group = braceGroup(s, i);
        if (!group) break;
        out += `{${group.content}}`;
        i = group.end;
      } else if (i < s.length) {
        out += `{${s[i++]}}`;
      }
    }
  }
  return out;
}

/** Removes the LaTeX that does not change an answer's value; see the module comment. */
export function normalizeAnswer(answer: string): string {
  let s = answer.trim();
  s = s.replace(/^\\\(|\\\)$/g, '').replace(/^\\\[|\\\]$/g, '');
  s = s.replace(/\\\$/g, '').replace(/\$/g, '');
  s = s.replace(/\\(displaystyle|textstyle)/g, '');
  s = s.replace(/\\(left|right|bigl|bigr|Bigl|Bigr|big|Big)(?![a-zA-Z])\.?/g, '');
  // (?<!\\) keeps the row break \\ of a matrix intact.
  s = s.replace(/(?<!\\)\\[!,;:]/g, '').replace(/\\q?quad(?![a-zA-Z])/g, ' ').replace(/(?<!\\)\\ |~/g, ' ');
  s = s.replace(/\\[dt]frac/g, '\\frac');
  s = s.replace(/\^\s*\{?\s*\\circ\s*\}?|°|\\degree(?![a-zA-Z])/g, '');
  s = s.replace(/\\%|%/g, '');
  // A unit in \text{...} after a value ("5.4 \text{ cents}", "864 \mbox{ inches}^2") is not part of it.
  const trailingUnit = /(\S)\s*\\(?:text|mbox|mathrm|textrm|operatorname)\s*\{[^{}]*\}(?:\^\s*\{?\d+\}?)?\s*$/;
  while (trailingUnit.test(s)) s = s.replace(trailingUnit, '$1');
  s = s.replace(/\\(?:text|textbf|textit|textrm|mathrm|mathbf|mbox|operatorname)\s*\{([^{}]*)\}/g, '$1');
  s = s.trim().replace(/\.$/, '').trim();
  // "x = 5", "y = -2x", "x \in [-2, 7]": the value is the right-hand side.
  const lhs = /^[A-Za-z](?:_\{?\w+\}?)?\s*(?:=|\\in(?![a-zA-Z]))\s*/.exec(s);
  if (lhs && s.length > lhs[0].length && !s.slice(lhs[0].length).includes('=')) s = s.slice(lhs[0].length);
  s = braceShorthand(s);
  s = s.replace(/_\{(\w+)\}/g, '_$1');
  // Mixed numbers: 137 \frac{1}{2} is 137 + 1/2, not a product.
  const mixed = /^(-?)(\d+)\s*\\frac\{(\d+)\}\{(\d+)\}$/.exec(s);
  if (mixed) s = `${mixed[1]}(${mixed[2]}+\\frac{${mixed[3]}}{${mixed[4]}})`;
  const compact = s.replace(/\s+/g, '');
  if (/^-?\d{1,3}(,\d{3})+(\.\d+)?$/.test(compact)) s = compact.replace(/,/g, '');
  const choice = /^\(?([A-Ea-e])\)$|^\(([A-Ea-e])\)?$/.exec(s);
  if (choice) s = (choice[1] ?? choice[2]).toUpperCase();
  return s.replace(/\s+/g, ' ').trim();
}

/** An answer's structure: a scalar, an ordered tuple/interval, an unordered collection, or a matrix. */
type Shape =
  | { kind: 'scalar'; text: string }
  | { kind: 'ordered'; open: string; close: string; items: Shape[] }
  | { kind: 'unordered'; items: Shape[] }
  | { kind: 'matrix'; rows: Shape[][] };

const OPENERS = '([{';
const CLOSERS = ')]}';

/** Splits at `separator` where the bracket depth is zero. */
function splitTopLevel(s: string, separator: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    if (OPENERS.includes(s[i])) depth++;
    else if (CLOSERS.includes(s[i])) depth--;
    else if (depth === 0 && s.startsWith(separator, i)) {
      const next = s[i + separator.length];
      if (/[a-zA-Z]/.test(separator[separator.length - 1]) && next !== undefined && /[a-zA-Z]/.test(next)) continue;
      parts.push(s.slice(start, i));
      start = i + separator.length;
      i += separator.length - 1;
    }
  }
  parts.push(s.slice(start));
  return parts.map((p) => p.trim());
}

/** True when the bracket opened at index 0 closes at the last character. */
function enclosedWhole(s: string): boolean {
  let depth = 0;
  for (let i = 0; i < s.length; i++) {
    if (OPENERS.includes(s[i])) depth++;
    else if (CLOSERS.includes(s[i]) && --depth === 0) return i === s.length - 1;
  }
  return false;
}

function shapeOf(s: string): Shape {
  s = s.trim();
  const union = splitTopLevel(s, '\\cup');
  if (union.length > 1) return { kind: 'unordered', items: union.map(shapeOf) };
  const matrix = /^\\begin\{([pbvB]?matrix)\}([\s\S]*)\\end\{\1\}$/.exec(s);
  if (matrix) {
    const rows = matrix[2].split('\\\\').map((r) => r.trim()).filter((r) => r !== '');
    return { kind: 'matrix', rows: rows.map((r) => r.split('&').map((c) => shapeOf(c))) };
  }
  if (s.startsWith('\\{') && s.endsWith('\\}') && enclosedWhole(s.slice(1))) {
    return { kind: 'unordered', items: splitTopLevel(s.slice(2, -2), ',').filter((x) => x !== '').flatMap(collectionItems) };
  }
  if ('(['.includes(s[0]) && ')]'.includes(s[s.length - 1]) && enclosedWhole(s)) {
    const items = splitTopLevel(s.slice(1, -1), ',');
    if (items.length === 1) return s[0] === '(' && s[s.length - 1] === ')' ? shapeOf(items[0]) : { kind: 'scalar', text: s };
    return { kind: 'ordered', open: s[0], close: s[s.length - 1], items: items.map(shapeOf) };
  }
  const list = splitTopLevel(s, ',');
  if (list.length > 1) return { kind: 'unordered', items: list.flatMap(collectionItems) };
  const pm = plusMinus(s);
  return pm.length === 2 ? { kind: 'unordered', items: pm } : { kind: 'scalar', text: s };
}

/** `a \pm b` as the two scalars a + b and a - b; anything else as one item. */
function plusMinus(s: string): Shape[] {
  const pm = splitTopLevel(s, '\\pm');
  if (pm.length !== 2) return [{ kind: 'scalar', text: s }];
  return [`${pm[0]}+${pm[1]}`, `${pm[0]}-${pm[1]}`].map((text) => ({ kind: 'scalar', text }) as Shape);
}

/** The items an element of a set or list contributes: two for `a \pm b`, else itself. */
function collectionItems(s: string): Shape[] {
  const pm = plusMinus(s);
  return pm.length === 2 ? pm : [shapeOf(s)];
}

let engine: ComputeEngine | null = null;

/**
 * Runs engine code with console.error silenced: the engine prints type diagnostics there for some
 * inputs (e.g. `\exp{a*t}`), which would flood a grading run's progress output.
 */
function quietly<T>(run: () => T): T {
  const original = console.error;
  console.error = () => {};
  try {
    return run();
  } finally {
    console.error = original;
  }
}
const parseCache = new Map<string, BoxedExpression | null>();

/** Parses LaTeX once (cached); null when the engine cannot make a valid expression of it. */
function parseLatex(latex: string): BoxedExpression | null {
  const cached = parseCache.get(latex);
  if (cached !== undefined) return cached;
  engine ??= new ComputeEngine();
  let expr: BoxedExpression | null;
  try {
    const parsed = quietly(() => engine!.parse(latex));
    expr = parsed.isValid ? parsed : null;
  } catch {
    expr = null;
  }
  if (parseCache.size > 20000) parseCache.clear();
  parseCache.set(latex, expr);
  return expr;
}

/** The numeric value (re, im) of an expression without free variables, or null. */
function numericValue(expr: BoxedExpression): [number, number] | null {
  try {
    const v = quietly(() => expr.N().numericValue);
    if (v === null || v === undefined) return null;
    if (typeof v === 'number') return [v, 0];
    return [v.re, v.im];
  } catch {
    return null;
  }
}

function close(a: number, b: number, o: MathGradeOptions): boolean {
  if (a === b) return true;
  if (!Number.isFinite(a) || !Number.isFinite(b)) return false;
  return Math.abs(a - b) <= o.relTol * Math.max(Math.abs(a), Math.abs(b)) + o.absTol;
}

// Evaluation points for free variables: distinct, non-integer, inside the domains of log/sqrt/trig.
const POINTS = [0.5377, 1.8339, 2.2588, 0.8622, 1.3188];

/** Values of an expression at the fixed points (one per point; null where it is not a finite number). */
function valuesAtPoints(expr: BoxedExpression, variables: readonly string[]): Array<[number, number] | null> {
  if (variables.length === 0) return [numericValue(expr)];
  return [0, 1, 2].map((p) => {
    const subs: Record<string, BoxedExpression> = {};
    variables.forEach((v, j) => (subs[v] = engine!.number(POINTS[(p + 2 * j) % POINTS.length] + 0.1 * j)));
    try {
      return numericValue(quietly(() => expr.subs(subs)));
    } catch {
      return null;
    }
  });
}

function freeVariables(...exprs: BoxedExpression[]): string[] {
  return [...new Set(exprs.flatMap((e) => [...e.freeVariables]))].sort();
}

/** Equal as functions: equal values (re and im) at every point where both are defined, and some such point. */
function sameValues(a: BoxedExpression, b: BoxedExpression, o: MathGradeOptions): boolean {
  const variables = freeVariables(a, b);
  const va = valuesAtPoints(a, variables);
  const vb = valuesAtPoints(b, variables);
  let compared = 0;
  for (let i = 0; i < va.length; i++) {
    const x = va[i];
    const y = vb[i];
    if (x === null || y === null) {
      if (x !== y) return false;
      continue;
    }
    if (!close(x[0], y[0], o) || !close(x[1], y[1], o)) return false;
    compared++;
  }
  return compared > 0;
}

/** Equations are equal when lhs - rhs of one is a nonzero constant multiple of the other's. */
function sameEquation(a: string, b: string, o: MathGradeOptions): boolean {
  const [al, ar] = a.split('=');
  const [bl, br] = b.split('=');
  const da = parseLatex(`(${al})-(${ar})`);
  const db = parseLatex(`(${bl})-(${br})`);
  if (!da || !db) return false;
  const variables = freeVariables(da, db);
  if (variables.length === 0) return false;
  const va = valuesAtPoints(da, variables);
  const vb = valuesAtPoints(db, variables);
  let ratio: number | null = null;
  for (let i = 0; i < va.length; i++) {
    const x = va[i];
    const y = vb[i];
    if (x === null || y === null || x[1] !== 0 || y[1] !== 0) return false;
    if (x[0] === 0 || y[0] === 0) {
      if (!close(x[0], y[0], o)) return false;
      continue;
    }
    const r = x[0] / y[0];
    if (ratio === null) ratio = r;
    else if (!close(r, ratio, o)) return false;
  }
  return ratio !== null;
}

const PLAIN_WORDS = /^[A-Za-z]{2,}(?: [A-Za-z]+)*$/;
const PLAIN_NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

function scalarsEqual(a: string, b: string, o: MathGradeOptions): boolean {
  if (a.replace(/\s+/g, '') === b.replace(/\s+/g, '')) return true;
  if (PLAIN_WORDS.test(a) || PLAIN_WORDS.test(b)) return a.toLowerCase() === b.toLowerCase();
  // Two plain decimals need no parser (the common case, and much faster).
  if (PLAIN_NUMBER.test(a) && PLAIN_NUMBER.test(b)) return close(Number(a), Number(b), o);
  const aEq = splitTopLevel(a, '=').length;
  const bEq = splitTopLevel(b, '=').length;
  if (aEq !== bEq) return false;
  if (aEq === 2) return sameEquation(a, b, o);
  if (aEq > 2) return false;
  const pa = parseLatex(a);
  const pb = parseLatex(b);
  if (!pa || !pb) return false;
  return sameValues(pa, pb, o);
}

function shapesEqual(a: Shape, b: Shape, o: MathGradeOptions): boolean {
  if (a.kind === 'scalar' && b.kind === 'scalar') return scalarsEqual(a.text, b.text, o);
  if (a.kind === 'ordered' && b.kind === 'ordered') {
    return a.open === b.open && a.close === b.close && a.items.length === b.items.length
      && a.items.every((x, i) => shapesEqual(x, b.items[i], o));
  }
  if (a.kind === 'matrix' && b.kind === 'matrix') {
    return a.rows.length === b.rows.length && a.rows.every((row, i) => row.length === b.rows[i].length
      && row.every((x, j) => shapesEqual(x, b.rows[i][j], o)));
  }
  if (a.kind === 'unordered' && b.kind === 'unordered') return sameMultiset(a.items, b.items, o);
  return false;
}

/** A perfect matching between two small collections under `shapesEqual` (backtracking). */
function sameMultiset(a: Shape[], b: Shape[], o: MathGradeOptions): boolean {
  if (a.length !== b.length) return false;
  const used = new Array<boolean>(b.length).fill(false);
  const match = (i: number): boolean => {
    if (i === a.length) return true;
    for (let j = 0; j < b.length; j++) {
      if (used[j] || !shapesEqual(a[i], b[j], o)) continue;
      used[j] = true;
      if (match(i + 1)) return true;
      used[j] = false;
    }
    return false;
  };
  return match(0);
}

/** Whether two final answers are mathematically equal (see the module comment for the rules). */
export function answersEquivalent(predicted: string, reference: string, options: Partial<MathGradeOptions> = {}): boolean {
  const o = { ...DEFAULT_GRADE, ...options };
  const a = normalizeAnswer(predicted);
  const b = normalizeAnswer(reference);
  if (a === '' || b === '') return false;
  if (a.replace(/\s+/g, '') === b.replace(/\s+/g, '')) return true;
  return shapesEqual(shapeOf(a), shapeOf(b), o);
}

/** Grades a response against a reference answer (a `\boxed{}` in the reference is extracted first). */
export function gradeAnswer(response: string, reference: string, options: Partial<MathGradeOptions> = {}): MathGrade {
  const extracted = extractFinalAnswer(response);
  if (extracted === null) return { correct: false, extracted: null };
  const ref = extractBoxed(reference) ?? reference;
  return { correct: answersEquivalent(extracted, ref, options), extracted };
}
