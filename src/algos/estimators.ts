/**
 * Every advantage estimator of prl, registered in one table (verl style): `prl rl --estimator`, its
 * config schema and help, `prl advantages` and the README all read `ESTIMATORS`, so adding an estimator
 * is one entry here (and its function).
 *
 * Estimators with `fromRollouts` need nothing but the rollouts (rewards, masks, log-probs, steps), so
 * any trainer can use them through `prl advantages`; the others need the trainer itself.
 */
import { advantagesByGroup, grpoAdvantages, groupIndices, meanBaselineAdvantages, rlooAdvantages, type StdMode } from './advantages.js';
import { frpoAdvantages, type KlEstimator } from './frpo.js';
import { prlAdvantages, prlRawAdvantages } from './prl.js';
import { stepEnds, type StepSplit } from './steps.js';

/** One response of a group, as an estimator sees it. */
export interface Rollout {
  line: number;
  group: string | number;
  reward: number;
  mask: number[];
  logprobsOld?: number[];
  logprobsRef?: number[];
  text?: string;
  tokenOffsets?: number[];
  tokenIds?: number[];
}

export interface AdvantageOptions {
  estimator: RolloutEstimator;
  /** PRL: the KL temperature, beta = 1/eta. */
  eta: number;
  /** FRPO: the future-KL coefficient. */
  beta: number;
  /** FRPO: the per-token KL estimator. */
  kl: KlEstimator;
  /** PRL: where steps end. */
  stepSplit: StepSplit;
  /** GRPO group normalisation (also the group advantage under PRL and FRPO). */
  std: StdMode;
}

/**
 * Defaults (docs/design.md "Algorithms"): eta = 100 (= 1/beta, the middle of the authors' {1, 100, 200});
 * steps of 256 tokens (one of the two best settings, and it needs no text); FRPO beta = 0.01 with k1
 * (the v2 paper); torch.std's unbiased std.
 */
export const DEFAULT_ADVANTAGE_OPTIONS: AdvantageOptions = {
  estimator: 'grpo',
  eta: 100,
  beta: 0.01,
  kl: 'k1',
  stepSplit: { kind: 'length', length: 256 },
  std: 'unbiased',
};

export interface EstimatorInfo {
  /** One line for help texts and the README. */
  summary: string;
  /** Where it comes from. */
  source: string;
  /** Reads `logprobs_old` / `logprobs_ref` (PRL's and FRPO's KL terms). */
  readsLogprobs: boolean;
  /** Splits responses into steps (`--step-split`). */
  readsSteps: boolean;
  /** Per-token advantages from rollouts alone; absent when the estimator needs the trainer. */
  fromRollouts?: (rollouts: readonly Rollout[], options: AdvantageOptions) => Float64Array[];
}

/** A per-sequence advantage on every unmasked token of its sequence. */
function broadcast(rollouts: readonly Rollout[], perSequence: ArrayLike<number>): Float64Array[] {
  return rollouts.map((r, i) => Float64Array.from(r.mask, (m) => (m !== 0 ? perSequence[i] : 0)));
}

const groupsOf = (rollouts: readonly Rollout[]): number[][] => groupIndices(rollouts.map((r) => r.group));
const rewardsOf = (rollouts: readonly Rollout[]): number[] => rollouts.map((r) => r.reward);
const grpoOf = (rollouts: readonly Rollout[], options: AdvantageOptions): Float64Array =>
  advantagesByGroup(rewardsOf(rollouts), groupsOf(rollouts), (g) => grpoAdvantages(g, options.std));

