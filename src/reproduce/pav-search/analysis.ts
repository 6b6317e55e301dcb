/**
 * pav-search's statistics, pure functions of per-problem outcomes: accuracy and tokens of each sampling
 * method at N, bootstrap intervals over problems, the token ratio at equal accuracy and its interval,
 * and accuracy at a given compute.
 */
import { mean, passAtK } from '../../algos/index.js';
import { selectFrom, type ProblemSamples } from '../../pav/search.js';
import { Rng } from '../../util/rng.js';
import { r4 } from '../numbers.js';

/** A point of an accuracy-against-compute curve, with its 95% bootstrap interval over problems. */
export interface CurvePoint {
  /** N for best-of-N and votes, B for beam search. */
  n: number;
  accuracy: number;
  lo: number;
  hi: number;
  tokensPerProblem: number;
  /** Sampled responses (best-of-N) or sampled steps (beam search) per problem. */
  samplesPerProblem: number;
}

/** Per-problem accuracy and tokens of one curve point: what the bootstrap resamples. */
export interface PerProblem {
  n: number;
  correct: number[];
  tokens: number[];
  samples: number[];
}

/**
 * Per-problem outcomes of the sample-based methods at N: best-of-N by the ORM, majority, weighted
 * majority and any-correct, each averaged over the floor(maxN / N) disjoint blocks of N samples (every
 * block is an independent draw of N, so the average is unbiased and less noisy than the first N alone);
 * pass@N uses the unbiased estimator over all maxN samples instead.
 */
export function sampleMethodsAt(samples: readonly ProblemSamples[], n: number): Record<'bon' | 'maj' | 'wmaj' | 'pass', PerProblem> {
  const blank = (): PerProblem => ({ n, correct: [], tokens: [], samples: [] });
  const out = { bon: blank(), maj: blank(), wmaj: blank(), pass: blank() };
  for (const s of samples) {
    const maxN = s.rewards.length;
    const blocks = Math.floor(maxN / n);
    const sums = { bon: 0, maj: 0, wmaj: 0, tokens: 0 };
    for (let b = 0; b < blocks; b++) {
      const picked = selectFrom(s, b * n, n);
      sums.bon += picked.bon ? 1 : 0;
      sums.maj += picked.maj ? 1 : 0;
      sums.wmaj += picked.wmaj ? 1 : 0;
      sums.tokens += picked.tokens;
    }
    const tokens = sums.tokens / blocks;
    for (const method of ['bon', 'maj', 'wmaj'] as const) {
      out[method].correct.push(sums[method] / blocks);
      out[method].tokens.push(tokens);
      out[method].samples.push(n);
    }
    out.pass.correct.push(passAtK(maxN, s.rewards.filter((r) => r >= 1).length, n));
    out.pass.tokens.push(tokens);
    out.pass.samples.push(n);
  }
  return out;
}

/** Mean accuracy with its 95% percentile bootstrap interval over problems, and the mean compute. */
export function curvePoint(p: PerProblem, rng: Rng, resamples: number): CurvePoint {
  const count = p.correct.length;
  const means = new Float64Array(resamples);
  for (let r = 0; r < resamples; r++) {
    let sum = 0;
    for (let i = 0; i < count; i++) sum += p.correct[rng.int(count)];
    means[r] = sum / count;
  }
  means.sort();
  const at = (q: number): number => means[Math.min(resamples - 1, Math.floor(q * resamples))];
  return { n: p.n, accuracy: r4(mean(p.correct)), lo: r4(at(0.025)), hi: r4(at(0.975)), tokensPerProblem: r1(mean(p.tokens)), samplesPerProblem: r1(mean(p.samples)) };
}

/**
 * Compute ratio at equal accuracy: reference tokens over the tokens of the cheapest candidate whose
 * accuracy is at least the reference's (candidates in any order); null when none reaches it.
 */
