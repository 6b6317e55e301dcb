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
 * The advantage math is `pavAdvantages` in algos/pav.ts; the RL loop (train/rl.ts) takes the prover from here.
 */
import type { Engine } from '../engine/kernels/index.js';
import type { TaskCodec } from '../tasks/codec.js';
import type { RlConfig } from '../train/config.js';
import type { Prover, ProverFactory } from '../train/rl.js';
import { PrlError } from '../util/errors.js';
import { parseOracleSpec, plantedOracleValues } from './rollers.js';
import { loadVerifier, pavScores, verifierPredict } from './verifier.js';

/** The prover of `spec`: `oracle:gamma=G` (planted, exact) or a verifier folder. */
export function openProver(spec: string | undefined, engine: Engine, codec: TaskCodec): Prover {
  if (spec === undefined) throw new PrlError('prover: the pav estimator needs a prover (oracle:gamma=G on planted, or a verifier folder)');
  const oracle = parseOracleSpec(spec);
  if (oracle) {
    const exact = plantedOracleValues(codec, oracle.gamma);
    return {
      name: spec,
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
    name: spec,
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

/** What `runRl` needs to run `config`: the prover of the `pav` estimator (none for the others). */
export function rlProver(config: RlConfig): ProverFactory | undefined {
  return config.estimator === 'pav' ? (engine, codec) => openProver(config.prover, engine, codec) : undefined;
}
