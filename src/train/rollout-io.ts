/**
 * Rollout JSONL to per-token advantages: validation with errors that name the line and field, grouping,
 * and dispatch to the estimators of `algos/`. This is what `prl advantages` runs, so any trainer can use
 * prl's estimators on its own rollouts.
 *
 * A line: {"group": id, "reward": r, "mask": [0|1..], "logprobs_old": [..], "logprobs_ref": [..],
 *          "text"?: "..", "token_offsets"?: [..], "token_ids"?: [..]}
 */
import {
  advantagesByGroup,
  frpoAdvantages,
  grpoAdvantages,
  groupIndices,
  meanBaselineAdvantages,
  prlAdvantages,
  prlRawAdvantages,
  rlooAdvantages,
  stepEnds,
  type KlEstimator,
  type StdMode,
  type StepSplit,
} from '../algos/index.js';
import { describeValue, inputError } from '../util/errors.js';
import type { JsonlRecord } from '../util/fs.js';

export const ADVANTAGE_ESTIMATORS = ['grpo', 'rloo', 'reinforce', 'prl', 'prl-raw', 'frpo'] as const;
export type AdvantageEstimator = (typeof ADVANTAGE_ESTIMATORS)[number];

export interface AdvantageOptions {
  estimator: AdvantageEstimator;
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

/** Which optional fields an estimator reads. */
function needs(options: AdvantageOptions): { logprobs: boolean; text: boolean; ids: boolean } {
  const usesLogprobs = options.estimator === 'prl' || options.estimator === 'prl-raw' || options.estimator === 'frpo';
  const usesSteps = options.estimator === 'prl';
  return {
    logprobs: usesLogprobs,
    text: usesSteps && options.stepSplit.kind === 'text',
    ids: usesSteps && options.stepSplit.kind === 'tokens',
  };
}

/** Validates rollout records for `options`; every problem is an error naming `source:line: field`. */
export function parseRollouts(records: readonly JsonlRecord[], source: string, options: AdvantageOptions): Rollout[] {
  if (records.length === 0) throw inputError(source, 'no rollouts (the input is empty)');
  const need = needs(options);
  return records.map(({ line, value }) => {
    const where = `${source}:${line}`;
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw inputError(where, `expected a JSON object, got ${describeValue(value)}`);
    const rec = value as Record<string, unknown>;
    const group = rec.group;
    if (typeof group !== 'string' && !(typeof group === 'number' && Number.isFinite(group))) {
      throw inputError(`${where}: group`, `expected a string or number, got ${describeValue(group)}`);
    }
    const reward = rec.reward;
    if (typeof reward !== 'number' || !Number.isFinite(reward)) throw inputError(`${where}: reward`, `expected a finite number, got ${describeValue(reward)}`);
    const mask = numberArray(rec.mask, `${where}: mask`);
    mask.forEach((m, t) => {
      if (m !== 0 && m !== 1) throw inputError(`${where}: mask`, `expected 0 or 1 at index ${t}, got ${describeValue(m)}`);
    });
    const T = mask.length;
    const sameLength = (field: string, required: boolean): number[] | undefined => {
      if (rec[field] === undefined && !required) return undefined;
      if (rec[field] === undefined) throw inputError(`${where}: ${field}`, `missing (estimator ${options.estimator} needs it)`);
      const values = numberArray(rec[field], `${where}: ${field}`);
      if (values.length !== T) throw inputError(`${where}: ${field}`, `expected ${T} numbers (the length of mask), got ${values.length}`);
      return values;
    };
    const rollout: Rollout = { line, group, reward, mask };
    rollout.logprobsOld = sameLength('logprobs_old', need.logprobs);
    rollout.logprobsRef = sameLength('logprobs_ref', need.logprobs);
    rollout.tokenIds = sameLength('token_ids', need.ids);
    rollout.tokenOffsets = sameLength('token_offsets', need.text);
    if (rec.text !== undefined || need.text) {
      if (typeof rec.text !== 'string') throw inputError(`${where}: text`, rec.text === undefined ? `missing (a text: step split needs it)` : `expected a string, got ${describeValue(rec.text)}`);
      rollout.text = rec.text;
    }
    if (rollout.tokenOffsets) checkOffsets(rollout.tokenOffsets, rollout.text, `${where}: token_offsets`);
    return rollout;
  });
}

function numberArray(value: unknown, where: string): number[] {
  if (!Array.isArray(value)) throw inputError(where, `expected an array of numbers, got ${describeValue(value)}`);
  value.forEach((v, i) => {
    if (typeof v !== 'number' || !Number.isFinite(v)) throw inputError(where, `expected a finite number at index ${i}, got ${describeValue(v)}`);
  });
  return value as number[];
}

function checkOffsets(offsets: readonly number[], text: string | undefined, where: string): void {
  offsets.forEach((o, t) => {
    if (!Number.isInteger(o) || o < 0) throw inputError(where, `expected a non-negative integer at index ${t}, got ${o}`);
    if (t > 0 && o < offsets[t - 1]) throw inputError(where, `offsets must not decrease (index ${t}: ${o} after ${offsets[t - 1]})`);
    if (text !== undefined && o > text.length) throw inputError(where, `offset ${o} at index ${t} is past the end of text (${text.length} characters)`);
  });
}

/** Per-token advantages for each rollout, in input order; 0 where the mask is 0. */
export function rolloutAdvantages(rollouts: readonly Rollout[], options: AdvantageOptions): Float64Array[] {
  const rewards = rollouts.map((r) => r.reward);
  const groups = groupIndices(rollouts.map((r) => r.group));
  const broadcast = (perSequence: ArrayLike<number>): Float64Array[] =>
    rollouts.map((r, i) => Float64Array.from(r.mask, (m) => (m !== 0 ? perSequence[i] : 0)));
  switch (options.estimator) {
    case 'grpo':
      return broadcast(advantagesByGroup(rewards, groups, (g) => grpoAdvantages(g, options.std)));
    case 'rloo':
      return broadcast(advantagesByGroup(rewards, groups, rlooAdvantages));
    case 'reinforce':
      return broadcast(meanBaselineAdvantages(rewards));
    case 'prl-raw':
      return rollouts.map((r) => prlRawAdvantages(r.reward, r.logprobsOld!, r.logprobsRef!, r.mask, options.eta));
    case 'prl': {
      const adv = advantagesByGroup(rewards, groups, (g) => grpoAdvantages(g, options.std));
      return rollouts.map((r, i) => prlAdvantages(adv[i], r.logprobsOld!, r.logprobsRef!, r.mask, options.eta, stepEnds(options.stepSplit, r)));
    }
    case 'frpo': {
      const adv = advantagesByGroup(rewards, groups, (g) => grpoAdvantages(g, options.std));
      return rollouts.map((r, i) => frpoAdvantages(adv[i], r.logprobsOld!, r.logprobsRef!, r.mask, options.beta, options.kl));
    }
  }
}