export const ESTIMATORS = {
  grpo: {
    summary: 'outcome reward, group-normalised (std: unbiased, population, or none for Dr. GRPO)',
    source: 'Shao et al. 2024 (DeepSeekMath)',
    readsLogprobs: false,
    readsSteps: false,
    fromRollouts: (rollouts, options) => broadcast(rollouts, grpoOf(rollouts, options)),
  },
  rloo: {
    summary: 'outcome reward minus the mean of the other group members',
    source: 'Ahmadian et al. 2024',
    readsLogprobs: false,
    readsSteps: false,
    fromRollouts: (rollouts) => broadcast(rollouts, advantagesByGroup(rewardsOf(rollouts), groupsOf(rollouts), rlooAdvantages)),
  },
  reinforce: {
    summary: 'outcome reward minus the batch mean',
    source: 'Williams 1992',
    readsLogprobs: false,
    readsSteps: false,
    fromRollouts: (rollouts) => broadcast(rollouts, meanBaselineAdvantages(rewardsOf(rollouts))),
  },
  prl: {
    summary: 'PRL: GRPO advantage plus per-step process rewards from the KL-regularised objective (eta, step split)',
    source: 'PRL v1, SPEC.md',
    readsLogprobs: true,
    readsSteps: true,
    fromRollouts: (rollouts, options) => {
      const adv = grpoOf(rollouts, options);
      return rollouts.map((r, i) => prlAdvantages(adv[i], r.logprobsOld!, r.logprobsRef!, r.mask, options.eta, stepEnds(options.stepSplit, r)));
    },
  },
  'prl-raw': {
    summary: "PRL as the authors' code computes it (adv = prm, no group advantage)",
    source: 'PRL authors\' code, SPEC.md',
    readsLogprobs: true,
    readsSteps: false,
    fromRollouts: (rollouts, options) => rollouts.map((r) => prlRawAdvantages(r.reward, r.logprobsOld!, r.logprobsRef!, r.mask, options.eta)),
  },
  frpo: {
    summary: 'FRPO: per-token future-KL process rewards (beta, k1 or k3)',
    source: 'PRL v2, SPEC.md',
    readsLogprobs: true,
    readsSteps: false,
    fromRollouts: (rollouts, options) => {
      const adv = grpoOf(rollouts, options);
      return rollouts.map((r, i) => frpoAdvantages(adv[i], r.logprobsOld!, r.logprobsRef!, r.mask, options.beta, options.kl));
    },
  },
  raft: {
    summary: 'RAFT: supervised steps on the correct samples (weight 1 on their tokens)',
    source: 'Dong et al. 2023',
    readsLogprobs: false,
    readsSteps: false,
  },
  pav: {
    summary: "PAV: per-step Q^pi + alpha A^mu, progress under a prover (--prover, --alpha)",
    source: 'Setlur et al. 2024, SPEC.md',
    readsLogprobs: false,
    readsSteps: true,
  },
} satisfies Record<string, EstimatorInfo>;

export type EstimatorName = keyof typeof ESTIMATORS;
/** The estimators `prl advantages` runs on rollouts alone. */
export type RolloutEstimator = { [K in EstimatorName]: (typeof ESTIMATORS)[K] extends { fromRollouts: unknown } ? K : never }[EstimatorName];

export const ESTIMATOR_NAMES = Object.keys(ESTIMATORS) as [EstimatorName, ...EstimatorName[]];
export const ROLLOUT_ESTIMATORS = ESTIMATOR_NAMES.filter((name) => 'fromRollouts' in ESTIMATORS[name]) as [RolloutEstimator, ...RolloutEstimator[]];

export function isRolloutEstimator(name: EstimatorName): name is RolloutEstimator {
  return (ROLLOUT_ESTIMATORS as readonly string[]).includes(name);
}

/** Per-token advantages for each rollout, in input order; 0 where the mask is 0. */
export function rolloutAdvantages(rollouts: readonly Rollout[], options: AdvantageOptions): Float64Array[] {
  return (ESTIMATORS[options.estimator] as EstimatorInfo).fromRollouts!(rollouts, options);
}

/** `name: summary` for each estimator, one per line (help texts). */
export function estimatorList(names: readonly EstimatorName[] = ESTIMATOR_NAMES): string {
  return names.map((name) => `  ${name}: ${ESTIMATORS[name].summary}`).join('\n');
}
