/**
 * pav-rl's settings: the two tasks (planted with the exact or a learned prover, arith with the Bo4
 * verifier), their RL budgets and thresholds, the quick and full presets, and the arms they give.
 */
import type { RlConfig, SftConfig } from '../../train/config.js';
import { ARITH_PAV_FULL, ARITH_PAV_QUICK, type ArithPavSettings } from '../arith-pav.js';
import type { UserModel } from '../user-model.js';

/** Accuracy levels for steps-to-threshold: absolute, or gains over each run's step-0 (warm-start) accuracy. */
export interface Thresholds {
  from: 'absolute' | 'warm-start';
  values: number[];
}

/** Shared by both tasks: the RL budget, the thresholds and the final evaluation. */
export interface TaskSettings {
  rl: Partial<RlConfig> & { steps: number; evalEvery: number; evalSamples: number };
  thresholds: Thresholds;
  /** n samples on each of the first `problems` held-out problems after training. */
  finalEval: { problems: number; samples: number };
}

/** The planted verifier: Monte Carlo labels of the prover's rollouts from policy seeds, then training. */
export interface PlantedVerifierSettings {
  nCov: number;
  nMc: number;
  steps: number;
  batchSize: number;
  lr: number;
  warmupSteps: number;
  seed: number;
}

export interface PlantedSettings extends TaskSettings {
  taskOptions: Record<string, unknown>;
  /** A model folder, or the SFT recipe of the cached planted warm start ({} = the paper's recipe). */
  start: { model: string } | { recipe: Partial<SftConfig> };
  gamma: number;
  alpha: number;
  /** null: the oracle arm only. */
  verifier: PlantedVerifierSettings | null;
}

export interface ArithSettings extends TaskSettings {
  pav: ArithPavSettings;
  alphas: number[];
}

export interface PavRlSettings {
  seeds: number;
  planted: PlantedSettings | null;
  arith: ArithSettings | null;
}

/** The paper's didactic RL recipe: batch 64 of the one (empty) prompt, Adam lr 1e-3 constant. */
const PLANTED_RL = { promptsPerStep: 1, groupSize: 64, lr: 1e-3, lrSchedule: 'constant' as const, evalProblems: 1, evalSamples: 256, samplesPerStep: 4 };
/** As prl-vs-grpo: 8 prompts x 5 responses, lr 1e-4, one PPO-clip update per batch. */
const ARITH_RL = { promptsPerStep: 8, groupSize: 5, lr: 1e-4, evalProblems: 128, evalSamples: 4, samplesPerStep: 5 };

/** ~2 minutes on 2 idle cores once the warm starts are cached: one seed, 100 planted and 40 arith steps. */
export const QUICK_SETTINGS: PavRlSettings = {
  seeds: 1,
  planted: {
    taskOptions: {},
    start: { recipe: {} },
    rl: { ...PLANTED_RL, steps: 100, evalEvery: 10 },
    gamma: 10,
    alpha: 1,
    verifier: { nCov: 1024, nMc: 16, steps: 400, batchSize: 64, lr: 1e-3, warmupSteps: 20, seed: 0 },
    thresholds: { from: 'absolute', values: [0.5, 0.9] },
    finalEval: { problems: 1, samples: 1024 },
  },
  arith: {
    pav: ARITH_PAV_QUICK,
    alphas: [3],
    rl: { ...ARITH_RL, steps: 40, evalEvery: 10 },
    thresholds: { from: 'warm-start', values: [0.02, 0.04] },
    finalEval: { problems: 300, samples: 8 },
  },
};

/** ~25 minutes idle (plus the shared arith labels and verifier once): 3 seeds, alpha in {1, 3, 5} on arith. */
export const FULL_SETTINGS: PavRlSettings = {
  seeds: 3,
  planted: {
    taskOptions: {},
    start: { recipe: {} },
    rl: { ...PLANTED_RL, steps: 300, evalEvery: 10 },
    gamma: 10,
    alpha: 1,
    verifier: { nCov: 2048, nMc: 32, steps: 1000, batchSize: 64, lr: 1e-3, warmupSteps: 20, seed: 0 },
    thresholds: { from: 'absolute', values: [0.5, 0.9] },
    finalEval: { problems: 1, samples: 1024 },
  },
  arith: {
    pav: ARITH_PAV_FULL,
    alphas: [1, 3, 5],
    rl: { ...ARITH_RL, steps: 60, evalEvery: 10 },
    // 60 steps raise held-out accuracy by ~0.18: gains of 0.02-0.04 are passed at the first evaluation by
    // every arm and say nothing, so the full run asks for about a half and three quarters of that rise.
    thresholds: { from: 'warm-start', values: [0.08, 0.12] },
    finalEval: { problems: 300, samples: 16 },
  },
};

/** One arm: a task, an estimator, and for PAV its prover and alpha. */
export interface ArmSpec {
  id: string;
  task: 'planted' | 'arith';
  label: string;
  estimator: 'rloo' | 'pav';
  prover?: 'oracle' | 'learned';
  alpha?: number;
}

/**
 * The settings on a user's model: the planted arms go (their task exists only for its own vocabulary); the
 * arith arms run on the user's task from the user's model, their verifier grown from it as in pav-search,
 * and their RL runs with its LoRA rank.
 */
export function withUserModel(settings: PavRlSettings, user: UserModel): PavRlSettings {
  const arith = settings.arith!;
  const { start: _trunk, ...verifier } = arith.pav.verifier;
  const pav: ArithPavSettings = { ...arith.pav, task: user.task, taskOptions: user.taskOptions, start: { model: user.startModel }, verifier, userModel: user.identity };
  return { ...settings, planted: null, arith: { ...arith, pav, rl: { ...arith.rl, loraRank: user.loraRank } } };
}

/** The task name of an arm's RL runs: planted, or the arith arms' task (arith, or the user's). */
export function taskOf(arm: ArmSpec, settings: PavRlSettings): string {
  return arm.task === 'planted' ? 'planted' : (settings.arith!.pav.task ?? 'arith');
}

/** Outcome-only first on each task, then the PAV arms. */
export function armsOf(settings: PavRlSettings): ArmSpec[] {
  const arms: ArmSpec[] = [];
  const p = settings.planted;
  if (p) {
    arms.push({ id: 'planted-outcome', task: 'planted', label: 'planted: outcome only', estimator: 'rloo' });
    arms.push({ id: 'planted-pav-oracle', task: 'planted', label: `planted: PAV, exact prover (gamma ${p.gamma}, alpha ${p.alpha})`, estimator: 'pav', prover: 'oracle', alpha: p.alpha });
    if (p.verifier) arms.push({ id: 'planted-pav-learned', task: 'planted', label: `planted: PAV, learned verifier (alpha ${p.alpha})`, estimator: 'pav', prover: 'learned', alpha: p.alpha });
  }
  const a = settings.arith;
  if (a) {
    // The arith arms keep their ids (folder names) on a user's task; their labels name the task.
    const name = a.pav.task ?? 'arith';
    arms.push({ id: 'arith-outcome', task: 'arith', label: `${name}: outcome only`, estimator: 'rloo' });
    for (const alpha of a.alphas) arms.push({ id: `arith-pav-alpha${alpha}`, task: 'arith', label: `${name}: PAV, Bo4 verifier (alpha ${alpha})`, estimator: 'pav', prover: 'learned', alpha });
  }
  return arms;
}
