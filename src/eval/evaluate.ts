/**
 * Evaluation with the papers' protocol: n samples per problem at temperature 1.0, graded by the math
 * grader, reported as avg@n, pass@k and maj@n per benchmark with bootstrap intervals.
 *
 * The results file is the run's state: one JSONL line per finished problem (`{benchmark, id, ...,
 * correct, answers}`), appended and fsynced as each problem finishes. A rerun reads it, skips the
 * problems already there and appends the rest, so an interrupted run resumes where it stopped and
 * nothing is counted twice. A torn last line (a crash mid-write) is cut off before appending.
 * Each problem's seed derives from its key, not its position, so a resumed run samples what an
 * uninterrupted one would have. A problem the policy cannot take (`PromptError`: a character the
 * tokenizer lacks, a prompt too long for the model) gets a `{benchmark, id, skipped}` line: it is counted
 * and reported, and the run goes on.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, truncateSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { bootstrapMeanIntervals, passAtK, sampleMetrics, type SampleMetrics } from '../algos/metrics.js';
import type { Policy, Prompt } from '../policy/types.js';
import { chatRenderer } from '../tasks/chat.js';
import { PrlError, PromptError, describeValue, inputError } from '../util/errors.js';
import { readJsonl } from '../util/fs.js';
import { Rng } from '../util/rng.js';
import { gradeAnswer, normalizeAnswer, referenceAnswer } from '../verify/math.js';

/** The instruction the math-RL papers append to each problem (Qwen2.5-Math / DeepSeek convention). */
export const BOXED_INSTRUCTION = 'Please reason step by step, and put your final answer within \\boxed{}.';

export interface EvalProblem {
  benchmark: string;
  id: string;
  problem: string;
  answer: string;
}

/** One finished problem: a line of the results file. */
export interface ProblemResult {
  benchmark: string;
  id: string;
  answer: string;
  responses: string[];
  /** The extracted final answer of each response (null: none found). */
  answers: Array<string | null>;
  correct: boolean[];
  finishReasons: string[];
}

/** A problem the policy could not take, with the reason: a line of the results file too. */
export interface SkippedProblem {
  benchmark: string;
  id: string;
  skipped: string;
}

export type ProblemOutcome = ProblemResult | SkippedProblem;

export function isSkipped(outcome: ProblemOutcome): outcome is SkippedProblem {
  return 'skipped' in outcome;
}

/** Reads problems from a JSONL file; `benchmark` defaults to the file's base name. Errors name line and field. */
export function readProblems(path: string, problemField: string, answerField: string, benchmark = benchmarkName(path)): EvalProblem[] {
  const records = readJsonl(path);
  if (records.length === 0) throw inputError(path, 'no problems (the file is empty)');
  const seen = new Set<string>();
  return records.map(({ line, value }) => {
    const where = `${path}:${line}`;
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw inputError(where, `expected a JSON object, got ${describeValue(value)}`);
    const rec = value as Record<string, unknown>;
    const problem = rec[problemField];
    if (typeof problem !== 'string' || problem === '') throw inputError(`${where}: ${problemField}`, `expected the problem text, got ${describeValue(problem)}`);
    const answer = referenceAnswer(rec[answerField]);
    if (answer === null) throw inputError(`${where}: ${answerField}`, `expected a reference answer, got ${describeValue(rec[answerField])}`);
    const rawId = rec.id ?? rec.unique_id ?? rec.idx;
    const id = typeof rawId === 'string' || typeof rawId === 'number' ? String(rawId) : `line${line}`;
    if (seen.has(id)) throw inputError(`${where}: id`, `${JSON.stringify(id)} appears twice`);
    seen.add(id);
    return { benchmark, id, problem, answer };
  });
}

/** `data/math/aime24.jsonl` -> `aime24`. */
export function benchmarkName(path: string): string {
  return (path.split(/[\\/]/).pop() ?? path).replace(/\.jsonl$/, '');
}