export function ratioAtEqualAccuracy<T extends { accuracy: number; tokensPerProblem: number }>(reference: { accuracy: number; tokensPerProblem: number }, candidates: readonly T[]): { ratio: number; at: T } | null {
  const reaching = candidates.filter((c) => c.accuracy >= reference.accuracy).sort((a, b) => a.tokensPerProblem - b.tokensPerProblem);
  return reaching.length === 0 ? null : { ratio: reference.tokensPerProblem / reaching[0].tokensPerProblem, at: reaching[0] };
}

/** The most accurate point, the cheapest among equals. */
export function mostAccurate<T extends { accuracy: number; tokensPerProblem: number }>(points: readonly T[]): T {
  return points.reduce((best, p) => (p.accuracy > best.accuracy || (p.accuracy === best.accuracy && p.tokensPerProblem < best.tokensPerProblem) ? p : best));
}

/**
 * The ratio on `resamples` bootstrap resamples of the problems (the same indices for the references and
 * every candidate: they ran on the same problems); in each resample the reference is the most accurate
 * of `references` (one reference: that one), so choosing the best N is part of the noise. Unreached
 * resamples sort below every ratio.
 */
export function bootstrapRatio(references: readonly PerProblem[], candidates: readonly PerProblem[], rng: Rng, resamples: number): { lo: number | null; hi: number | null; reachedShare: number } {
  const count = references[0].correct.length;
  const ratios: number[] = [];
  let reached = 0;
  const summaryOf = (p: PerProblem, idx: readonly number[]) => ({ accuracy: mean(idx.map((i) => p.correct[i])), tokensPerProblem: mean(idx.map((i) => p.tokens[i])) });
  for (let r = 0; r < resamples; r++) {
    const idx = Array.from({ length: count }, () => rng.int(count));
    const found = ratioAtEqualAccuracy(mostAccurate(references.map((p) => summaryOf(p, idx))), candidates.map((c) => summaryOf(c, idx)));
    ratios.push(found === null ? -Infinity : found.ratio);
    if (found !== null) reached++;
  }
  ratios.sort((a, b) => a - b);
  const at = (q: number): number | null => {
    const x = ratios[Math.min(resamples - 1, Math.floor(q * resamples))];
    return Number.isFinite(x) ? r3(x) : null;
  };
  return { lo: at(0.025), hi: at(0.975), reachedShare: r4(reached / resamples) };
}

/** Accuracy of a curve at `tokens`, linear in log tokens between its points (clamped at the ends). */
export function accuracyAtTokens(points: readonly { accuracy: number; tokensPerProblem: number }[], tokens: number): number {
  const sorted = [...points].sort((a, b) => a.tokensPerProblem - b.tokensPerProblem);
  if (tokens <= sorted[0].tokensPerProblem) return sorted[0].accuracy;
  for (let i = 1; i < sorted.length; i++) {
    if (tokens <= sorted[i].tokensPerProblem) {
      const [a, b] = [sorted[i - 1], sorted[i]];
      const t = (Math.log(tokens) - Math.log(a.tokensPerProblem)) / (Math.log(b.tokensPerProblem) - Math.log(a.tokensPerProblem));
      return a.accuracy + t * (b.accuracy - a.accuracy);
    }
  }
  return sorted[sorted.length - 1].accuracy;
}

/**
 * The most accurate best-of-N affordable with `tokens` per problem: the best measured point at or below
 * that many tokens, or the curve interpolated to exactly `tokens` (log tokens) if that is higher. A
 * fixed N would let a best-of-N that falls with N look worse than its user would make it.
 */
export function bestOfNEnvelope(points: readonly { accuracy: number; tokensPerProblem: number }[], tokens: number): number {
  const affordable = points.filter((p) => p.tokensPerProblem <= tokens).map((p) => p.accuracy);
  return Math.max(accuracyAtTokens(points, tokens), ...affordable);
}

function r1(x: number): number {
  return Math.round(x * 10) / 10;
}

export function r3(x: number): number {
  return Math.round(x * 1e3) / 1e3;
}
