/**
 * The math grader: is the final answer of a response mathematically equal to the reference answer?
 * One job per file: `extract.ts` finds the final answer (all boxes, closing lines), `normalize.ts` removes
 * LaTeX that does not change the value, `structure.ts` reads tuples, sets, intervals, inequalities, chains
 * and matrices, `compare.ts` compares them (Compute Engine for expressions). The rules, with an example
 * each, are the table in docs/grading.md. Not a string match: `\frac{1}{2}`, `0.5` and `\dfrac12` are one
 * answer; and strict where answers differ: a list is not its sum, `32, 349` is not 32349.
 *
 * Every comparison is bounded: an expression the engine could take unbounded time on is refused before
 * evaluation, and the clock is checked between steps, so an answer past `timeoutMs` is judged unequal with
 * `timedOut` set. A single engine call cannot be interrupted in-process; `bounded.ts` runs the grader in a
 * worker thread that is terminated at the deadline, for batch grading (`prl grade`).
 */
import { shapesEqual, type Budget, type Tolerance } from './compare.js';
import { extractBoxed, extractFinalAnswer, predictionAnswer } from './extract.js';
import { normalizeAnswer } from './normalize.js';
import { shapeOf } from './structure.js';

export { extractBoxed, extractBoxes, extractFinalAnswer, predictionAnswer, referenceAnswer } from './extract.js';
export { normalizeAnswer } from './normalize.js';

/** Tolerances of numeric equality and the time bound of one comparison. */
export interface MathGradeOptions extends Tolerance {
  /** Milliseconds one comparison may take before it is judged unequal (and counted as timed out). */
  timeoutMs: number;
  /** The response holds only the final answer (its boxes if any, else the whole text), not a solution. */
  predictionOnly: boolean;
}

export const DEFAULT_TIMEOUT_MS = 2000;
const DEFAULT_GRADE: MathGradeOptions = { relTol: 1e-9, absTol: 1e-12, timeoutMs: DEFAULT_TIMEOUT_MS, predictionOnly: false };

/** Result of grading one response. */
export interface MathGrade {
  correct: boolean;
  /** The final answer found in the response (before normalisation), or null when there is none. */
  extracted: string | null;
  /** True when the comparison was cut short (time or an expression too costly to evaluate): judged unequal. */
  timedOut: boolean;
}

/** Equality of two final answers, and whether the comparison was cut short (then `equal` is false). */
export interface Comparison {
  equal: boolean;
  timedOut: boolean;
}

// "1000,99" against one number is a decimal comma; "1, 5" (with a space) stays a list.
const DECIMAL_COMMA = /^-?\d+,\d+$/;

/** One comparison under `budget` (shared by every comparison of one grade). */
function compareWithin(predicted: string, reference: string, o: MathGradeOptions, budget: Budget): boolean {
  let a = normalizeAnswer(predicted);
  let b = normalizeAnswer(reference);
  if (a === '' || b === '') return false;
  if (a.replace(/\s+/g, '') === b.replace(/\s+/g, '')) return true;
  if (DECIMAL_COMMA.test(a) && shapeOf(b).kind === 'scalar') a = a.replace(',', '.');
  if (DECIMAL_COMMA.test(b) && shapeOf(a).kind === 'scalar') b = b.replace(',', '.');
  const context = { tolerance: o, budget };
  if (shapesEqual(shapeOf(a), shapeOf(b), context)) return !budget.exceeded;
  // `y = -\frac{2}{3}x + 2` lost its `y =` above; against `2x + 3y = 6` it is an equation.
  if (!predicted.includes('=') || !reference.includes('=')) return false;
  const equations = [normalizeAnswer(predicted, true), normalizeAnswer(reference, true)];
  if (equations[0] === a && equations[1] === b) return false;
  return shapesEqual(shapeOf(equations[0]), shapeOf(equations[1]), context) && !budget.exceeded;
}

function budgetOf(o: MathGradeOptions): Budget {
  return { deadline: Date.now() + o.timeoutMs, exceeded: false };
}

/** Compares two final answers under the rules of docs/grading.md, within `timeoutMs`. */
export function compareAnswers(predicted: string, reference: string, options: Partial<MathGradeOptions> = {}): Comparison {
  const o = { ...DEFAULT_GRADE, ...options };
  const budget = budgetOf(o);
  const equal = compareWithin(predicted, reference, o, budget);
  return { equal, timedOut: budget.exceeded };
}

/** Whether two final answers are mathematically equal (see docs/grading.md for the rules). */
export function answersEquivalent(predicted: string, reference: string, options: Partial<MathGradeOptions> = {}): boolean {
  return compareAnswers(predicted, reference, options).equal;
}

/**
 * Grades a response against a reference answer (a `\boxed{}` in the reference is extracted first). One
 * budget covers the whole grade, including telling apart the boxes of a response with several.
 */
export function gradeAnswer(response: string, reference: string, options: Partial<MathGradeOptions> = {}): MathGrade {
  const o = { ...DEFAULT_GRADE, ...options };
  const budget = budgetOf(o);
  const same = (x: string, y: string): boolean => compareWithin(x, y, o, budget);
  const extracted = o.predictionOnly ? predictionAnswer(response, same) : extractFinalAnswer(response, same);
  if (extracted === null) return { correct: false, extracted: null, timedOut: budget.exceeded };
  const correct = compareWithin(extracted, extractBoxed(reference) ?? reference, o, budget);
  return { correct, extracted, timedOut: budget.exceeded };
}