/** A prompt builder: `{problem}` in a plain template, or a Jinja chat template (HF `chat_template`). */
export function promptBuilder(template: { plain: string } | { chat: string; bosToken?: string; eosToken?: string }): (problem: string) => string {
  if ('plain' in template) {
    if (!template.plain.includes('{problem}')) throw inputError('--template', 'must contain {problem}');
    return (problem) => template.plain.split('{problem}').join(problem);
  }
  const render = chatRenderer(template.chat, { bosToken: template.bosToken, eosToken: template.eosToken });
  return (problem) => render(`${problem}\n${BOXED_INSTRUCTION}`);
}

/** The problems already in `path` by key, after cutting a torn last line; lines of other runs are errors. */
export function readFinished(path: string, n: number): Map<string, ProblemOutcome> {
  const finished = new Map<string, ProblemOutcome>();
  if (!existsSync(path)) return finished;
  const text = readFileSync(path, 'utf8');
  const complete = text.lastIndexOf('\n') + 1;
  if (complete < text.length) truncateSync(path, Buffer.byteLength(text.slice(0, complete)));
  text
    .slice(0, complete)
    .split('\n')
    .forEach((raw, i) => {
      if (raw.trim() === '') return;
      const where = `${path}:${i + 1}`;
      let r: ProblemOutcome;
      try {
        r = JSON.parse(raw) as ProblemOutcome;
      } catch (err) {
        throw inputError(where, `not valid JSON (${(err as Error).message}); this file is the run's state, fix or remove it`);
      }
      if (typeof r !== 'object' || r === null || typeof r.benchmark !== 'string' || typeof r.id !== 'string') {
        throw inputError(where, 'expected a result line with benchmark and id; this file is the run\'s state, fix or remove it');
      }
      if (!isSkipped(r) && (!Array.isArray(r.correct) || r.correct.length !== n)) {
        throw inputError(`${where}: correct`, `has ${Array.isArray(r.correct) ? r.correct.length : 0} samples, but this run asks for n = ${n} (use another --out)`);
      }
      // The metrics read these fields of a resumed line as they read a fresh one's.
      if (isSkipped(r)) {
        if (typeof r.skipped !== 'string') throw inputError(`${where}: skipped`, `expected the reason, got ${describeValue(r.skipped)}`);
      } else {
        if (!r.correct.every((c) => typeof c === 'boolean')) throw inputError(`${where}: correct`, 'expected booleans');
        if (!Array.isArray(r.answers) || r.answers.length !== n || !r.answers.every((a) => typeof a === 'string' || a === null)) {
          throw inputError(`${where}: answers`, `expected ${n} strings or nulls`);
        }
      }
      const key = problemKey(r);
      if (!finished.has(key)) finished.set(key, r);
    });
  return finished;
}

function problemKey(p: { benchmark: string; id: string }): string {
  return `${p.benchmark}\u0000${p.id}`;
}

/** The seed of one problem: from the run seed and the problem's key, independent of order. */
export function problemSeed(seed: number, p: { benchmark: string; id: string }): number {
  let h = 0x811c9dc5 ^ (seed >>> 0);
  for (const ch of problemKey(p)) h = Math.imul(h ^ ch.charCodeAt(0), 0x01000193) >>> 0;
  return h >>> 1;
}

export interface EvaluateOptions {
  policy: Policy;
  problems: readonly EvalProblem[];
  prompt: (problem: string) => Prompt;
  /** The results file (JSONL, appended, fsynced). */
  out: string;
  n: number;
  maxTokens: number;
  temperature?: number;
  topP?: number;
  seed?: number;
  /** Problems sampled at once (requests in flight). */
  concurrency?: number;
  onProgress?: (done: number, total: number) => void;
}

