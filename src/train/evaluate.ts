/**
 * Held-out evaluation of an engine policy on a task: n samples per problem at the papers' temperature,
 * then avg@n, pass@k (unbiased) and maj@n with bootstrap intervals.
 */
import { sampleMetrics, type ProblemSamples, type SampleMetrics } from '../algos/index.js';
import type { LlamaModel } from '../engine/model.js';
import { generate } from '../engine/sampler.js';
import { Rng } from '../util/rng.js';
import type { CodedProblem, TaskCodec } from '../tasks/codec.js';

export interface EvaluationOptions {
  samples: number;
  temperature: number;
  maxNewTokens: number;
  seed: number;
  /** Sequences per generate call. */
  batchSize?: number;
}

export interface Evaluation {
  metrics: SampleMetrics;
  problems: Array<ProblemSamples & { id: string; texts: string[] }>;
}

/** A seed for the evaluation at `step` that does not touch the training RNG stream. */
export function evaluationSeed(seed: number, step: number): number {
  return (Math.imul(seed + 1, 0x9e3779b1) ^ Math.imul(step + 1, 0x85ebca77)) >>> 0;
}

export function evaluatePolicy(model: LlamaModel, codec: TaskCodec, problems: readonly CodedProblem[], options: EvaluationOptions): Evaluation {
  const rng = new Rng(options.seed);
  const n = options.samples;
  const perCall = Math.max(1, Math.floor((options.batchSize ?? 128) / n));
  const results: Evaluation['problems'] = [];
  for (let start = 0; start < problems.length; start += perCall) {
    const chunk = problems.slice(start, start + perCall);
    const prompts = chunk.flatMap((p) => Array.from({ length: n }, () => p.promptTokens));
    const samples = generate(model, prompts, { maxNewTokens: options.maxNewTokens, temperature: options.temperature, stopTokens: codec.stopIds, rng });
    chunk.forEach((problem, i) => {
      const reads = samples.slice(i * n, (i + 1) * n).map((s) => codec.read(problem, s.tokens));
      results.push({ id: problem.id, correct: reads.map((r) => r.reward >= 1), answers: reads.map((r) => r.answer), texts: reads.map((r) => r.text) });
    });
  }
  const withAnswers = results.every((r) => r.answers!.some((a) => a !== null));
  const metrics = sampleMetrics(results.map((r) => (withAnswers ? r : { correct: r.correct })), rng, 1000);
  return { metrics, problems: results };
}
