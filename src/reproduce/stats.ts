/**
 * Intervals for reproductions. Two sources of noise: the problems a run is evaluated on (a bootstrap
 * over problems, within one run) and the training run itself (seeds). Seeds are the unit for final
 * metrics when there are at least two: a Student-t interval over per-seed values. With one seed only
 * the bootstrap over problems is available, and it ignores training noise, which reports say.
 */
import { Rng } from '../util/rng.js';

/** Two-sided 97.5% quantiles of Student's t for 1..30 degrees of freedom (standard table values). */
const T_975 = [
  12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11, 2.101, 2.093, 2.086, 2.08, 2.074,
  2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042,
];

/** t_{0.975, df}; above 30 degrees of freedom the normal 1.96 (within 2% of t). */
export function tQuantile975(df: number): number {
  if (!(df >= 1) || !Number.isInteger(df)) throw new RangeError(`tQuantile975: degrees of freedom must be a positive integer, got ${df}`);
  return df <= T_975.length ? T_975[df - 1] : 1.96;
}

/** A mean with its 95% interval; `lo`/`hi` are absent when one value cannot bound anything. */
export interface MeanInterval {
  mean: number;
  lo?: number;
  hi?: number;
}

/** Mean of `values` and the 95% Student-t interval mean ± t_{0.975,k-1} s / sqrt(k) (s the unbiased sd). */
export function seedInterval(values: readonly number[]): MeanInterval {
  const k = values.length;
  if (k === 0) throw new RangeError('seedInterval: no values');
  const mean = values.reduce((a, b) => a + b, 0) / k;
  if (k === 1) return { mean };
  const sd = Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / (k - 1));
  const half = (tQuantile975(k - 1) * sd) / Math.sqrt(k);
  return { mean, lo: mean - half, hi: mean + half };
}

/**
 * Paired percentile bootstrap of mean(a - b) over problems (a[i], b[i] score the same problem):
 * `resamples` draws of problem indices with replacement, the 2.5% and 97.5% quantiles of the mean
 * difference. Pairing removes the problem-difficulty variance both methods share.
 */
export function pairedBootstrap(a: readonly number[], b: readonly number[], rng: Rng, resamples = 1000): Required<MeanInterval> {
  if (a.length !== b.length || a.length === 0) throw new RangeError(`pairedBootstrap: need two equal, non-empty score lists, got ${a.length} and ${b.length}`);
  const diff = a.map((x, i) => x - b[i]);
  const n = diff.length;
  const mean = diff.reduce((s, d) => s + d, 0) / n;
  const means = new Float64Array(resamples);
  for (let r = 0; r < resamples; r++) {
    let sum = 0;
    for (let i = 0; i < n; i++) sum += diff[rng.int(n)];
    means[r] = sum / n;
  }
  means.sort();
  const at = (q: number): number => means[Math.min(resamples - 1, Math.max(0, Math.floor(q * resamples)))];
  return { mean, lo: at(0.025), hi: at(0.975) };
}

/** How an interval of a difference reads: above zero, below zero, or straddling it. */
export function differenceVerdict(interval: MeanInterval): 'better' | 'worse' | 'no detectable difference' {
  if (interval.lo !== undefined && interval.lo > 0) return 'better';
  if (interval.hi !== undefined && interval.hi < 0) return 'worse';
  return 'no detectable difference';
}
