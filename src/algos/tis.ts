/**
 * Truncated importance sampling (TIS) between the trainer and the rollout engine. Engines sample with
 * their own kernels and precision (and, with `--async-steps`, an older version of the weights), so the
 * behaviour policy mu that drew a token is not exactly the trainer's pi_old. Per token,
 * w = min(pi_old(a) / mu(a), C) re-weights the policy-gradient term (Yao et al. 2025, "Your efficient
 * RL framework secretly brings you off-policy RL training"; verl's rollout correction, `tis_imp_ratio_cap`).
 */

export interface TisResult {
  /** w per token, 0 where the mask is 0; 1 where the engine gave no log-prob or TIS is off. */
  weights: Float64Array[];
  /** Mean |logp_trainer - logp_behaviour| over valid tokens that have a behaviour log-prob (0 when none). */
  meanAbsDiff: number;
  /** Share of those tokens where the cap binds (exp(diff) > C). */
  cappedFrac: number;
}

/**
 * `logpTrainer[i][t]`: the trainer's log-prob of token t of response i (pi_old); `logpBehaviour`: the
 * engine's, NaN where it reported none. `cap` C > 0, or 0 for off (weights 1, stats still measured).
 */
export function tisWeights(
  logpTrainer: readonly ArrayLike<number>[],
  logpBehaviour: readonly ArrayLike<number>[],
  mask: readonly ArrayLike<number>[],
  cap: number,
): TisResult {
  if (!(cap >= 0)) throw new Error(`tisWeights: cap must be >= 0, got ${cap}`);
  let diffSum = 0;
  let measured = 0;
  let capped = 0;
  const weights = mask.map((m, i) => {
    const w = new Float64Array(m.length);
    for (let t = 0; t < m.length; t++) {
      if (m[t] === 0) continue;
      const behaviour = logpBehaviour[i][t];
      if (Number.isNaN(behaviour)) {
        w[t] = 1;
        continue;
      }
      const logRatio = logpTrainer[i][t] - behaviour;
      diffSum += Math.abs(logRatio);
      measured++;
      const ratio = Math.exp(logRatio);
      if (cap > 0 && ratio > cap) capped++;
      w[t] = cap === 0 ? 1 : Math.min(ratio, cap);
    }
    return w;
  });
  return { weights, meanAbsDiff: measured === 0 ? 0 : diffSum / measured, cappedFrac: measured === 0 ? 0 : capped / measured };
}
