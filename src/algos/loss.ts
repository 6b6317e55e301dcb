/**
 * Policy losses over per-token log-probs, with their gradients d loss / d logp_t (the engine has no
 * autograd: its backward takes one dlogp per token). SPEC.md "Policy loss"; conventions follow verl
 * (core_algos.compute_policy_loss, kl_penalty, agg_loss).
 *
 * Batches are ragged: one array per sequence, `Seqs[i][t]` is token t of response i.
 */

export type Seqs = readonly ArrayLike<number>[];

/**
 * `token-mean`: mean over all valid tokens of the batch. `seq-mean-token-mean`: mean over sequences of
 * each sequence's token mean. `seq-mean-token-sum`: mean over sequences of each sequence's token sum.
 * Sequences with no valid token are left out of the sequence means (verl divides by zero there).
 */
export type LossAggregation = 'token-mean' | 'seq-mean-token-mean' | 'seq-mean-token-sum';

/** KL-loss estimator: k1 = log(pi/pi_ref); k3 (verl `low_var_kl`) = u - log u - 1, u = pi_ref/pi, clamped. */
export type KlLossEstimator = 'k1' | 'k3';

/** log-ratio clamp before exp, as verl does, so one wild token cannot overflow the ratio. */
const LOG_RATIO_CLAMP = 20;
/** verl clamps the k3 value to [-10, 10]. */
const K3_CLAMP = 10;

/**
 * Every aggregation is linear: agg(v) = sum_{i,t} w_{i,t} v_{i,t}. Returns w (= d agg / d v), 0 where
 * the mask is 0.
 */
export function aggregationWeights(mask: Seqs, aggregation: LossAggregation): Float64Array[] {
  const counts = mask.map(countValid);
  const total = counts.reduce((a, b) => a + b, 0);
  const nonEmpty = counts.filter((c) => c > 0).length;
  return mask.map((m, i) => {
    let w = 0;
    if (aggregation === 'token-mean') w = total > 0 ? 1 / total : 0;
    else if (aggregation === 'seq-mean-token-mean') w = counts[i] > 0 ? 1 / (counts[i] * nonEmpty) : 0;
    else w = nonEmpty > 0 ? 1 / nonEmpty : 0;
    return Float64Array.from(m, (v) => (v !== 0 ? w : 0));
  });
}

/** agg(v) with the weights of `aggregationWeights`. */
export function aggregate(values: Seqs, mask: Seqs, aggregation: LossAggregation): number {
  const weights = aggregationWeights(mask, aggregation);
  let sum = 0;
  weights.forEach((w, i) => w.forEach((wt, t) => (sum += wt === 0 ? 0 : wt * values[i][t])));
  return sum;
}

/** One token's PPO-clip loss and its derivative with respect to log pi_theta(a_t). */
export interface ClipTokenLoss {
  loss: number;
  dlogp: number;
  ratio: number;
  /** The clipped branch is active (its value exceeds the unclipped one). */
  clipped: boolean;
  /** The dual clip -c A is active (A < 0 and the loss was capped). */
  dualClipped: boolean;
}

/**
 * PPO clip (Schulman et al. 2017) with dual clip (Ye et al. 2020), one token:
 * ratio = exp(logp - logp_old); L = max(-A ratio, -A clip(ratio, 1 - epsLow, 1 + epsHigh)); where A < 0,
 * L = min(L, -c A). dL/dlogp = -A ratio on the unclipped branch, 0 where a clip is active.
 */
