/**
 * Comparison of shapes: scalars by normalised text, plain numbers directly, else through the Compute Engine
 * (@cortex-js/compute-engine): numeric values with relative tolerance, expressions with free variables at
 * fixed points, equations as lhs - rhs up to a nonzero factor. Every comparison spends from a `Budget`: an
 * expression whose evaluation could explode (a power tower, a huge factorial or sum) or that arrives after
 * the deadline is judged unequal and the budget marked exceeded.
 */
import { ComputeEngine } from '@cortex-js/compute-engine';
import type { Shape } from './structure.js';

// The package's own type exports do not resolve under NodeNext (extensionless re-exports): derive the type.
type BoxedExpression = ReturnType<ComputeEngine['parse']>;

/** Tolerances of numeric equality: |a - b| <= relTol * max(|a|, |b|) + absTol. */
export interface Tolerance {
  relTol: number;
  absTol: number;
}

/** Time left to one comparison; `exceeded` records that a part of it was cut short. */
export interface Budget {
  deadline: number;
  exceeded: boolean;
}

interface Context {
  tolerance: Tolerance;
  budget: Budget;
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

interface Parsed {
  expr: BoxedExpression | null;
  /** True when the input was too large or too costly to evaluate (counted as exceeding the budget). */
  refused: boolean;
}
const parseCache = new Map<string, Parsed>();
// Answers are short; a longer one is a runaway generation, not worth a parse.
const MAX_LATEX_LENGTH = 1000;

function parseUncached(latex: string): Parsed {
  if (latex.length > MAX_LATEX_LENGTH) return { expr: null, refused: true };
  engine ??= new ComputeEngine();
  try {
    const parsed = quietly(() => engine!.parse(latex));
    if (!parsed.isValid) return { expr: null, refused: false };
    return tooCostly(parsed.json) ? { expr: null, refused: true } : { expr: parsed, refused: false };
  } catch {
    return { expr: null, refused: false };
  }
}

/** Parses LaTeX once (cached); null when the engine cannot make a valid, safely evaluable expression of it. */
function parseLatex(latex: string, budget: Budget): BoxedExpression | null {
  let parsed = parseCache.get(latex);
  if (parsed === undefined) {
    parsed = parseUncached(latex);
    if (parseCache.size > 20000) parseCache.clear();
    parseCache.set(latex, parsed);
  }
  if (parsed.refused) budget.exceeded = true;
  return parsed.expr;
}

type Json = unknown;

/** A float estimate of a constant subexpression (NaN when it has symbols); only to size evaluations. */
function estimate(json: Json): number {
  if (typeof json === 'number') return json;
  if (typeof json === 'string') return json === 'Pi' ? Math.PI : json === 'ExponentialE' ? Math.E : NaN;
  if (!Array.isArray(json)) {
    const num = (json as { num?: unknown } | null)?.num;
    return typeof num === 'string' ? Number(num) : NaN;
  }
  const [head, ...args] = json as [string, ...Json[]];
  const values = args.map(estimate);
  switch (head) {
    case 'Power': return Math.pow(values[0], values[1]);
    case 'Multiply': return values.reduce((a, b) => a * b, 1);
    case 'Add': return values.reduce((a, b) => a + b, 0);
    case 'Negate': return -values[0];
    case 'Divide': case 'Rational': return values[0] / values[1];
    case 'Factorial': return values[0] > 170 ? Infinity : values[0];
    default: return NaN;
  }
}

// Digits an exact power may have, a factorial's largest argument, terms a sum or product may add.
const MAX_POWER_DIGITS = 1e5;
const MAX_FACTORIAL = 5000;
const MAX_TERMS = 1e4;

/** True when evaluating the expression could take unbounded time (the engine's own limits are not reliable). */
function tooCostly(json: Json): boolean {
  if (!Array.isArray(json)) return false;
  const [head, ...args] = json as [string, ...Json[]];
  if (head === 'Power') {
    const base = Math.abs(estimate(args[0]));
    const exponent = Math.abs(estimate(args[1]));
    if (exponent * Math.log10(Math.max(base, 2)) > MAX_POWER_DIGITS) return true;
  }
  if ((head === 'Factorial' || head === 'Factorial2' || head === 'Gamma') && estimate(args[0]) > MAX_FACTORIAL) return true;
  if (head === 'Sum' || head === 'Product') {
    for (const limits of args.slice(1)) {
      if (!Array.isArray(limits) || limits.length < 4) return true;
      const count = estimate(limits[3]) - estimate(limits[2]);
      if (!(count <= MAX_TERMS)) return true;
    }
  }
  return args.some(tooCostly);
}

/** True (and the budget marked) once the deadline has passed: the caller stops and judges unequal. */
function outOfTime(budget: Budget): boolean {
  if (!budget.exceeded && Date.now() > budget.deadline) budget.exceeded = true;
  return budget.exceeded;
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

function close(a: number, b: number, t: Tolerance): boolean {
  if (a === b) return true;
  if (!Number.isFinite(a) || !Number.isFinite(b)) return false;
  return Math.abs(a - b) <= t.relTol * Math.max(Math.abs(a), Math.abs(b)) + t.absTol;
}

// Evaluation points for free variables: distinct, non-integer, inside the domains of log/sqrt/trig.
const POINTS = [0.5377, 1.8339, 2.2588, 0.8622, 1.3188];

/** Values of an expression at the fixed points (one per point; null where it is not a finite number). */
function valuesAtPoints(expr: BoxedExpression, variables: readonly string[], budget: Budget): Array<[number, number] | null> {
  if (variables.length === 0) return [numericValue(expr)];
  return [0, 1, 2].map((p) => {
    if (outOfTime(budget)) return null;
    const subs: Record<string, BoxedExpression> = {};
    variables.forEach((v, j) => (subs[v] = engine!.number(POINTS[(p + 2 * j) % POINTS.length] + 0.1 * j)));
    try {
      return numericValue(quietly(() => expr.subs(subs)));
    } catch {
      return null;
    }
  });
}

/** Index variables of sums and products (`k` in \sum_{k=1}^{10} k) are bound, not free. */
function boundVariables(json: Json, into: Set<string>): Set<string> {
  if (!Array.isArray(json)) return into;
  const [head, ...args] = json as [string, ...Json[]];
  if (head === 'Sum' || head === 'Product' || head === 'Integrate') {
    for (const limits of args.slice(1)) if (Array.isArray(limits) && typeof limits[1] === 'string') into.add(limits[1]);
  }
  args.forEach((a) => boundVariables(a, into));
  return into;
}

function freeVariables(...exprs: BoxedExpression[]): string[] {
  const bound = new Set<string>();
  exprs.forEach((e) => boundVariables(e.json, bound));
  return [...new Set(exprs.flatMap((e) => [...e.freeVariables]))].filter((v) => !bound.has(v)).sort();
}

/** Equal as functions: equal values (re and im) at every point where both are defined, and some such point. */
function sameValues(a: BoxedExpression, b: BoxedExpression, c: Context): boolean {
  const variables = freeVariables(a, b);
  const va = valuesAtPoints(a, variables, c.budget);
  const vb = valuesAtPoints(b, variables, c.budget);
  if (c.budget.exceeded) return false;
  let compared = 0;
  for (let i = 0; i < va.length; i++) {
    const x = va[i];
    const y = vb[i];
    if (x === null || y === null) {
      if (x !== y) return false;
      continue;
    }
    if (!close(x[0], y[0], c.tolerance) || !close(x[1], y[1], c.tolerance)) return false;
    compared++;
  }
  return compared > 0;
}

/**
 * Equations are equal when lhs - rhs of one is a nonzero constant multiple of the other's; null when
 * neither has a variable (then the caller compares values).
 */
function sameEquation(a: string[], b: string[], c: Context): boolean | null {
  const da = parseLatex(`(${a[0]})-(${a[1]})`, c.budget);
  const db = parseLatex(`(${b[0]})-(${b[1]})`, c.budget);
  if (!da || !db) return false;
  const variables = freeVariables(da, db);
  if (variables.length === 0) return null;
  const va = valuesAtPoints(da, variables, c.budget);
  const vb = valuesAtPoints(db, variables, c.budget);
  let ratio: number | null = null;
  for (let i = 0; i < va.length; i++) {
    const x = va[i];
    const y = vb[i];
    if (x === null || y === null || x[1] !== 0 || y[1] !== 0) return false;
    if (x[0] === 0 || y[0] === 0) {
      if (!close(x[0], y[0], c.tolerance)) return false;
      continue;
    }
    const r = x[0] / y[0];
    if (ratio === null) ratio = r;
    else if (!close(r, ratio, c.tolerance)) return false;
  }
  return ratio !== null;
}

const PLAIN_WORDS = /^[A-Za-z]{2,}(?: [A-Za-z]+)*$/;
const PLAIN_INTEGER = /^[+-]?\d+$/;
const PLAIN_NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

function valuesEqual(a: string, b: string, c: Context): boolean {
  if (a.replace(/\s+/g, '') === b.replace(/\s+/g, '')) return true;
  if (PLAIN_WORDS.test(a) || PLAIN_WORDS.test(b)) return a.toLowerCase() === b.toLowerCase();
  // Two plain decimals need no parser (the common case, and much faster).
  if (PLAIN_NUMBER.test(a) && PLAIN_NUMBER.test(b)) {
    // Integers are exact: 1000001 is not 1000000 at any relative tolerance.
    if (PLAIN_INTEGER.test(a) && PLAIN_INTEGER.test(b)) return BigInt(a) === BigInt(b);
    return close(Number(a), Number(b), c.tolerance);
  }
  if (outOfTime(c.budget)) return false;
  const pa = parseLatex(a, c.budget);
  const pb = parseLatex(b, c.budget);
  if (!pa || !pb) return false;
  return sameValues(pa, pb, c);
}

/** Scalars; a percent is its number or its hundredth (28% is 28 or 0.28), never anything else. */
function scalarsEqual(a: string, b: string, c: Context): boolean {
  const aPercent = a.endsWith('%');
  const bPercent = b.endsWith('%');
  if (aPercent || bPercent) {
    const x = aPercent ? a.slice(0, -1).trim() : a;
    const y = bPercent ? b.slice(0, -1).trim() : b;
    if (valuesEqual(x, y, c)) return true;
    if (aPercent === bPercent) return false;
    return aPercent ? valuesEqual(`(${x})/100`, y, c) : valuesEqual(x, `(${y})/100`, c);
  }
  return valuesEqual(a, b, c);
}

/** A chain (`=`, `\approx`, a lettered choice) against a plain answer: its last part or its alternative. */
function chainMatches(chain: Extract<Shape, { kind: 'chain' }>, other: Shape, c: Context): boolean {
  const candidates = [chain.parts[chain.parts.length - 1]];
  if (chain.alternative >= 0 && chain.alternative !== chain.parts.length - 1) candidates.push(chain.parts[chain.alternative]);
  return candidates.some((part) => shapesEqual(part, other, c));
}

function chainsEqual(a: Extract<Shape, { kind: 'chain' }>, b: Extract<Shape, { kind: 'chain' }>, c: Context): boolean {
  if (a.texts.length === 2 && b.texts.length === 2 && a.alternative < 0 && b.alternative < 0) {
    const same = sameEquation(a.texts, b.texts, c);
    if (same !== null) return same;
  }
  return shapesEqual(a.parts[a.parts.length - 1], b.parts[b.parts.length - 1], c);
}

/** Whether two shapes are equal under the rules in docs/grading.md. */
export function shapesEqual(a: Shape, b: Shape, c: Context): boolean {
  if (outOfTime(c.budget)) return false;
  if (a.kind === 'chain' && b.kind === 'chain') return chainsEqual(a, b, c);
  if (a.kind === 'chain') return chainMatches(a, b, c);
  if (b.kind === 'chain') return chainMatches(b, a, c);
  if (a.kind === 'scalar' && b.kind === 'scalar') return scalarsEqual(a.text, b.text, c);
  // A one-element set is its element.
  if (a.kind === 'unordered' && a.items.length === 1 && b.kind !== 'unordered') return shapesEqual(a.items[0], b, c);
  if (b.kind === 'unordered' && b.items.length === 1 && a.kind !== 'unordered') return shapesEqual(a, b.items[0], c);
  if (a.kind === 'ordered' && b.kind === 'ordered') {
    return a.open === b.open && a.close === b.close && a.items.length === b.items.length
      && a.items.every((x, i) => shapesEqual(x, b.items[i], c));
  }
  if (a.kind === 'matrix' && b.kind === 'matrix') {
    return a.rows.length === b.rows.length && a.rows.every((row, i) => row.length === b.rows[i].length
      && row.every((x, j) => shapesEqual(x, b.rows[i][j], c)));
  }
  if (a.kind === 'unordered' && b.kind === 'unordered') return sameMultiset(a.items, b.items, c);
  // A set written in braces against the same elements in parentheses.
  // Labelled values `x = 3, y = 4` against the tuple (3, 4): in the order written.
  if (a.kind === 'unordered' && !a.braced && a.items.every((x) => x.kind === 'chain') && b.kind === 'ordered' && b.open === '(') {
    return a.items.length === b.items.length && a.items.every((x, i) => shapesEqual(x, b.items[i], c));
  }
  if (b.kind === 'unordered' && !b.braced && b.items.every((x) => x.kind === 'chain') && a.kind === 'ordered') return shapesEqual(b, a, c);
  if (a.kind === 'unordered' && a.braced && b.kind === 'ordered' && b.open === '(' && b.close === ')') return sameMultiset(a.items, b.items, c);
  if (b.kind === 'unordered' && b.braced && a.kind === 'ordered') return shapesEqual(b, a, c);
  return false;
}

/** A perfect matching between two small collections under `shapesEqual` (backtracking, within the budget). */
function sameMultiset(a: Shape[], b: Shape[], c: Context): boolean {
  if (a.length !== b.length) return false;
  const used = new Array<boolean>(b.length).fill(false);
  const match = (i: number): boolean => {
    if (i === a.length) return true;
    for (let j = 0; j < b.length; j++) {
      if (used[j] || !shapesEqual(a[i], b[j], c)) continue;
      used[j] = true;
      if (match(i + 1)) return true;
      used[j] = false;
    }
    return false;
  };
  return match(0);
}
