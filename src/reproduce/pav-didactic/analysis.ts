/**
 * The curves and comparisons of pav-didactic: accuracy over training, first iteration to a threshold,
 * pass@N, paired arm comparisons and the prover's strength. Pure functions of the runs' numbers.
 */
import { mean, passAtK } from '../../algos/index.js';
import { PAPER_PLANTED, PlantedProver, PlantedValues } from '../../tasks/planted.js';
import { seedInterval, type MeanInterval } from '../stats.js';
import { r4, roundInterval, sig4 } from '../numbers.js';

/** pass@N of one policy from `samples` draws, with the raw count it comes from. */
export interface PassEvaluation {
  samples: number;
  correct: number;
  /** Sampled responses (task tokens, end token and padding included) for the report's traces. */
  traces: number[][];
}

/** A 95% interval; absent with one seed. */
export interface Bounds {
  lo?: number;
  hi?: number;
}

export interface CurvePoint extends Bounds {
  iteration: number;
  accuracy: number;
  /** Each seed's window mean: seeds that take off at different times average to a slope none of them had. */
  perSeed?: number[];
}

export interface ReachInfo {
  /** Per seed: the first iteration whose trailing-window accuracy is >= threshold; null if never within the budget. */
  perSeed: Array<number | null>;
  /** Mean over seeds with never-reached seeds counted at the budget (then a lower bound), and its t interval. */
  mean: number;
  lo?: number;
  hi?: number;
  reachedSeeds: number;
  lowerBound: boolean;
  /** Per seed: the first iteration with at least one correct sample in the batch (outcome-only learns nothing before it). */
  firstSuccess: Array<number | null>;
}

/** Both arms' iterations to the threshold and their ratio. */
export interface ArmComparison {
  threshold: number;
  window: number;
  effective: ReachInfo;
  outcome: ReachInfo;
  /** mean outcome iteration / mean effective iteration; a lower bound when `ratioLowerBound`. */
  ratio: number | null;
  ratioLowerBound: boolean;
  /** Per-seed ratios (paired by seed) with a t interval, when every seed of both arms reached the threshold. */
  perSeedRatio?: MeanInterval & { perSeed: number[] };
}

/** One prover of the sweep: accuracy averaged over training (95% t interval over seeds) and its gain over outcome-only. */
export type GammaSweepPoint = Bounds & { gamma: number; accuracy: number; gain: MeanInterval; perSeed: number[] };

/** Curve points: accuracy averaged over consecutive windows of `window` iterations, mean over seeds with a t interval. */
export function accuracyCurve(runs: readonly number[][], window: number): CurvePoint[] {
  const iterations = Math.min(...runs.map((r) => r.length));
  const points: CurvePoint[] = [];
  for (let end = window; end <= iterations; end += window) {
    const perSeed = runs.map((r) => mean(r.slice(end - window, end)));
    const interval = seedInterval(perSeed);
    points.push({ iteration: end, accuracy: r4(interval.mean), ...bounds(interval), perSeed: perSeed.map(r4) });
  }
  return points;
}

/** The first iteration (1-based) whose trailing window of `window` iterations averages >= threshold; null if none. */
export function firstReach(accuracy: readonly number[], threshold: number, window: number): number | null {
  let sum = 0;
  for (let t = 0; t < accuracy.length; t++) {
    sum += accuracy[t];
    if (t >= window) sum -= accuracy[t - window];
    if (t >= window - 1 && sum / window >= threshold) return t + 1;
  }
  return null;
}

function reachInfo(runs: readonly number[][], threshold: number, window: number): ReachInfo {
  const perSeed = runs.map((r) => firstReach(r, threshold, window));
  const counted = perSeed.map((t, s) => t ?? runs[s].length);
  const interval = seedInterval(counted);
  const reachedSeeds = perSeed.filter((t) => t !== null).length;
  const firstSuccess = runs.map((r) => {
    const t = r.findIndex((a) => a > 0);
    return t < 0 ? null : t + 1;
  });
  const lowerBound = reachedSeeds < perSeed.length;
  // Iterations to a threshold, to a tenth. A seed that never gets there counts as the budget, so the mean is
  // a lower bound and a t interval around it would describe the budget, not the arm: none is given then.
  const tenth = (x: number) => Math.round(x * 10) / 10;
  const range = lowerBound || interval.lo === undefined ? {} : { lo: tenth(interval.lo), hi: tenth(interval.hi!) };
  return { perSeed, mean: tenth(interval.mean), ...range, reachedSeeds, lowerBound, firstSuccess };
}

/** pass@n (unbiased estimator, SPEC "Metrics") for n = 2, 4, .., maxN from each seed's count; mean over seeds with a t interval. */
export function passCurve(evaluations: readonly PassEvaluation[], maxN: number): Array<Bounds & { n: number; pass: number }> {
  const ns: number[] = [];
  for (let n = 2; n <= Math.min(maxN, evaluations[0].samples); n *= 2) ns.push(n);
  return ns.map((n) => {
    const interval = seedInterval(evaluations.map((e) => passAtK(e.samples, e.correct, n)));
    return { n, pass: r4(interval.mean), ...bounds(interval) };
  });
}

/** Iterations to the threshold of both arms (paired by seed) and the ratio outcome-only / effective. */
export function compareArms(effective: readonly number[][], outcome: readonly number[][], threshold: number, window: number): ArmComparison {
  const effectiveReach = reachInfo(effective, threshold, window);
  const outcomeReach = reachInfo(outcome, threshold, window);
  const allReached = !effectiveReach.lowerBound && !outcomeReach.lowerBound;
  // With a censored effective arm the ratio has no bound either way.
  const ratio = effectiveReach.lowerBound ? null : sig4(outcomeReach.mean / effectiveReach.mean);
  const perSeedRatios = allReached ? effectiveReach.perSeed.map((t, s) => outcomeReach.perSeed[s]! / t!) : null;
  return {
    threshold,
    window,
    effective: effectiveReach,
    outcome: outcomeReach,
    ratio,
    ratioLowerBound: outcomeReach.lowerBound,
    ...(perSeedRatios ? { perSeedRatio: { ...roundInterval(seedInterval(perSeedRatios)), perSeed: perSeedRatios.map(sig4) } } : {}),
  };
}

/** How strong mu(gamma) is: its success probability from the start, and E_mu |A^mu| of its first action (exact, by DP). */
export function proverStrength(gamma: number): { gamma: number; v0: number; meanAbsAdvantage: number } {
  const values = new PlantedValues(new PlantedProver(PAPER_PLANTED, gamma));
  const p = values.prover.distribution(0, false);
  const v0 = values.stateValue([]);
  const q = values.actionValues([]);
  const meanAbsAdvantage = Array.from(q).reduce((s, qa, a) => s + p[a] * Math.abs(qa - v0), 0);
  return { gamma, v0: sig4(v0), meanAbsAdvantage: sig4(meanAbsAdvantage) };
}

export function bounds(m: MeanInterval): Bounds {
  return m.lo === undefined ? {} : { lo: r4(m.lo), hi: r4(m.hi!) };
}

export function clamp01(x: number): number {
  return Math.min(1, Math.max(0, x));
}
