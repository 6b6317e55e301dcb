/**
 * PRL v1 advantages (Yao, Wang, Zhang, arXiv 2601.10201 v1), as the authors' verl fork computes them,
 * with the two fixes SPEC.md chooses (steps from character offsets; fill by step membership).
 *
 * From Q(pi) = E[r] - (1/eta) KL(pi || pi_ref), whose optimum pi* ∝ pi_ref exp(eta r), the process
 * reward of a prefix is the outcome minus (1/eta) times the log-ratio of the rest of the response.
 */
import { fillFromStepEnds } from './steps.js';

/**
 * S_t = sum_{j >= t} m_j (log pi_old(a_j) - log pi_ref(a_j)), the suffix sum including t.
 * SPEC.md PRL items 1-2.
 */
export function logRatioSuffixSums(
  logpOld: ArrayLike<number>, // (T,)
  logpRef: ArrayLike<number>, // (T,)
  mask: ArrayLike<number>, // (T,)
): Float64Array {
  const T = mask.length;
  const sums = new Float64Array(T);
  let acc = 0;
  for (let t = T - 1; t >= 0; t--) {
    if (mask[t] !== 0) acc += logpOld[t] - logpRef[t];
    sums[t] = acc;
  }
  return sums;
}

/**
 * PRL per-token advantages of one response: R_t = A_i - S_t / eta, then every token of step k takes
 * R_{e_k}; 0 where the mask is 0. `groupAdvantage` is A_i from GRPO; `ends` from `stepEnds`.
 * eta = Infinity gives GRPO's A_i on every valid token. The result is a constant (stop-gradient).
 */
export function prlAdvantages(
  groupAdvantage: number,
  logpOld: ArrayLike<number>,
  logpRef: ArrayLike<number>,
  mask: ArrayLike<number>,
  eta: number,
  ends: readonly number[],
): Float64Array {
  const suffix = logRatioSuffixSums(logpOld, logpRef, mask);
  const rewards = suffix.map((s) => groupAdvantage - s / eta);
  return fillFromStepEnds(rewards, ends, mask);
}

/**
 * PRL `raw` mode (the authors' `adv=prm`): r_i - S_t / eta on every valid token, with the raw
 * outcome reward, no group normalisation and no steps.
 */
export function prlRawAdvantages(
  reward: number,
  logpOld: ArrayLike<number>,
  logpRef: ArrayLike<number>,
  mask: ArrayLike<number>,
  eta: number,
): Float64Array {
  const suffix = logRatioSuffixSums(logpOld, logpRef, mask);
  return suffix.map((s, t) => (mask[t] !== 0 ? reward - s / eta : 0));
}
