/**
 * Sample JSONL to evaluation metrics: validation naming the line and field, then `algos/metrics`.
 * A line: {"id": .., "correct": [bool..], "answers"?: [string|null..]}, n samples per problem.
 * Every problem must have the same n (an error names the first line that differs): pass@k with a
 * per-problem n would mix estimators, and silently truncating to the minimum would hide a broken run.
 */
import { sampleMetrics, type ProblemSamples, type SampleMetrics } from '../algos/index.js';
import { describeValue, inputError } from '../util/errors.js';
import type { JsonlRecord } from '../util/fs.js';
import { Rng } from '../util/rng.js';

export function parseSamples(records: readonly JsonlRecord[], source: string): ProblemSamples[] {
  if (records.length === 0) throw inputError(source, 'no problems (the input is empty)');
  let n = -1;
  let firstLine = 0;
  return records.map(({ line, value }) => {
    const where = `${source}:${line}`;
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw inputError(where, `expected a JSON object, got ${describeValue(value)}`);
    const rec = value as Record<string, unknown>;
    if (rec.id === undefined) throw inputError(`${where}: id`, 'missing');
    const correct = rec.correct;
    if (!Array.isArray(correct) || correct.length === 0) throw inputError(`${where}: correct`, `expected a non-empty array of booleans, got ${describeValue(correct)}`);
    correct.forEach((c, i) => {
      if (typeof c !== 'boolean') throw inputError(`${where}: correct`, `expected a boolean at index ${i}, got ${describeValue(c)}`);
    });
    if (n < 0) {
      n = correct.length;
      firstLine = line;
    } else if (correct.length !== n) {
      throw inputError(`${where}: correct`, `expected ${n} samples (as on line ${firstLine}), got ${correct.length}`);
    }
    const problem: ProblemSamples = { correct: correct as boolean[] };
    if (rec.answers !== undefined) {
      const answers = rec.answers;
      if (!Array.isArray(answers) || answers.length !== n) throw inputError(`${where}: answers`, `expected ${n} answers (the length of correct), got ${describeValue(answers)}`);
      answers.forEach((a, i) => {
        if (typeof a !== 'string' && a !== null) throw inputError(`${where}: answers`, `expected a string or null at index ${i}, got ${describeValue(a)}`);
      });
      problem.answers = answers as (string | null)[];
    }
    return problem;
  });
}

/** Metrics of parsed samples; intervals from a seeded bootstrap, so the same seed gives the same output. */
export function evaluateSamples(problems: readonly ProblemSamples[], seed = 0, resamples = 1000): SampleMetrics {
  return sampleMetrics(problems, new Rng(seed), resamples);
}
