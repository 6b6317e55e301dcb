/**
 * PAV, process advantage verifiers (Setlur et al., "Rewarding Progress", arXiv 2410.08146).
 * Steps h = 1..H; state s_h = (x, a_1..a_{h-1}). SPEC.md "PAV: definitions".
 */
import { advantagesByGroup, groupIndices, rlooAdvantages } from './advantages.js';
import { stepIdsFromEnds } from './steps.js';

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

/** Q^mu at each step end of each response, and V^mu at its prompt. */
export interface ProverValues {
  q: number[];
  v0: number;
}

/**
 * The prover's values with the outcome put in where it is known: when the prefix through a response's
 * last step has ended (it holds the end token, or it used the whole token budget), nothing is left to
 * estimate and Q^mu of that step is the outcome reward, for every prover (the exact planted one already
 * says so; `labelProblems` labels terminal prefixes the same way). A learned verifier's guess there would
 * make the response's summed progress sum_h A^mu_h = Q_hat(final) - V^mu, which a policy can raise by
 * fooling the verifier; with the outcome it is r - V^mu, and the verifier only redistributes credit
 * between steps. `endIds` is every id that ends a response (a real checkpoint has several, e.g. <|im_end|> and
 * <|endoftext|>); a single id is accepted for callers with one end token.
 */
export function withTerminalOutcomes(values: readonly ProverValues[], responses: readonly (readonly number[])[], ends: readonly (readonly number[])[], rewards: readonly number[], endIds: number | readonly number[], maxNewTokens: number): ProverValues[] {
  return values.map((v, i) => {
    const H = ends[i].length;
    if (H === 0) return v;
    const prefix = responses[i].slice(0, ends[i][H - 1] + 1);
    const terminal = isFinished(prefix, endIds, maxNewTokens);
    return terminal ? { q: [...v.q.slice(0, H - 1), rewards[i]], v0: v.v0 } : v;
  });
}

/** Whether a response prefix has ended: it holds any end id, or it used the whole token budget. */
export function isFinished(prefix: readonly number[], endIds: number | readonly number[], maxNewTokens: number): boolean {
  const ids = typeof endIds === 'number' ? [endIds] : endIds;
  return prefix.length >= maxNewTokens || prefix.some((id) => ids.includes(id));
}

/**
 * Per-token PAV advantages: step h of response i gets (r_i - mean_{j != i, same group} r_j) + alpha
 * (Q^mu_h - Q^mu_{h-1}), spread to the step's tokens; 0 where masked.
 */
export function pavAdvantages(
  rewards: readonly number[],
  groups: readonly (string | number)[],
  masks: readonly (readonly number[])[],
  ends: readonly (readonly number[])[],
  values: readonly ProverValues[],
  alpha: number,
): Float64Array[] {
  const outcome = advantagesByGroup(rewards, groupIndices([...groups]), rlooAdvantages);
  return masks.map((mask, i) => {
    const qPi = ends[i].map(() => outcome[i]);
    const steps = pavEffectiveRewards(qPi, values[i].q, values[i].v0, alpha);
    return spreadStepValues(steps, stepIdsFromEnds(ends[i], mask.length), mask);
  });
}