export function ppoClipTokenLoss(
  logp: number,
  logpOld: number,
  advantage: number,
  epsLow: number,
  epsHigh: number,
  dualClip: number,
): ClipTokenLoss {
  const logRatio = logp - logpOld;
  const ratioClamped = Math.abs(logRatio) > LOG_RATIO_CLAMP;
  const ratio = Math.exp(Math.max(-LOG_RATIO_CLAMP, Math.min(LOG_RATIO_CLAMP, logRatio)));
  const unclipped = -advantage * ratio;
  const clippedLoss = -advantage * Math.max(1 - epsLow, Math.min(1 + epsHigh, ratio));
  const clipped = clippedLoss > unclipped;
  let loss = clipped ? clippedLoss : unclipped;
  let dlogp = clipped || ratioClamped ? 0 : -advantage * ratio;
  let dualClipped = false;
  if (advantage < 0 && loss > -dualClip * advantage) {
    loss = -dualClip * advantage;
    dlogp = 0;
    dualClipped = true;
  }
  return { loss, dlogp, ratio, clipped, dualClipped };
}

/** One token's KL to the reference and its derivative with respect to log pi_theta(a_t). */
export function klLossToken(logp: number, logpRef: number, estimator: KlLossEstimator): { value: number; dlogp: number } {
  if (estimator === 'k1') return { value: logp - logpRef, dlogp: 1 };
  // k3: with x = log u = logp_ref - logp (clamped like verl), value = e^x - x - 1, d/dlogp = 1 - e^x.
  const x = logpRef - logp;
  const xc = Math.max(-LOG_RATIO_CLAMP, Math.min(LOG_RATIO_CLAMP, x));
  const u = Math.exp(xc);
  const raw = u - xc - 1;
  if (raw > K3_CLAMP || raw < -K3_CLAMP || xc !== x) return { value: Math.max(-K3_CLAMP, Math.min(K3_CLAMP, raw)), dlogp: 0 };
  return { value: raw, dlogp: 1 - u };
}

export interface PolicyLossOptions {
  /** Lower clip epsilon (default 0.2). */
  clipRatio?: number;
  /** Upper clip epsilon (default: clipRatio; DAPO's clip-higher sets it larger). */
  clipRatioHigh?: number;
  /** Dual-clip constant c > 1 (default 3; Infinity turns it off). */
  dualClip?: number;
  aggregation?: LossAggregation;
  /** Coefficient of the KL loss to pi_ref (default 0: off, and logpRef is not needed). */
  klCoef?: number;
  /** KL-loss estimator (default k3, verl's `low_var_kl`). */
  kl?: KlLossEstimator;
}

export interface PolicyLossInput {
  logp: Seqs; // log pi_theta, the current policy
  logpOld: Seqs; // log pi_old, the rollout policy
  advantages: Seqs;
  mask: Seqs;
  /** log pi_ref; needed when klCoef != 0. */
  logpRef?: Seqs;
  /**
   * Truncated importance weights pi_old / mu per token (src/algos/tis.ts), multiplying the
   * policy-gradient term only (the KL loss is not re-weighted); default 1.
   */
  tisWeights?: Seqs;
}

export interface PolicyLossMetrics {
  /** Share of valid tokens where the clipped branch is active (verl pg_clipfrac). */
  clipFrac: number;
  /** Share of valid tokens capped by the dual clip (verl pg_clipfrac_lower). */
  dualClipFrac: number;
  /** Token mean of log pi_old - log pi_theta (verl ppo_kl). */
  approxKl: number;
  ratioMean: number;
  ratioMin: number;
  ratioMax: number;
  /** Aggregated KL to pi_ref (0 when not computed). */
  klToRef: number;
  validTokens: number;
}

export interface PolicyLossResult {
  /** pgLoss + klCoef * klLoss. */
  loss: number;
  pgLoss: number;
  klLoss: number;
  /** d loss / d logp_t per sequence, 0 where the mask is 0. */
  dlogp: Float64Array[];
  metrics: PolicyLossMetrics;
}

/**
 * The PPO policy loss of a batch, aggregated as chosen, plus an optional KL loss to pi_ref, with the
 * gradient d loss / d logp_t. Both terms are aggregated the same way.
 */
