/**
 * Synthetic multi-step arithmetic: a small, fully checkable reasoning task for a character-level model.
 *
 *   prompt:    "Q: 17+25*3-8\n"
 *   response:  "25*3=75\n17+75=92\n92-8=84\nA: 84"
 *
 * One reduction per line (a step, delimiter "\n"), in a fixed canonical order: the leftmost `*` first
 * while any is left (precedence), then the leftmost `+`/`-` (left to right). The last line is the answer.
 * The reward is 1 iff the first `A:` line holds the true value. Every step can be checked, so PAV code can
 * be tested against the first wrong step (`checkSteps`).
 *
 * The warm-start corpus (`sftCorpus`) has a per-step error rate: a wrong step gets a wrong result, and the
 * following steps compute correctly from it, so the error propagates to a wrong final answer, as a model's
 * slip would. With error rate e and n steps a trace is right with probability (1 - e)^n (0.34 for the
 * defaults), so a model that imitates the corpus lands near that pass@1 and RL has room to improve.
 */
import { inputError } from '../util/errors.js';
import { Rng } from '../util/rng.js';
import type { SftExample, StepCheck, TextProblem, TextTask } from './types.js';

export type ArithOperator = '+' | '-' | '*';

export interface ArithOptions {
  /** Operators per expression, which is also the number of step lines (default 3). */
  operations: number;
  /** Digits per operand, drawn uniformly in [minDigits, maxDigits] (defaults 1, 1: sized for a CPU-trained policy). */
  minDigits: number;
  maxDigits: number;
  /** Operators to draw from (default "+-*"). */
  operators: string;
  /** Sizes of the fixed splits (defaults 5000 and 500). */
  trainSize: number;
  evalSize: number;
  /** Seed of the splits; the same seed gives the same problems. */
  seed: number;
  /** Probability that a step of a warm-start trace is wrong (default 0.3). */
  errorRate: number;
  /**
   * Problems of the warm-start corpus: `train` (default) draws from the train split; `fresh` draws a new random
   * expression for every example (never an eval one), for a model that should learn the arithmetic itself
   * rather than the split (e.g. a verifier's trunk; the split is capped at a quarter of all expressions).
   */
  corpus: 'train' | 'fresh';
}

export const DEFAULT_ARITH: ArithOptions = {
  operations: 3,
  minDigits: 1,
  maxDigits: 1,
  operators: '+-*',
  trainSize: 5000,
  evalSize: 500,
  seed: 1234,
  errorRate: 0.3,
  corpus: 'train',
};

/** An expression: operands[0] op[0] operands[1] op[1] ... */
export interface ArithExpression {
  readonly operands: readonly number[];
  readonly operators: readonly ArithOperator[];
}

/** One reduction: `left op right = result`. */
export interface ArithStep {
  readonly left: number;
  readonly operator: ArithOperator;
  readonly right: number;
  readonly result: number;
}

export function formatExpression(expr: ArithExpression): string {
  let text = String(expr.operands[0]);
  for (let i = 0; i < expr.operators.length; i++) text += expr.operators[i] + String(expr.operands[i + 1]);
  return text;
}

export function formatStep(step: ArithStep): string {
  return `${step.left}${step.operator}${step.right}=${step.result}`;
}

function apply(left: number, operator: ArithOperator, right: number): number {
  return operator === '+' ? left + right : operator === '-' ? left - right : left * right;
}

/** Index of the operator the canonical order reduces next: leftmost `*`, else leftmost. */
function nextOperatorIndex(operators: readonly ArithOperator[]): number {
  const star = operators.indexOf('*');
  return star === -1 ? 0 : star;
}

/** Replaces operands[i] op[i] operands[i+1] by `result`. */
function reduce(expr: ArithExpression, i: number, result: number): ArithExpression {
  const operands = [...expr.operands.slice(0, i), result, ...expr.operands.slice(i + 2)];
  const operators = [...expr.operators.slice(0, i), ...expr.operators.slice(i + 1)];
  return { operands, operators };
}

/**
 * The canonical solution trace. `corrupt(stepIndex, correctResult)` may return a different result for a
 * step (an error); later steps then compute correctly from the corrupted value.
 */
export function solveSteps(
  expr: ArithExpression,
  corrupt: (stepIndex: number, correct: number) => number = (_i, correct) => correct,
): ArithStep[] {
  const steps: ArithStep[] = [];
  let state = expr;
  while (state.operators.length > 0) {
    const i = nextOperatorIndex(state.operators);
    const left = state.operands[i];
    const right = state.operands[i + 1];
    const operator = state.operators[i];
    const result = corrupt(steps.length, apply(left, operator, right));
    steps.push({ left, operator, right, result });
    state = reduce(state, i, result);
  }
  return steps;
}

