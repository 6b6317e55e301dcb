/**
 * Who continues a prefix in PAV's Monte Carlo labels and search: a policy on the engine (prefix-shared
 * KV cache), or, on `planted`, the exact prover mu(gamma) of the paper's didactic task. A roller works
 * on model token ids (prompt + response so far) so that labels, search and RL never care which it is.
 */
import type { LlamaModel } from '../engine/model.js';
import { generateFromPrefixes } from '../engine/sampler.js';
import { PlantedProver, PlantedValues, sampleCategorical, type PlantedConfig } from '../tasks/planted.js';
import { TOKEN_TASK_SYMBOLS, type TaskCodec } from '../tasks/codec.js';
import { inputError, PrlError } from '../util/errors.js';
import type { Rng } from '../util/rng.js';

/** A prefix to continue: full token ids (prompt included) and how many tokens it may still add. */
export interface RolloutRequest {
  tokens: number[];
  maxNewTokens: number;
}

export interface Roller {
  readonly name: string;
  /** n continuations (token ids, ending with the end token when one was sampled) of each request. */
  rollouts(requests: readonly RolloutRequest[], n: number, rng: Rng): number[][][];
  /** Tokens generated so far (compute accounting). */
  generatedTokens: number;
}

/** A policy on the engine: one prefill per prefix, copied into its n rollout slots (`generateFromPrefixes`). */
export function engineRoller(model: LlamaModel, codec: TaskCodec, options: { temperature?: number; maxSlots?: number; name?: string } = {}): Roller {
  const roller: Roller = {
    name: options.name ?? 'policy',
    generatedTokens: 0,
    rollouts(requests, n, rng) {
      const results = generateFromPrefixes(model, requests.map((r) => r.tokens), n, {
        maxNewTokens: 0,
        maxNewTokensEach: requests.map((r) => r.maxNewTokens),
        temperature: options.temperature ?? 1,
        stopTokens: codec.stopIds,
        maxSlots: options.maxSlots,
        rng,
      });
      return results.map((group) =>
        group.map((r) => {
          roller.generatedTokens += r.tokens.length;
          return r.tokens;
        }),
      );
    },
  };
  return roller;
}

/** Model ids of a planted codec's task tokens, both ways. */
export function plantedIdMaps(codec: TaskCodec, config: PlantedConfig): { toModel: number[]; toTask: Map<number, number> } {
  const toModel = Array.from({ length: config.vocabSize }, (_, a) => {
    if (a === config.eosToken) return codec.eosId;
    const ids = codec.tokenizer.encode(TOKEN_TASK_SYMBOLS[a]).ids;
    if (ids.length !== 1) throw new PrlError(`planted: the tokenizer has no single token for symbol ${a}`);
    return ids[0];
  });
  return { toModel, toTask: new Map(toModel.map((id, a) => [id, a])) };
}

/** The planted task's config, or an error when the codec's task is not planted. */
export function plantedConfigOf(codec: TaskCodec): PlantedConfig {
  const task = codec.task as unknown as { config?: PlantedConfig; name: string };
  if (task.name !== 'planted' || !task.config) throw inputError('prover', `oracle provers exist only for the planted task, not ${task.name}`);
  return task.config;
}

/** Parses `oracle:gamma=G` (the planted prover mu(gamma)); null for any other spec. */
export function parseOracleSpec(spec: string): { gamma: number } | null {
  const match = /^oracle(?::gamma=([0-9.eE+-]+))?$/.exec(spec);
  if (!match) return null;
  const gamma = match[1] === undefined ? 10 : Number(match[1]);
  if (!(gamma > 0 && Number.isFinite(gamma))) throw inputError('prover', `oracle:gamma=G needs a positive gamma, got ${JSON.stringify(spec)}`);
  return { gamma };
}

/**
 * The planted prover mu(gamma) as a roller: samples in task-token space from the exact automaton
 * (PAV Sec. 3.3), so its Monte Carlo values can be checked against `PlantedValues`.
 */
export function plantedOracleRoller(codec: TaskCodec, gamma: number, promptLength: number): Roller {
  const config = plantedConfigOf(codec);
  const prover = new PlantedProver(config, gamma);
  const { toModel, toTask } = plantedIdMaps(codec, config);
  const roller: Roller = {
    name: `oracle:gamma=${gamma}`,
    generatedTokens: 0,
    rollouts(requests, n, rng) {
      return requests.map((request) => {
        const response = request.tokens.slice(promptLength).map((id) => toTask.get(id) ?? config.eosToken);
        return Array.from({ length: n }, () => {
          const out: number[] = [];
          if (response.includes(config.eosToken)) return out;
          let state = prover.stateAfter(response);
          while (out.length < request.maxNewTokens) {
            const a = sampleCategorical(prover.distribution(state.k, state.done), rng);
            out.push(toModel[a]);
            if (a === config.eosToken) break;
            state = prover.step(state.k, state.done, a);
          }
          roller.generatedTokens += out.length;
          return out;
        });
      });
    },
  };
  return roller;
}

/**
 * Exact Q^mu of the planted prover for a response given in model ids: q[h] = Q^mu(s_h, a_h) for every
 * response token up to and including the first end token, and v0 = V^mu at the empty prefix.
 */
export function plantedOracleValues(codec: TaskCodec, gamma: number): (responseIds: readonly number[]) => { q: number[]; v0: number } {
  const config = plantedConfigOf(codec);
  const values = new PlantedValues(new PlantedProver(config, gamma));
  const { toTask } = plantedIdMaps(codec, config);
  return (responseIds) => {
    const tokens = responseIds.map((id) => toTask.get(id) ?? config.eosToken);
    const q: number[] = [];
    for (let t = 0; t < tokens.length && t < config.length; t++) {
      q.push(values.actionValue(tokens.slice(0, t), tokens[t]));
      if (tokens[t] === config.eosToken) break;
    }
    return { q, v0: values.stateValue([]) };
  };
}
