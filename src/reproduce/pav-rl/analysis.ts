/**
 * pav-rl's statistics, pure functions of the runs' numbers: steps to an accuracy threshold, the sample
 * efficiency ratio, Newcombe's interval of a difference, and the agreement of learned with exact values.
 */
import { wilsonInterval } from '../../pav/labels.js';
import type { MeanInterval } from '../stats.js';
import { sig } from '../numbers.js';

/** Steps until a curve first reaches `threshold`; `reached: false` with `steps` = the last step when it never does. */
export interface StepsToThreshold {
  steps: number;
  reached: boolean;
}

/** The first evaluated step whose accuracy is >= threshold (curves are sorted by step). */
export function stepsToThreshold(curve: ReadonlyArray<{ step: number; value: number }>, threshold: number): StepsToThreshold {
  if (curve.length === 0) throw new RangeError('stepsToThreshold: empty curve');
  const hit = curve.find((p) => p.value >= threshold);
  return hit ? { steps: hit.step, reached: true } : { steps: curve[curve.length - 1].step, reached: false };
}

/**
 * Sample efficiency outcome steps / PAV steps. `exact` when both reach the threshold; `lower bound` when
 * only PAV does (outcome-only would need more than its whole budget); `upper bound` when only outcome-only
 * does; `neither` when neither does. Reaching it at step 0 (the warm start) takes 0 steps: the ratio is
 * then undefined (null) unless both are 0 (1, no difference).
 */
export function sampleEfficiency(outcome: StepsToThreshold, pav: StepsToThreshold): { ratio: number | null; bound: 'exact' | 'lower bound' | 'upper bound' | 'neither' } {
  if (!outcome.reached && !pav.reached) return { ratio: null, bound: 'neither' };
  const bound = outcome.reached && pav.reached ? 'exact' : pav.reached ? 'lower bound' : 'upper bound';
  if (pav.steps === 0) return { ratio: outcome.steps === 0 ? 1 : null, bound };
  return { ratio: outcome.steps / pav.steps, bound };
}

/** Newcombe's hybrid score interval for p1 - p2 from two Wilson intervals (Newcombe 1998, method 10). */
export function newcombeDifference(s1: number, n1: number, s2: number, n2: number): Required<MeanInterval> {
  const p1 = s1 / n1;
  const p2 = s2 / n2;
  const [l1, u1] = wilsonInterval(s1, n1);
  const [l2, u2] = wilsonInterval(s2, n2);
  const d = p1 - p2;
  return { mean: d, lo: d - Math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), hi: d + Math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2) };
}

/** Pearson correlation, mean absolute error and population spreads of (exact, learned) pairs. */
export function agreement(pairs: ReadonlyArray<readonly [number, number]>): { correlation: number; mae: number; sdExact: number; sdLearned: number } {
  const n = pairs.length;
  if (n === 0) throw new RangeError('agreement: no pairs');
  const mx = pairs.reduce((s, [x]) => s + x, 0) / n;
  const my = pairs.reduce((s, [, y]) => s + y, 0) / n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  let abs = 0;
  for (const [x, y] of pairs) {
    sxy += (x - mx) * (y - my);
    sxx += (x - mx) ** 2;
    syy += (y - my) ** 2;
    abs += Math.abs(x - y);
  }
  const correlation = sxx > 0 && syy > 0 ? sxy / Math.sqrt(sxx * syy) : 0;
  return { correlation: sig(correlation), mae: sig(abs / n), sdExact: sig(Math.sqrt(sxx / n)), sdLearned: sig(Math.sqrt(syy / n)) };
}
