/**
 * pav-didactic's settings: what decides the numbers (quick and full), the paper's constants, and one RL arm.
 */
import { type SftConfig } from '../../train/config.js';
import { type MadeWarmStartConfig } from '../../pav/made-rl.js';

/** Everything that decides the experiment's numbers. */
export interface PavDidacticSettings {
  /** Seeds of the two arms of (a) and (c). */
  seeds: number;
  /** The warm start of (a), (b) and (c). */
  start: WarmStartSpec;
  /** RL iterations of (a); each is one batch of `batchSize` samples and one Adam update. */
  iterations: number;
  batchSize: number;
  lr: number;
  /** The effective reward's alpha and the prover's gamma in (a) and (c) (paper: 1 and 10). */
  alpha: number;
  gamma: number;
  /** Accuracy at which "reached" is read, over a trailing window of `window` iterations (paper: 90%). */
  threshold: number;
  /** Iterations per curve point, and of the trailing window of the threshold. */
  window: number;
  /**
   * (b): provers swept, seeds and iterations per prover (alpha as above). With `proverRollouts`, every prover is
   * swept a second time with Q^mu estimated from that many Monte Carlo rollouts per step (paper's labels: n_mc = 20)
   * instead of exactly, as a PAV learned from Monte Carlo labels sees it (MADE policy only).
   */
  sweep: { gammas: number[]; seeds: number; iterations: number; proverRollouts?: number };
  /** (c): the iteration of pass@N and the samples drawn there (planted has one prompt). */
  passAt: { iteration: number; samples: number; maxN: number };
  /** Sampled traces shown in the report, per policy. */
  traces: number;
  /**
   * Draws of `passAt.samples` responses that measure each warm start's accuracy (draw s uses sampling seed s,
   * so the first `seeds` are (c)'s warm-start draws). Correct samples are rare there, so it takes many.
   */
  warmStartDraws: number;
  /**
   * Sensitivity pair: (a)'s two arms (same alpha, gamma and RL settings) from another warm start (another
   * policy, or a weaker SFT), with their own seeds and iterations, under results.sensitivity[key] and
   * out/runs/<key>/. Reported beside the headline arms; the headline criterion stays on those.
   */
  sensitivity?: { key: string; start: WarmStartSpec; seeds: number; iterations: number };
}

/**
 * The policy and its warm start: the paper's MADE network after its SFT (`made`, {} = the paper's recipe), or
 * the engine's Llama: a model folder, or the SFT recipe of the cached planted warm start ({} = the paper's).
 */
export type WarmStartSpec = { made: Partial<MadeWarmStartConfig> } | { model: string } | { recipe: Partial<SftConfig> };

/** Monte Carlo rollouts per prefix in the paper's PAV labels (SPEC "PAV: training data and verifier": n_mc = 20). */
const PAPER_MC_ROLLOUTS = 20;

/** The paper's RL settings (App. B) that every budget shares: batch 64, Adam lr 1e-3 constant, alpha 1, gamma 10. */
const PAPER_RL = { batchSize: 64, lr: 1e-3, alpha: 1, gamma: 10, threshold: 0.9 };

/**
 * The quick run, about 1 min 40 s of CPU: (a) 3 seeds x 2 arms x 1000 iterations of the MADE policy (the
 * effective reward passes 90% by about iteration 100; outcome-only took 290-1700 iterations in 3 trial seeds,
 * so some seeds stay censored and the ratio is then a lower bound), (b) six provers, one seed each, 200
 * iterations, exact and from 20 rollouts, (c) 1024 samples per policy; the sensitivity pair: the tiny Llama
 * from the paper's SFT recipe, 1 seed x 2 arms x 150 iterations (about 15 s).
 */
export const QUICK_SETTINGS: PavDidacticSettings = {
  seeds: 3,
  start: { made: {} },
  iterations: 1000,
  ...PAPER_RL,
  window: 10,
  sweep: { gammas: [1, 3, 6, 10, 14, 17], seeds: 1, iterations: 200, proverRollouts: PAPER_MC_ROLLOUTS },
  passAt: { iteration: 100, samples: 1024, maxN: 256 },
  traces: 2,
  warmStartDraws: 16,
  sensitivity: { key: 'transformer', start: { recipe: {} }, seeds: 1, iterations: 150 },
};

/**
 * The full run, about 25-30 minutes on one thread: (a) 5 seeds x 2 arms x 10,000 iterations (the paper's budget),
 * (b) every gamma 1..17 plus 25, 50, 100 and 1000 (to find where provers become too strong) with 3 seeds x 500
 * iterations, exact and from 20 rollouts, (c) 1024 samples per policy; the sensitivity pair: the tiny Llama
 * from the paper's SFT recipe, 5 seeds x 2 arms x 500 iterations (about 4 minutes).
 */
export const FULL_SETTINGS: PavDidacticSettings = {
  seeds: 5,
  start: { made: {} },
  iterations: 10_000,
  ...PAPER_RL,
  window: 10,
  sweep: { gammas: [...Array.from({ length: 17 }, (_, i) => i + 1), 25, 50, 100, 1000], seeds: 3, iterations: 500, proverRollouts: PAPER_MC_ROLLOUTS },
  passAt: { iteration: 100, samples: 1024, maxN: 256 },
  traces: 2,
  warmStartDraws: 32,
  sensitivity: { key: 'transformer', start: { recipe: {} }, seeds: 5, iterations: 500 },
};

/** One RL run: the effective reward (alpha > 0) or outcome-only (alpha = 0) with prover mu(gamma). */
export interface ArmSpec {
  alpha: number;
  gamma: number;
  iterations: number;
  /** Q^mu from this many Monte Carlo rollouts of the prover per step; absent: exact (MADE policy only). */
  proverRollouts?: number;
  /** Evaluate pass@N at this iteration (between two legs of the same run). */
  passAtIteration?: number;
}

/** Folder name of a run: every setting that changes its numbers. */
export function armId(arm: ArmSpec): string {
  const rollouts = arm.proverRollouts === undefined ? '' : `-mc${arm.proverRollouts}`;
  return `alpha${arm.alpha}-gamma${arm.gamma}${rollouts}-it${arm.iterations}${arm.passAtIteration === undefined ? '' : `-pass${arm.passAtIteration}`}`;
}

/** The planted warm start's SFT iterations in the paper (App. B) and in our default recipe. */
export const PAPER_SFT_ITERATIONS = 50;
