/**
 * Rollout JSONL for the estimators of `algos/estimators.ts`: validation with errors that name the line and
 * field, reading only what the estimator needs. This is what `prl advantages` runs, so any trainer can use
 * prl's estimators on its own rollouts.
 *
 * A line: {"group": id, "reward": r, "mask": [0|1..], "logprobs_old": [..], "logprobs_ref": [..],
 *          "text"?: "..", "token_offsets"?: [..], "token_ids"?: [..]}
 */
import { ESTIMATORS, type AdvantageOptions, type Rollout } from '../algos/index.js';
import { describeValue, inputError } from '../util/errors.js';
import type { JsonlRecord } from '../util/fs.js';

/** Which optional fields an estimator reads. */
function needs(options: AdvantageOptions): { logprobs: boolean; text: boolean; ids: boolean } {
  const { readsLogprobs, readsSteps: usesSteps } = ESTIMATORS[options.estimator];
  return {
    logprobs: readsLogprobs,
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
