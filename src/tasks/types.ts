/**
 * One interface for every task a trainer, evaluator or search can run on.
 *
 * A task is either a *text* task (arith, math: the policy reads a prompt string and writes a response
 * string, which a tokenizer turns into ids) or a *token* task (planted: the policy emits ids from a small
 * vocabulary directly, with no text at all). Code that handles both switches on `kind`.
 *
 * Steps (for PRL step filling and PAV progress) follow SPEC.md: in a text task a step ends at each
 * occurrence of `stepDelimiter` (the step spec `text:<delimiter>`); in a token task every `stepLength`
 * tokens form a step (`length:<stepLength>`).
 */
import type { Rng } from '../util/rng.js';

/** One prompt of a text task, with what is needed to judge a response to it. */
export interface TextProblem {
  /** Stable identifier (unique within the task), used in logs and result files. */
  readonly id: string;
  /** The exact text the policy is conditioned on (template already applied). */
  readonly prompt: string;
  /** The reference final answer as text, when the task has one. */
  readonly answer: string;
  /** Task-specific data the task's own functions use (e.g. the parsed expression); opaque to callers. */
  readonly meta?: Readonly<Record<string, unknown>>;
}

/** A supervised (prompt, response) pair for a warm start; `correct` is the outcome reward of the response. */
export interface SftExample {
  readonly prompt: string;
  readonly response: string;
  readonly correct: boolean;
}

/** Which step of a response is the first wrong one (PAV tests: does progress drop where the error is?). */
export interface StepCheck {
  /** Number of steps found in the response (lines, the answer line included). */
  readonly steps: number;
  /** 0-based index of the first wrong step, or null when every step is right. */
  readonly firstWrong: number | null;
  /** Why that step is wrong (absent when none is). */
  readonly reason?: string;
}

/** A task whose prompts and responses are text. */
export interface TextTask {
  readonly kind: 'text';
  /** Registry name (`arith`, `math`, ...). */
  readonly name: string;
  /** Text that ends a step (SPEC.md `text:DELIM`); "\n" for line-per-step tasks. */
  readonly stepDelimiter: string;
  /**
   * Every character the task's prompts and responses use, for a character-level tokenizer
   * (`CharTokenizer` built from this plus the special tokens below). Absent for tasks meant for a
   * pretrained subword tokenizer (math).
   */
  readonly alphabet?: string;
  /** Special tokens a character tokenizer must add; the response ends with the first of them. */
  readonly specialTokens: readonly string[];
  /** Upper bound on response length in characters that a well-formed response needs (generation budget). */
  readonly maxResponseChars: number;
  /** The fixed training split; the same array contents for the same options, every call. */
  trainProblems(): TextProblem[];
  /** The fixed evaluation split, disjoint from the training split. */
  evalProblems(): TextProblem[];
  /** Outcome reward r(x, a) in [0, 1] of a decoded response (without the end token). */
  reward(problem: TextProblem, responseText: string): number;
  /** The final answer a response commits to, or null when it gives none (used by maj@n). */
  extractAnswer(responseText: string): string | null;
  /** Step-level correctness of a response, where the task can judge it. */
  checkSteps?(problem: TextProblem, responseText: string): StepCheck;
  /** A supervised corpus for the warm start, drawn from the training split with `rng`. */
  sftCorpus?(count: number, rng: Rng): SftExample[];
}

/** One prompt of a token task: the ids the policy is conditioned on (empty for planted). */
export interface TokenProblem {
  readonly id: string;
  readonly promptTokens: readonly number[];
}

/** A task whose responses are token ids from a small vocabulary, judged without any text. */
export interface TokenTask {
  readonly kind: 'tokens';
  readonly name: string;
  /** Number of token ids, 0..vocabSize-1. */
  readonly vocabSize: number;
  /** The end-of-sequence id: it and everything after it are masked (mask 0). */
  readonly eosToken: number;
  /** Response length in tokens (responses are padded with `eosToken` after the end). */
  readonly responseLength: number;
  /** Tokens per step (SPEC.md `length:L`). */
  readonly stepLength: number;
  trainProblems(): TokenProblem[];
  evalProblems(): TokenProblem[];
  /** Outcome reward of a response (ids; anything after the first `eosToken` is ignored). */
  reward(problem: TokenProblem, responseTokens: readonly number[]): number;
  /** Response mask: 1 for tokens before the first `eosToken`, 0 for it and after. */
  responseMask(responseTokens: readonly number[]): number[];
  /** A supervised corpus of responses for the warm start (e.g. samples from a prover). */
  sftCorpus?(count: number, rng: Rng): number[][];
}

export type Task = TextTask | TokenTask;
