/**
 * pav-search's settings: the verifier, the held-out problems, best-of-N sizes, beam widths and alphas,
 * in the quick and full presets.
 */
import { ARITH_PAV_FULL, ARITH_PAV_QUICK, type ArithPavSettings } from '../arith-pav.js';
import type { UserModel } from '../user-model.js';

/** Everything that decides the experiment's numbers. */
export interface PavSearchSettings {
  /** Policy, labels and verifier (shared with pav-rl). */
  pav: ArithPavSettings;
  /** Searches run on the first `problems` held-out problems. */
  problems: number;
  temperature: number;
  /** Best-of-N sizes; the largest is the reference the ratio is taken against (the paper: 128). */
  bestOfN: number[];
  /** Beam widths B of the primary alpha, and children per beam C. */
  beamWidths: number[];
  children: number;
  /** The alpha the headline ratio is taken at (the paper's default for search: 0.5), chosen before the run. */
  primaryAlpha: number;
  /** Other alphas of the score Q_hat^pi + alpha A_hat^mu, each searched at `gridWidths` (a cheaper grid). */
  gridAlphas: number[];
  gridWidths: number[];
  seed: number;
  /** Bootstrap resamples of the problems for intervals. */
  resamples: number;
}

/**
 * The settings on a user's model: it is the policy and the verifier's trunk, labelled and searched on its task;
 * label, verifier and search budgets stay as they are. No RL here, so `--lora-rank` changes nothing.
 */
export function withUserModel(settings: PavSearchSettings, user: UserModel): PavSearchSettings {
  const { start: _trunk, ...verifier } = settings.pav.verifier;
  return { ...settings, pav: { ...settings.pav, task: user.task, taskOptions: user.taskOptions, start: { model: user.startModel }, verifier, userModel: user.identity } };
}

/** The smoke run: the quick verifier, 100 problems, best-of-32 against beams up to 8, alpha 0.5 only. */
export const QUICK_SETTINGS: PavSearchSettings = {
  pav: ARITH_PAV_QUICK,
  problems: 100,
  temperature: 1,
  bestOfN: [1, 2, 4, 8, 16, 32],
  beamWidths: [1, 2, 4, 8],
  children: 3,
  primaryAlpha: 0.5,
  gridAlphas: [],
  gridWidths: [],
  seed: 0,
  resamples: 1000,
};

/**
 * The full run: the small warm start's verifier, all 300 held-out problems, best-of-128 against beams up
 * to 16 at alpha 0.5 (B = 16 already spends ~1000 tokens, best-of-48's) and up to 8 at alpha 0 and 2.
 */
export const FULL_SETTINGS: PavSearchSettings = {
  pav: ARITH_PAV_FULL,
  problems: 300,
  temperature: 1,
  bestOfN: [1, 2, 4, 8, 16, 32, 64, 128],
  beamWidths: [1, 2, 4, 8, 16],
  children: 3,
  primaryAlpha: 0.5,
  gridAlphas: [0, 2],
  gridWidths: [1, 2, 4, 8],
  seed: 0,
  resamples: 1000,
};

/** The primary alpha first, then the grid. */
export function alphasOf(settings: PavSearchSettings): number[] {
  return [settings.primaryAlpha, ...settings.gridAlphas.filter((a) => a !== settings.primaryAlpha)];
}

export function widthsOf(settings: PavSearchSettings, alpha: number): number[] {
  return alpha === settings.primaryAlpha ? settings.beamWidths : settings.gridWidths;
}
