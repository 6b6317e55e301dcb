/**
 * The `math` task: competition problems from JSONL files (MATH500, AIME, ...) for a pretrained model.
 * The reward is the math grader's verdict (`verify/math.ts`): 1 iff the response's final answer
 * (`\boxed{}`, `####` or "the answer is") is mathematically equal to the reference.
 */
import { inputError } from '../util/errors.js';
import { readJsonl } from '../util/fs.js';
import { extractFinalAnswer, gradeAnswer, referenceAnswer } from '../verify/math.js';
import type { TextProblem, TextTask } from './types.js';

export const DEFAULT_MATH_TEMPLATE = '{problem}\nPlease reason step by step, and put your final answer within \\boxed{}.';

export interface MathTaskOptions {
  /** JSONL of training problems (optional: math data is often evaluation-only). */
  trainData?: string;
  /** JSONL of evaluation problems. */
  evalData?: string;
  /** Field holding the problem statement (default "problem"). */
  problemField: string;
  /** Field holding the reference: a final answer, a solution with `\boxed{}`, or a list string (default "answer"). */
  answerField: string;
  /** Field used as the problem id, when present (default "unique_id", else file:line). */
  idField: string;
  /** Prompt template; `{problem}` is replaced by the problem text. */
  template: string;
  /** Step delimiter for PRL/PAV (default "\n": steps are lines, as in PAV). */
  stepDelimiter: string;
  /** Generation budget in characters. */
  maxResponseChars: number;
}

export const DEFAULT_MATH: MathTaskOptions = {
  problemField: 'problem',
  answerField: 'answer',
  idField: 'unique_id',
  template: DEFAULT_MATH_TEMPLATE,
  stepDelimiter: '\n',
  maxResponseChars: 8192,
};

/** Reads problems from a JSONL file; a missing or empty field is an error naming file, line and field. */
export function loadMathProblems(file: string, options: MathTaskOptions): TextProblem[] {
  if (!options.template.includes('{problem}')) throw inputError('math: template', 'must contain {problem}');
  return readJsonl(file).map(({ line, value }) => {
    const where = `${file}:${line}`;
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw inputError(where, 'not a JSON object');
    const record = value as Record<string, unknown>;
    const problem = record[options.problemField];
    if (typeof problem !== 'string' || problem.trim() === '') {
      throw inputError(`${where}: ${options.problemField}`, 'missing or not a non-empty string');
    }
    const answer = referenceAnswer(record[options.answerField]);
    if (answer === null || answer.trim() === '') {
      throw inputError(`${where}: ${options.answerField}`, 'missing or not a usable answer');
    }
    const id = record[options.idField];
    return {
      id: typeof id === 'string' || typeof id === 'number' ? String(id) : `${file}:${line}`,
      prompt: options.template.split('{problem}').join(problem),
      answer,
    };
  });
}

/** The math task over JSONL files; the files are read once, when the task is made. */
export function mathTask(options: Partial<MathTaskOptions> = {}): TextTask & { readonly options: MathTaskOptions } {
  const o: MathTaskOptions = { ...DEFAULT_MATH, ...options };
  if (o.trainData === undefined && o.evalData === undefined) {
    throw inputError('math: data', 'give trainData and/or evalData (JSONL files of problems)');
  }
  const train = o.trainData === undefined ? [] : loadMathProblems(o.trainData, o);
  const evaluation = o.evalData === undefined ? [] : loadMathProblems(o.evalData, o);
  return {
    kind: 'text',
    name: 'math',
    options: o,
    stepDelimiter: o.stepDelimiter,
    specialTokens: [],
    maxResponseChars: o.maxResponseChars,
    trainProblems: () => [...train],
    evalProblems: () => [...evaluation],
    reward: (problem, responseText) => (gradeAnswer(responseText, problem.answer).correct ? 1 : 0),
    extractAnswer: (text) => extractFinalAnswer(text),
  };
}