export function policyLoss(input: PolicyLossInput, options: PolicyLossOptions = {}): PolicyLossResult {
  const epsLow = options.clipRatio ?? 0.2;
  const epsHigh = options.clipRatioHigh ?? epsLow;
  const dualClip = options.dualClip ?? 3;
  const aggregation = options.aggregation ?? 'token-mean';
  const klCoef = options.klCoef ?? 0;
  const estimator = options.kl ?? 'k3';
  const { logp, logpOld, advantages, mask, logpRef, tisWeights } = input;
  if (klCoef !== 0 && !logpRef) throw new Error('policyLoss: klCoef != 0 needs logpRef');

  const weights = aggregationWeights(mask, aggregation);
  let pgLoss = 0;
  let klLoss = 0;
  let valid = 0, clipped = 0, dualClipped = 0, logRatioSum = 0, ratioSum = 0;
  let ratioMin = Infinity, ratioMax = -Infinity;
  const dlogp = mask.map((m, i) => {
    const grad = new Float64Array(m.length);
    for (let t = 0; t < m.length; t++) {
      if (m[t] === 0) continue;
      const w = weights[i][t];
      const token = ppoClipTokenLoss(logp[i][t], logpOld[i][t], advantages[i][t], epsLow, epsHigh, dualClip);
      const tis = tisWeights ? tisWeights[i][t] : 1;
      pgLoss += w * tis * token.loss;
      grad[t] = w * tis * token.dlogp;
      if (klCoef !== 0) {
        const kl = klLossToken(logp[i][t], logpRef![i][t], estimator);
        klLoss += w * kl.value;
        grad[t] += klCoef * w * kl.dlogp;
      }
      valid++;
      if (token.clipped) clipped++;
      if (token.dualClipped) dualClipped++;
      logRatioSum += logpOld[i][t] - logp[i][t];
      ratioSum += token.ratio;
      ratioMin = Math.min(ratioMin, token.ratio);
      ratioMax = Math.max(ratioMax, token.ratio);
    }
    return grad;
  });
  const perToken = (x: number): number => (valid > 0 ? x / valid : 0);
  return {
    loss: pgLoss + klCoef * klLoss,
    pgLoss,
    klLoss,
    dlogp,
    metrics: {
      clipFrac: perToken(clipped),
      dualClipFrac: perToken(dualClipped),
      approxKl: perToken(logRatioSum),
      ratioMean: perToken(ratioSum),
      ratioMin: valid > 0 ? ratioMin : 0,
      ratioMax: valid > 0 ? ratioMax : 0,
      klToRef: klLoss,
      validTokens: valid,
    },
  };
}

/**
 * Entropy of one softmax row: H = -sum_i p_i log p_i with p = softmax(logits), in float64.
 * `logits` is one row (V,) of the model's output.
 */
export function entropyFromLogits(logits: ArrayLike<number>): number {
  const logProbs = logSoftmax(logits);
  let h = 0;
  for (let i = 0; i < logProbs.length; i++) h -= Math.exp(logProbs[i]) * logProbs[i];
  return h;
}

/**
 * Backward of `entropyFromLogits`: dLogits_i += dEntropy * (-p_i (log p_i + H)). Accumulates, like the
 * engine's backward kernels. An entropy bonus uses dEntropy = -coef * w_t with w from `aggregationWeights`.
 */
export function entropyFromLogitsBackward(logits: ArrayLike<number>, dEntropy: number, dLogits: { [i: number]: number; length: number }): void {
  const logProbs = logSoftmax(logits);
  let h = 0;
  for (let i = 0; i < logProbs.length; i++) h -= Math.exp(logProbs[i]) * logProbs[i];
  for (let i = 0; i < logProbs.length; i++) dLogits[i] += dEntropy * -Math.exp(logProbs[i]) * (logProbs[i] + h);
}

function logSoftmax(logits: ArrayLike<number>): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i]);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i] - max);
  const logZ = max + Math.log(sum);
  return Float64Array.from(logits, (z) => z - logZ);
}

function countValid(mask: ArrayLike<number>): number {
  let n = 0;
  for (let t = 0; t < mask.length; t++) if (mask[t] !== 0) n++;
  return n;
}
