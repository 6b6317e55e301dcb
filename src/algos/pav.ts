/**
 * PAV, process advantage verifiers (Setlur et al., "Rewarding Progress", arXiv 2410.08146).
 * Steps h = 1..H; state s_h = (x, a_1..a_{h-1}). SPEC.md "PAV: definitions".
 */

/**
 * Q under the Best-of-K prover BoK(pi): 1 - (1 - Q^pi)^K, the chance that at least one of K
 * independent continuations succeeds (binary outcome rewards).
 */
export function bestOfKValue(qPi: number, k: number): number {
  return 1 - (1 - qPi) ** k;
}

/**
 * Progress under a prover mu: A^mu(s_h, a_h) = Q^mu(s_h, a_h) - Q^mu(s_{h-1}, a_{h-1}), using
 * V^mu(s_h) = Q^mu(s_{h-1}, a_{h-1}) because a step only appends to the state. `vMuStart` is V^mu at
 * the prompt alone, the baseline of the first step.
 */
export function progressAdvantages(qMu: ArrayLike<number>, vMuStart: number): Float64Array {
  const out = new Float64Array(qMu.length);
  let previous = vMuStart;
  for (let h = 0; h < qMu.length; h++) {
    out[h] = qMu[h] - previous;
    previous = qMu[h];
  }
  return out;
}

/**
 * Effective reward per step: Q^pi(s_h, a_h) + alpha * A^mu(s_h, a_h) (paper Eq. 5). Q^pi may be a
 * Monte Carlo return (e.g. the outcome reward on every step). With mu = pi the expected policy gradient
 * is (1 + alpha) times the outcome-only one: the same direction.
 */
export function pavEffectiveRewards(
  qPi: ArrayLike<number>, // (H,)
  qMu: ArrayLike<number>, // (H,)
  vMuStart: number,
  alpha: number,
): Float64Array {
  const progress = progressAdvantages(qMu, vMuStart);
  return progress.map((a, h) => qPi[h] + alpha * a);
}

/** Spreads per-step values to tokens through step ids (from `stepIdsFromEnds`); 0 where masked or id -1. */
export function spreadStepValues(
  stepValues: ArrayLike<number>, // (H,)
  stepIds: ArrayLike<number>, // (T,)
  mask: ArrayLike<number>, // (T,)
): Float64Array {
  return Float64Array.from(mask, (m, t) => (m !== 0 && stepIds[t] >= 0 ? stepValues[stepIds[t]] : 0));
}