/** The true value of an expression (`*` before `+`/`-`, then left to right). */
export function evaluateExpression(expr: ArithExpression): number {
  const steps = solveSteps(expr);
  return steps.length === 0 ? expr.operands[0] : steps[steps.length - 1].result;
}

/** A full response for a trace: one step per line, then `A: <value>`. */
export function formatResponse(expr: ArithExpression, steps: readonly ArithStep[]): string {
  const value = steps.length === 0 ? expr.operands[0] : steps[steps.length - 1].result;
  return [...steps.map(formatStep), `A: ${value}`].join('\n');
}

const ANSWER_LINE = /^\s*A\s*:\s*([+-]?\d+)\s*\.?\s*$/;
const STEP_LINE = /^\s*(-?\d+)\s*([+\-*])\s*(-?\d+)\s*=\s*(-?\d+)\s*$/;

/** The integer on the first `A:` line of a response, or null when there is none. */
export function extractArithAnswer(responseText: string): string | null {
  for (const line of responseText.split('\n')) {
    const match = ANSWER_LINE.exec(line);
    if (match) return String(Number(match[1]));
  }
  return null;
}

function checkOptions(o: ArithOptions): void {
  const int = (v: number, lo: number, field: string): void => {
    if (!Number.isInteger(v) || v < lo) throw inputError(`arith: ${field}`, `must be an integer >= ${lo}, got ${v}`);
  };
  int(o.operations, 1, 'operations');
  int(o.minDigits, 1, 'minDigits');
  int(o.maxDigits, o.minDigits, 'maxDigits');
  int(o.trainSize, 0, 'trainSize');
  int(o.evalSize, 0, 'evalSize');
  int(o.seed, 0, 'seed');
  if (o.operators.length === 0 || [...o.operators].some((c) => !'+-*'.includes(c))) {
    throw inputError('arith: operators', `must be a non-empty subset of "+-*", got ${JSON.stringify(o.operators)}`);
  }
  if (!(o.errorRate >= 0 && o.errorRate <= 1)) throw inputError('arith: errorRate', 'must be in [0, 1]');
  if (o.corpus !== 'train' && o.corpus !== 'fresh') throw inputError('arith: corpus', `must be "train" or "fresh", got ${JSON.stringify(o.corpus)}`);
  // Every intermediate value must be an exact double: |value| <= (10^maxDigits)^(operations+1).
  if (o.maxDigits * (o.operations + 1) > 15) {
    throw inputError('arith: maxDigits', 'maxDigits * (operations + 1) must be <= 15 so that every value is exact');
  }
  const operandValues = 10 ** o.maxDigits;
  const space = operandValues ** (o.operations + 1) * new Set(o.operators).size ** o.operations;
  if (o.trainSize + o.evalSize > space / 4) {
    throw inputError('arith: trainSize', `train + eval (${o.trainSize + o.evalSize}) is too large for ~${space} distinct expressions`);
  }
}

function randomOperand(o: ArithOptions, rng: Rng): number {
  const digits = o.minDigits + rng.int(o.maxDigits - o.minDigits + 1);
  const low = digits === 1 ? 0 : 10 ** (digits - 1);
  return low + rng.int(10 ** digits - low);
}

function randomExpression(o: ArithOptions, rng: Rng): ArithExpression {
  const operands = Array.from({ length: o.operations + 1 }, () => randomOperand(o, rng));
  const operators = Array.from({ length: o.operations }, () => o.operators[rng.int(o.operators.length)] as ArithOperator);
  return { operands, operators };
}

/** A wrong result near the right one, with the same sign (so traces never show "--"). */
function wrongResult(correct: number, rng: Rng): number {
  while (true) {
    const delta = (1 + rng.int(9)) * (rng.next() < 0.5 ? -1 : 1);
    const wrong = correct + delta;
    if (wrong >= 0 === correct >= 0) return wrong;
  }
}

/** A text problem for an expression; `meta.expression` keeps the parsed form for checking. */
function toProblem(expr: ArithExpression, id: string): TextProblem {
  return {
    id,
    prompt: `Q: ${formatExpression(expr)}\n`,
    answer: String(evaluateExpression(expr)),
    meta: { expression: expr },
  };
}

function expressionOf(problem: TextProblem): ArithExpression {
  const expr = problem.meta?.expression as ArithExpression | undefined;
  if (!expr) throw new Error(`arith: problem ${problem.id} has no expression (not an arith problem)`);
  return expr;
}

/**
 * Step-by-step check of a response against the canonical solution: step h is wrong when it is not a
 * step line, reduces other operands than the canonical next reduction, or has a wrong result; the line
 * after the last reduction must be the true answer. A response that stops early is wrong at the first
 * missing line (`firstWrong` = number of lines).
 */