/** Samples and grades every problem not yet in `out`; returns all outcomes (old and new) in problem order. */
export async function evaluate(options: EvaluateOptions): Promise<ProblemOutcome[]> {
  const { policy, problems, n } = options;
  const finished = readFinished(options.out, n);
  const todo = problems.filter((p) => !finished.has(problemKey(p)));
  mkdirSync(dirname(options.out), { recursive: true });
  const fd = openSync(options.out, 'a');
  let done = problems.length - todo.length;
  options.onProgress?.(done, problems.length);
  try {
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < todo.length) {
        const p = todo[next++];
        let completions;
        let outcome: ProblemOutcome;
        try {
          [completions] = await policy.sample({
            prompts: [options.prompt(p.problem)],
            n,
            temperature: options.temperature ?? 1,
            topP: options.topP,
            maxTokens: options.maxTokens,
            seed: problemSeed(options.seed ?? 0, p),
          });
          const grades = completions.map((c) => gradeAnswer(c.text, p.answer));
          outcome = {
            benchmark: p.benchmark,
            id: p.id,
            answer: p.answer,
            responses: completions.map((c) => c.text),
            answers: grades.map((g) => g.extracted),
            correct: grades.map((g) => g.correct),
            finishReasons: completions.map((c) => String(c.finishReason)),
          };
        } catch (err) {
          if (err instanceof PromptError) outcome = { benchmark: p.benchmark, id: p.id, skipped: err.message };
          else if (err instanceof PrlError) throw new PrlError(`${p.benchmark} problem ${p.id}: ${err.message} (finished problems are kept in ${options.out}; rerun to resume)`, { cause: err });
          else throw err;
        }
        writeSync(fd, JSON.stringify(outcome) + '\n');
        fsyncSync(fd);
        finished.set(problemKey(p), outcome);
        options.onProgress?.(++done, problems.length);
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, options.concurrency ?? 4) }, worker));
  } finally {
    closeSync(fd);
  }
  return problems.map((p) => finished.get(problemKey(p))!);
}

/** Metrics of one benchmark, with the count of problems the policy could not take (left out of the metrics). */
export type BenchmarkMetrics = SampleMetrics & { skipped: number };

/**
 * avg@n, pass@k (the requested ks, default `passKs(n)`), maj@n (votes over normalised extracted
 * answers) and 95% bootstrap intervals, per benchmark, from `sampleMetrics`; skipped problems are counted.
 */
export function benchmarkMetrics(outcomes: readonly ProblemOutcome[], ks: readonly number[] | undefined, seed = 0): Record<string, BenchmarkMetrics> {
  const byBenchmark = new Map<string, ProblemOutcome[]>();
  for (const r of outcomes) byBenchmark.set(r.benchmark, [...(byBenchmark.get(r.benchmark) ?? []), r]);
  const out: Record<string, BenchmarkMetrics> = {};
  for (const [name, all] of byBenchmark) {
    const rs = all.filter((r): r is ProblemResult => !isSkipped(r));
    const skipped = all.length - rs.length;
    if (rs.length === 0) throw new PrlError(`${name}: the policy could take none of its ${skipped} problems (first reason: ${(all[0] as SkippedProblem).skipped})`);
    const n = rs[0].correct.length;
    const samples = rs.map((r) => ({ correct: r.correct, answers: r.answers.map((a) => (a === null ? null : normalizeAnswer(a))) }));
    const metrics = sampleMetrics(samples, new Rng(seed));
    if (ks !== undefined) {
      for (const k of ks) if (k > n) throw new PrlError(`--k: pass@${k} needs at least ${k} samples per problem (n = ${n})`);
      const ci = metrics.ci95 as Record<string, [number, number]>;
      for (const key of Object.keys(metrics)) {
        if (key.startsWith('pass@') && !ks.includes(Number(key.slice(5)))) {
          delete metrics[key];
          delete ci[key];
        }
      }
      for (const k of ks.filter((k) => metrics[`pass@${k}`] === undefined)) {
        const scores = rs.map((r) => passAtK(n, r.correct.filter(Boolean).length, k));
        metrics[`pass@${k}`] = scores.reduce((a, b) => a + b, 0) / scores.length;
        ci[`pass@${k}`] = bootstrapMeanIntervals([scores], new Rng(seed))[0];
      }
    }
    out[name] = { ...metrics, skipped };
  }
  return out;
}
