/**
 * Evaluation metrics over n samples per problem, each with a bootstrap confidence interval over
 * problems. SPEC.md "Metrics".
 */
import { Rng } from '../util/rng.js';

/**
 * Unbiased pass@k from n samples with c correct (Chen et al. 2021, Codex): 1 - C(n-c, k) / C(n, k),
 * computed as the stable product 1 - prod_{i=n-c+1..n} (1 - k/i); exactly 1 when n - c < k.
 */
export function passAtK(n: number, c: number, k: number): number {
  if (!(k >= 1 && k <= n && c >= 0 && c <= n)) throw new RangeError(`passAtK: need 1 <= k <= n and 0 <= c <= n, got n=${n} c=${c} k=${k}`);
  if (n - c < k) return 1;
  let prodFail = 1;
  for (let i = n - c + 1; i <= n; i++) prodFail *= 1 - k / i;
  return 1 - prodFail;
}

/** Mean correctness of one problem's samples (avg@n is its mean over problems). */
export function meanCorrect(correct: readonly boolean[]): number {
  return correct.length === 0 ? 0 : correct.filter(Boolean).length / correct.length;
}

/**
 * Majority vote: the index of the first sample carrying the most frequent answer; ties go to the
 * answer seen first. Samples without an answer (null) do not vote; -1 when none has one.
 */
export function majorityIndex(answers: readonly (string | null)[]): number {
  const votes = new Map<string, { count: number; first: number }>();
  answers.forEach((a, i) => {
    if (a === null) return;
    const v = votes.get(a);
    if (v) v.count++;
    else votes.set(a, { count: 1, first: i });
  });
  let best = -1;
  let bestCount = 0;
  for (const { count, first } of votes.values()) {
    // Map iterates in first-seen order, so a strict > keeps the first of tied answers.
    if (count > bestCount) {
      best = first;
      bestCount = count;
    }
  }
  return best;
}

/** maj@n of one problem: 1 if the majority answer's (first) sample is correct, else 0. */
export function majorityCorrect(answers: readonly (string | null)[], correct: readonly boolean[]): number {
  const i = majorityIndex(answers);
  return i >= 0 && correct[i] ? 1 : 0;
}

/**
 * Percentile bootstrap interval for the mean over problems of several per-problem scores at once
 * (each resample draws problems with replacement, the same draw for every score). Returns [lo, hi] per
 * score, at `level` (default 0.95), quantiles by linear interpolation.
 */
export function bootstrapMeanIntervals(
  scores: readonly (readonly number[])[], // (metrics, problems)
  rng: Rng,
  resamples = 1000,
  level = 0.95,
): Array<[number, number]> {
  const P = scores.length === 0 ? 0 : scores[0].length;
  if (P === 0) return scores.map(() => [NaN, NaN]);
  const means = scores.map(() => new Float64Array(resamples));
  const pick = new Int32Array(P);
  for (let b = 0; b < resamples; b++) {
    for (let p = 0; p < P; p++) pick[p] = rng.int(P);
    scores.forEach((s, m) => {
      let sum = 0;
      for (let p = 0; p < P; p++) sum += s[pick[p]];
      means[m][b] = sum / P;
    });
  }
  const tail = (1 - level) / 2;
  return means.map((m) => {
    m.sort();
    return [quantile(m, tail), quantile(m, 1 - tail)];
  });
}

/** Linear-interpolation quantile of sorted values (numpy's default). */
export function quantile(sorted: ArrayLike<number>, q: number): number {
  const pos = q * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo] + (pos - lo) * (sorted[hi] - sorted[lo]);
}

/** The k reported for n samples: powers of two below n, and n itself. */
export function passKs(n: number): number[] {
  const ks: number[] = [];
  for (let k = 1; k < n; k *= 2) ks.push(k);
  ks.push(n);
  return ks;
}

export interface ProblemSamples {
  correct: readonly boolean[];
  answers?: readonly (string | null)[];
}

/** Keys `avg@n`, `pass@k` for each k of `passKs(n)`, `maj@n` (when answers are given), and `ci95`. */
export interface SampleMetrics {
  problems: number;
  n: number;
  [metric: string]: number | Record<string, [number, number]>;
}

/**
 * avg@n, pass@k and maj@n over problems that all have n samples, with bootstrap intervals under
 * `ci95` (seeded by `rng`). maj@n appears only when every problem has answers.
 */
export function sampleMetrics(problems: readonly ProblemSamples[], rng: Rng, resamples = 1000): SampleMetrics {
  const n = problems[0]?.correct.length ?? 0;
  if (problems.some((p) => p.correct.length !== n)) throw new RangeError('sampleMetrics: every problem needs the same number of samples');
  const names: string[] = [`avg@${n}`];
  const scores: number[][] = [problems.map((p) => meanCorrect(p.correct))];
  for (const k of passKs(n)) {
    names.push(`pass@${k}`);
    scores.push(problems.map((p) => passAtK(n, p.correct.filter(Boolean).length, k)));
  }
  if (problems.length > 0 && problems.every((p) => p.answers !== undefined)) {
    names.push(`maj@${n}`);
    scores.push(problems.map((p) => majorityCorrect(p.answers!, p.correct)));
  }
  const intervals = bootstrapMeanIntervals(scores, rng, resamples);
  const result: SampleMetrics = { problems: problems.length, n };
  const ci95: Record<string, [number, number]> = {};
  names.forEach((name, m) => {
    result[name] = scores[m].reduce((a, b) => a + b, 0) / Math.max(1, scores[m].length);
    ci95[name] = intervals[m];
  });
  result.ci95 = ci95;
  return result;
}
