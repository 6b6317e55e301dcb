/**
 * FRPO, "Future-KL Regularized GRPO" (PRL v2, May 2026): per-token advantages that subtract the
 * KL to the reference accumulated over the rest of the response. SPEC.md "FRPO advantages".
 */

/** Per-token KL estimator: k1 = log(pi_old/pi_ref); k3 = -log u + u - 1 with u = pi_ref/pi_old (Schulman 2020). */
export type KlEstimator = 'k1' | 'k3';

/** delta_t for one token from log pi_old and log pi_ref (no clamp: SPEC.md names none for FRPO). */
export function tokenKl(logpOld: number, logpRef: number, estimator: KlEstimator): number {
  const logRatio = logpOld - logpRef; // log(pi_old / pi_ref) = -log u
  return estimator === 'k1' ? logRatio : logRatio + Math.exp(-logRatio) - 1;
}

/**
 * A_{i,t} = A_i - beta * sum_{j >= t} m_j delta_j on valid tokens, 0 where the mask is 0.
 * With k1 and beta = 1/eta this is PRL with `length:1`. The result is a constant (stop-gradient).
 */
export function frpoAdvantages(
  groupAdvantage: number,
  logpOld: ArrayLike<number>, // (T,)
  logpRef: ArrayLike<number>, // (T,)
  mask: ArrayLike<number>, // (T,)
  beta: number,
  estimator: KlEstimator = 'k1',
): Float64Array {
  const T = mask.length;
  const out = new Float64Array(T);
  let futureKl = 0;
  for (let t = T - 1; t >= 0; t--) {
    if (mask[t] === 0) continue;
    futureKl += tokenKl(logpOld[t], logpRef[t], estimator);
    out[t] = groupAdvantage - beta * futureKl;
  }
  return out;
}
