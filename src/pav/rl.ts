/**
 * PAV-RL (Setlur et al., arXiv 2410.08146, Sec. 5; SPEC.md "PAV: definitions"): the `pav` estimator of
 * `prl rl`. Each step h of a response gets the effective reward
 *
 *   Q^pi(s_h, a_h) + alpha * A^mu(s_h, a_h),   A^mu_h = Q^mu_h - Q^mu_{h-1}  (Q^mu_0 = V^mu at the prompt)
 *
 * where Q^pi is the Monte Carlo return (the outcome reward, with a leave-one-out group baseline, which
 * keeps the estimate unbiased) and Q^mu comes from the prover: the exact planted prover
 * (`oracle:gamma=G`) or a learned verifier folder (`prl verifier train`; its `bok:K` labels give Q^BoK by
 * the formula). With mu = pi the expected update is (1 + alpha) times the outcome-only one.
 */
import { advantagesByGroup, groupIndices, pavEffectiveRewards, rlooAdvantages, spreadStepValues, stepIdsFromEnds } from '../algos/index.js';
import type { Engine } from '../engine/kernels/index.js';
import type { CodedProblem, TaskCodec } from '../train/codec.js';
import { PrlError } from '../util/errors.js';
import { parseOracleSpec, plantedOracleValues } from './rollers.js';
import { loadVerifier, pavScores, verifierPredict } from './verifier.js';

/** Q^mu at each step end of each response, and V^mu at its prompt. */
export interface ProverValues {
  q: number[];
  v0: number;
}

export interface PavRewarder {
  readonly prover: string;
  values(problems: readonly CodedProblem[], responses: readonly number[][], ends: readonly number[][]): ProverValues[];
}

/** The prover of `spec`: `oracle:gamma=G` (planted, exact) or a verifier folder. */
export function openPavRewarder(spec: string | undefined, engine: Engine, codec: TaskCodec): PavRewarder {
  if (spec === undefined) throw new PrlError('prover: the pav estimator needs a prover (oracle:gamma=G on planted, or a verifier folder)');
  const oracle = parseOracleSpec(spec);
  if (oracle) {
    const exact = plantedOracleValues(codec, oracle.gamma);
    return {
      prover: spec,
      values: (_problems, responses, ends) =>
        responses.map((response, i) => {
          const { q, v0 } = exact(response);
          return { q: ends[i].map((e) => q[e]), v0 };
        }),
    };
  }
  const { verifier, tokenizer } = loadVerifier(spec, engine);
  if (tokenizer.vocabSize !== codec.tokenizer.vocabSize) throw new PrlError(`prover ${spec}: the verifier's vocabulary has ${tokenizer.vocabSize} tokens, the policy's ${codec.tokenizer.vocabSize}`);
  return {
    prover: spec,
    values(problems, responses, ends) {
      const sequences = responses.map((r, i) => [...problems[i].promptTokens, ...r]);
      const positions = responses.map((_, i) => [problems[i].promptTokens.length - 1, ...ends[i].map((e) => problems[i].promptTokens.length + e)]);
      return verifierPredict(verifier, sequences, positions).map((p) => {
        const { q } = pavScores(verifier, p);
        const v0 = pavScores(verifier, [p[0], p[0]]).q[0];
        return { q, v0 };
      });
    },
  };
}

/**
 * The prover's values with the outcome put in where it is known: when the prefix through a response's
 * last step has ended (it holds the end token, or it used the whole token budget), nothing is left to
 * estimate and Q^mu of that step is the outcome reward, for every prover (the exact planted one already
 * says so; `labelProblems` labels terminal prefixes the same way). A learned verifier's guess there would
 * make the response's summed progress sum_h A^mu_h = Q_hat(final) - V^mu, which a policy can raise by
 * fooling the verifier; with the outcome it is r - V^mu, and the verifier only redistributes credit
 * between steps.
 */
export function withTerminalOutcomes(values: readonly ProverValues[], responses: readonly (readonly number[])[], ends: readonly (readonly number[])[], rewards: readonly number[], eosId: number, maxNewTokens: number): ProverValues[] {
  return values.map((v, i) => {
    const H = ends[i].length;
    if (H === 0) return v;
    const prefix = responses[i].slice(0, ends[i][H - 1] + 1);
    const terminal = prefix.includes(eosId) || prefix.length >= maxNewTokens;
    return terminal ? { q: [...v.q.slice(0, H - 1), rewards[i]], v0: v.v0 } : v;
  });
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