export function checkArithSteps(problem: TextProblem, responseText: string): StepCheck {
  let state = expressionOf(problem);
  const lines = responseText.split('\n');
  while (lines.length > 0 && lines[lines.length - 1].trim() === '') lines.pop();
  for (let h = 0; h < lines.length; h++) {
    if (state.operators.length === 0) {
      const answer = ANSWER_LINE.exec(lines[h]);
      if (!answer) return { steps: h + 1, firstWrong: h, reason: 'expected the answer line' };
      if (Number(answer[1]) !== state.operands[0]) return { steps: h + 1, firstWrong: h, reason: 'wrong answer' };
      return { steps: h + 1, firstWrong: null };
    }
    const match = STEP_LINE.exec(lines[h]);
    if (!match) return { steps: lines.length, firstWrong: h, reason: 'not a step line' };
    const i = nextOperatorIndex(state.operators);
    const [left, operator, right, result] = [Number(match[1]), match[2], Number(match[3]), Number(match[4])];
    if (left !== state.operands[i] || operator !== state.operators[i] || right !== state.operands[i + 1]) {
      return { steps: lines.length, firstWrong: h, reason: 'not the next reduction' };
    }
    if (result !== apply(left, operator, right)) return { steps: lines.length, firstWrong: h, reason: 'wrong result' };
    state = reduce(state, i, result);
  }
  return { steps: lines.length, firstWrong: lines.length, reason: 'response ends before the answer' };
}

/** Draws `count` distinct expressions, skipping any whose text is in `exclude`. */
function drawDistinct(o: ArithOptions, rng: Rng, count: number, exclude: ReadonlySet<string>): ArithExpression[] {
  const seen = new Set<string>();
  const out: ArithExpression[] = [];
  while (out.length < count) {
    const expr = randomExpression(o, rng);
    const text = formatExpression(expr);
    if (seen.has(text) || exclude.has(text)) continue;
    seen.add(text);
    out.push(expr);
  }
  return out;
}

/** The arith task. Splits are drawn once, eagerly: eval first, then train with every eval expression excluded. */
export function arithTask(options: Partial<ArithOptions> = {}): TextTask & { readonly options: ArithOptions } {
  const o: ArithOptions = { ...DEFAULT_ARITH, ...options };
  checkOptions(o);
  const root = new Rng(o.seed);
  const evalExprs = drawDistinct(o, root.fork(), o.evalSize, new Set());
  const evalTexts = new Set(evalExprs.map(formatExpression));
  const trainExprs = drawDistinct(o, root.fork(), o.trainSize, evalTexts);
  const evalProblems = evalExprs.map((e, i) => toProblem(e, `arith-eval-${i}`));
  const trainProblems = trainExprs.map((e, i) => toProblem(e, `arith-train-${i}`));
  const alphabet = [...new Set('0123456789-=QA: \n' + o.operators)].sort().join('');
  const maxValueDigits = o.maxDigits * (o.operations + 1) + 1; // sign included
  return {
    kind: 'text',
    name: 'arith',
    options: o,
    stepDelimiter: '\n',
    alphabet,
    specialTokens: ['<eos>'],
    maxResponseChars: o.operations * (3 * maxValueDigits + 3) + maxValueDigits + 3,
    trainProblems: () => [...trainProblems],
    evalProblems: () => [...evalProblems],
    reward: (problem, responseText) => (extractArithAnswer(responseText) === problem.answer ? 1 : 0),
    extractAnswer: extractArithAnswer,
    checkSteps: checkArithSteps,
    sftCorpus: (count, rng) => {
      const out: SftExample[] = [];
      for (let n = 0; n < count; n++) {
        const problem = o.corpus === 'train' ? trainProblems[rng.int(trainProblems.length)] : toProblem(drawDistinct(o, rng, 1, evalTexts)[0], 'arith-fresh');
        const expr = expressionOf(problem);
        let steps = solveSteps(expr, (_i, correct) => (rng.next() < o.errorRate ? wrongResult(correct, rng) : correct));
        // An error can be cancelled (x*0, or two errors): redraw the errors so a flawed trace ends wrong.
        for (let retry = 0; retry < 10; retry++) {
          const flawed = steps.some((s) => s.result !== apply(s.left, s.operator, s.right));
          if (!flawed || steps[steps.length - 1].result !== Number(problem.answer)) break;
          steps = solveSteps(expr, (_i, correct) => (rng.next() < o.errorRate ? wrongResult(correct, rng) : correct));
        }
        const response = formatResponse(expr, steps);
        out.push({ prompt: problem.prompt, response, correct: extractArithAnswer(response) === problem.answer });
      }
      return out;
    },
  };
}
