/**
 * Group (outcome) advantages: one scalar per response, computed within its group of G responses to
 * the same prompt. verl style: each estimator is a small pure function of one group's rewards.
 * SPEC.md "Group advantage (GRPO), the base of everything".
 */

/** How GRPO divides by the group's spread. `unbiased` is torch.std (n-1); `none` is Dr. GRPO. */
export type StdMode = 'unbiased' | 'population' | 'none';

/** Added to the std before dividing, as in verl (`epsilon=1e-6`). */
export const GRPO_EPS = 1e-6;

/**
 * GRPO (Shao et al. 2024, DeepSeekMath): A_i = (r_i - mean(r)) / (std(r) + eps); with `none`,
 * A_i = r_i - mean(r) (Dr. GRPO, Liu et al. 2025). A group of one gets mean 0 and std 1 (verl), so A = r.
 */
export function grpoAdvantages(rewards: ArrayLike<number>, std: StdMode = 'unbiased', eps = GRPO_EPS): Float64Array {
  const n = rewards.length;
  const out = new Float64Array(n);
  if (n === 1) {
    out[0] = rewards[0];
    return out;
  }
  const average = mean(rewards);
  let scale = 1;
  if (std !== 'none') {
    let ss = 0;
    for (let i = 0; i < n; i++) ss += (rewards[i] - average) ** 2;
    scale = Math.sqrt(ss / (std === 'unbiased' ? n - 1 : n)) + eps;
  }
  for (let i = 0; i < n; i++) out[i] = (rewards[i] - average) / scale;
  return out;
}

/**
 * RLOO (Ahmadian et al. 2024): A_i = r_i - mean_{j != i} r_j, the leave-one-out baseline.
 * A group of one has no other sample; like verl it keeps A = r.
 */
export function rlooAdvantages(rewards: ArrayLike<number>): Float64Array {
  const n = rewards.length;
  const out = new Float64Array(n);
  if (n === 1) {
    out[0] = rewards[0];
    return out;
  }
  let sum = 0;
  for (let i = 0; i < n; i++) sum += rewards[i];
  for (let i = 0; i < n; i++) out[i] = rewards[i] - (sum - rewards[i]) / (n - 1);
  return out;
}

/**
 * REINFORCE with a mean baseline: A_i = r_i - mean(r) over whatever set is passed (a group, or the
 * whole batch for a batch-mean baseline). Unlike GRPO, a set of one gets A = 0.
 */
export function meanBaselineAdvantages(rewards: ArrayLike<number>): Float64Array {
  const average = mean(rewards);
  return Float64Array.from(rewards, (r) => r - average);
}

/** Indices of each group, groups in order of first appearance; keys compare by type and value. */
export function groupIndices(groupKeys: readonly (string | number)[]): number[][] {
  const byKey = new Map<string, number[]>();
  groupKeys.forEach((key, i) => {
    const k = `${typeof key}:${String(key)}`;
    const members = byKey.get(k);
    if (members) members.push(i);
    else byKey.set(k, [i]);
  });
  return [...byKey.values()];
}

/** Runs a per-group estimator over a batch and scatters the results back to batch order. */
export function advantagesByGroup(
  rewards: ArrayLike<number>,
  groups: readonly (readonly number[])[],
  estimator: (groupRewards: ArrayLike<number>) => Float64Array,
): Float64Array {
  const out = new Float64Array(rewards.length);
  for (const members of groups) {
    const adv = estimator(members.map((i) => rewards[i]));
    members.forEach((i, j) => (out[i] = adv[j]));
  }
  return out;
}

/** The mean; 0 for no values. */
export function mean(values: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i];
  return values.length === 0 ? 0 : sum / values.length;
}
