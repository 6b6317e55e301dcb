/**
 * The didactic "planted subsequence" task of PAV (Setlur et al., arXiv 2410.08146, Sec. 3.3 and App. B;
 * SPEC.md "PAV: the didactic task").
 *
 * A response is `length` tokens from {0..vocabSize-1}; `eosToken` ends it (it and everything after are
 * masked). The reward is 1 iff the hidden target y* occurs contiguously before the first end token.
 *
 * The prover mu(gamma) tracks k, the length of the longest suffix of the generated tokens that is a prefix
 * of y* (a KMP automaton state; y* = [3,6,0,3,5] overlaps itself, so after [3,6,0,3] a mismatch can fall
 * back to k = 1 rather than 0). Our reading of the paper, where it is silent:
 * - Before y* is complete, token y*_{k+1} gets weight gamma and every other token (the end token
 *   included) weight 1, normalised.
 * - Once y* is complete (the "done" flag), the end token gets weight gamma and every other token 1. The
 *   reward is already 1 then and nothing can undo it, so Q^mu = V^mu = 1 in every done state.
 * - After the end token nothing is generated: the episode is over and the reward is fixed. Positions
 *   after it are padding (filled with the end token) and masked, so no policy acts there.
 * - A response that reaches `length` tokens without an end token ends there (the reward counts all of it).
 *
 * Q^mu, V^mu and A^mu are exact by dynamic programming over (position, automaton state, done); Q^pi of an
 * arbitrary policy has no such small state, so `monteCarloQ` estimates it from a sampler instead.
 */
import { inputError } from '../util/errors.js';
import { Rng } from '../util/rng.js';
import type { TokenProblem, TokenTask } from './types.js';

/** The shape of a planted task; the defaults are the paper's. */
export interface PlantedConfig {
  /** Token ids 0..vocabSize-1 (paper: 15). */
  vocabSize: number;
  /** End-of-sequence id (paper: 14). */
  eosToken: number;
  /** Response length in tokens (paper: 10). */
  length: number;
  /** The hidden target y* (paper: [3, 6, 0, 3, 5]); must not contain the end token. */
  target: readonly number[];
}

export const PAPER_PLANTED: PlantedConfig = { vocabSize: 15, eosToken: 14, length: 10, target: [3, 6, 0, 3, 5] };

/** Checks a config and returns it; a bad one is an error naming the field. */
export function validatePlantedConfig(config: PlantedConfig): PlantedConfig {
  const { vocabSize, eosToken, length, target } = config;
  if (!Number.isInteger(vocabSize) || vocabSize < 2) throw inputError('planted: vocabSize', 'must be an integer >= 2');
  if (!Number.isInteger(eosToken) || eosToken < 0 || eosToken >= vocabSize) {
    throw inputError('planted: eosToken', `must be an id in 0..${vocabSize - 1}`);
  }
  if (!Number.isInteger(length) || length < 1) throw inputError('planted: length', 'must be an integer >= 1');
  if (target.length < 1 || target.length > length) throw inputError('planted: target', `must have 1..${length} tokens`);
  for (const t of target) {
    if (!Number.isInteger(t) || t < 0 || t >= vocabSize || t === eosToken) {
      throw inputError('planted: target', `token ${t} is not a non-end id in 0..${vocabSize - 1}`);
    }
  }
  return config;
}

/**
 * KMP transition table over states k = 0..m (m = |y*|): `next[k][a]` is the longest suffix of
 * (y*_1..y*_k, a) that is a prefix of y*. State m means y* has just been completed.
 */
export function kmpTransitions(target: readonly number[], vocabSize: number): number[][] {
  const m = target.length;
  // failure[k] = longest proper suffix of y*_1..y*_k that is also a prefix (the KMP prefix function).
  const failure = new Array<number>(m + 1).fill(0);
  for (let k = 2; k <= m; k++) {
    let j = failure[k - 1];
    while (j > 0 && target[j] !== target[k - 1]) j = failure[j];
    failure[k] = target[j] === target[k - 1] ? j + 1 : 0;
  }
  const next: number[][] = [];
  for (let k = 0; k <= m; k++) {
    const row = new Array<number>(vocabSize).fill(0);
    for (let a = 0; a < vocabSize; a++) {
      if (k < m && target[k] === a) row[a] = k + 1;
      else row[a] = k === 0 ? 0 : next[failure[k]][a];
    }
    next.push(row);
  }
  return next;
}

/** Reward 1 iff `target` occurs contiguously in the tokens before the first `eosToken`, else 0. */
export function plantedReward(config: PlantedConfig, tokens: readonly number[]): number {
  const { target, eosToken } = config;
  const end = tokens.indexOf(eosToken) === -1 ? tokens.length : tokens.indexOf(eosToken);
  for (let start = 0; start + target.length <= end; start++) {
    let match = true;
    for (let j = 0; j < target.length && match; j++) match = tokens[start + j] === target[j];
    if (match) return 1;
  }
  return 0;
}

/**
 * The prover mu(gamma) as an automaton: `distribution(k, done)` is the next-token distribution in
 * automaton state k (or in a done state), `step` advances the state.
 */
export class PlantedProver {
  readonly config: PlantedConfig;
  readonly gamma: number;
  private readonly next: number[][];
  private readonly notDone: Float64Array[]; // [k] -> distribution over tokens, k < m
  private readonly afterDone: Float64Array;

  constructor(config: PlantedConfig, gamma: number) {
    validatePlantedConfig(config);
    if (!(gamma > 0) || !Number.isFinite(gamma)) throw inputError('planted: gamma', 'must be a positive number');
    this.config = config;
    this.gamma = gamma;
    const { vocabSize, eosToken, target } = config;
    this.next = kmpTransitions(target, vocabSize);
    const weighted = (favoured: number): Float64Array => {
      const p = new Float64Array(vocabSize).fill(1);
      p[favoured] = gamma;
      const z = vocabSize - 1 + gamma;
      for (let a = 0; a < vocabSize; a++) p[a] /= z;
      return p;
    };
    this.notDone = target.map((favoured) => weighted(favoured));
    this.afterDone = weighted(eosToken);
  }

  /** mu(. | state): the next-token distribution (do not mutate). */
  distribution(k: number, done: boolean): Float64Array {
    return done ? this.afterDone : this.notDone[k];
  }

  /** The automaton after emitting `token` in state (k, done); done is absorbing. */
  step(k: number, done: boolean, token: number): { k: number; done: boolean } {
    if (done) return { k, done };
    const k2 = this.next[k][token];
    return k2 === this.config.target.length ? { k: k2, done: true } : { k: k2, done: false };
  }

  /** The automaton state after a prefix of non-end tokens. */
  stateAfter(prefix: readonly number[]): { k: number; done: boolean } {
    let state = { k: 0, done: false };
    for (const token of prefix) {
      if (token === this.config.eosToken) throw new Error('stateAfter: the prefix contains the end token');
      state = this.step(state.k, state.done, token);
    }
    return state;
  }

  /** mu(. | prefix) for a prefix of non-end tokens. */
  distributionAfter(prefix: readonly number[]): Float64Array {
    const { k, done } = this.stateAfter(prefix);
    return this.distribution(k, done);
  }

  /** One response of exactly `length` tokens sampled from mu, padded with the end token after it ends. */
  sample(rng: Rng): number[] {
    const { length, eosToken } = this.config;
    const tokens: number[] = [];
    let state = { k: 0, done: false };
    while (tokens.length < length) {
      const token = sampleCategorical(this.distribution(state.k, state.done), rng);
      tokens.push(token);
      if (token === eosToken) break;
      state = this.step(state.k, state.done, token);
    }
    while (tokens.length < length) tokens.push(eosToken);
    return tokens;
  }
}

/** Draws an index from a normalised distribution with one uniform draw (inverse CDF). */
export function sampleCategorical(p: ArrayLike<number>, rng: Rng): number {
  const u = rng.next();
  let cumulative = 0;
  for (let i = 0; i < p.length; i++) {
    cumulative += p[i];
    if (u < cumulative) return i;
  }
  // Rounding can leave the total a hair below 1: fall to the last token with nonzero mass.
  for (let i = p.length - 1; i >= 0; i--) if (p[i] > 0) return i;
  throw new Error('sampleCategorical: distribution has no mass');
}

/**
 * Exact values of the prover mu by dynamic programming (PAV: Q^mu(s_h, a_h), V^mu(s_h), A^mu = Q - V).
 *
 * `value[t][k]` is V^mu after t generated (non-end) tokens in automaton state k < m, not done:
 *   V(t, k) = sum_a mu(a | k) Q(t, k, a),
 *   Q(t, k, end) = 0 (y* is not complete),  Q(t, k, a) = 1 if step(k, a) completes y*,
 *   Q(t, k, a) = V(t + 1, step(k, a)) otherwise,  V(length, k) = 0.
 * Done states have V = Q = 1 (the reward cannot be lost).
 */
export class PlantedValues {
  readonly prover: PlantedProver;
  private readonly value: Float64Array[]; // [t] -> (m) values of not-done states, t = 0..length

  constructor(prover: PlantedProver) {
    this.prover = prover;
    const { length, target, vocabSize, eosToken } = prover.config;
    const m = target.length;
    this.value = [];
    for (let t = 0; t <= length; t++) this.value.push(new Float64Array(m));
    for (let t = length - 1; t >= 0; t--) {
      for (let k = 0; k < m; k++) {
        const p = prover.distribution(k, false);
        let v = 0;
        for (let a = 0; a < vocabSize; a++) {
          if (a === eosToken) continue; // contributes p[a] * 0
          const next = prover.step(k, false, a);
          v += p[a] * (next.done ? 1 : this.value[t + 1][next.k]);
        }
        this.value[t][k] = v;
      }
    }
  }

  /** V^mu(s) of the state after `prefix` (non-end tokens, length < response length). */
  stateValue(prefix: readonly number[]): number {
    this.checkPrefix(prefix);
    const { k, done } = this.prover.stateAfter(prefix);
    return done ? 1 : this.value[prefix.length][k];
  }

  /** Q^mu(s, a): the expected reward of emitting `action` after `prefix`, then following mu. */
  actionValue(prefix: readonly number[], action: number): number {
    this.checkPrefix(prefix);
    const { k, done } = this.prover.stateAfter(prefix);
    if (done) return 1;
    if (action === this.prover.config.eosToken) return 0;
    const next = this.prover.step(k, false, action);
    return next.done ? 1 : this.value[prefix.length + 1][next.k];
  }

  /** Q^mu(s, a) for every action a, as one array. */
  actionValues(prefix: readonly number[]): Float64Array {
    const q = new Float64Array(this.prover.config.vocabSize);
    for (let a = 0; a < q.length; a++) q[a] = this.actionValue(prefix, a);
    return q;
  }

  /** A^mu(s, a) = Q^mu(s, a) - V^mu(s), the progress of `action` under the prover (PAV Eq. 5). */
  advantage(prefix: readonly number[], action: number): number {
    return this.actionValue(prefix, action) - this.stateValue(prefix);
  }

  /**
   * Per-token progress of a whole response: A^mu at each position before and including the first end
   * token (that is, at every unmasked position and the end token itself); 0 after it.
   */
  responseAdvantages(tokens: readonly number[]): number[] {
    const { eosToken, length } = this.prover.config;
    if (tokens.length !== length) throw new Error(`responseAdvantages: expected ${length} tokens, got ${tokens.length}`);
    const out = new Array<number>(length).fill(0);
    for (let t = 0; t < length; t++) {
      out[t] = this.advantage(tokens.slice(0, t), tokens[t]);
      if (tokens[t] === eosToken) break;
    }
    return out;
  }

  private checkPrefix(prefix: readonly number[]): void {
    if (prefix.length >= this.prover.config.length) {
      throw new Error(`planted: a prefix must be shorter than ${this.prover.config.length} tokens, got ${prefix.length}`);
    }
  }
}

/**
 * Monte Carlo estimate of Q^pi(prefix, action) for any policy given as a sampler that completes a
 * prefix to a full response: the mean reward of `rollouts` completions of (prefix, action). An end
 * token as `action` ends the response at once.
 */
export function monteCarloQ(
  config: PlantedConfig,
  complete: (prefix: readonly number[], rng: Rng) => number[],
  prefix: readonly number[],
  action: number,
  rollouts: number,
  rng: Rng,
): number {
  if (!Number.isInteger(rollouts) || rollouts < 1) throw new Error('monteCarloQ: rollouts must be a positive integer');
  const start = [...prefix, action];
  if (action === config.eosToken) return plantedReward(config, start);
  let total = 0;
  for (let i = 0; i < rollouts; i++) total += plantedReward(config, complete(start, rng));
  return total / rollouts;
}

/** Completes a prefix by sampling from mu (a sampler for `monteCarloQ`, and the reference for its test). */
export function proverCompletion(prover: PlantedProver): (prefix: readonly number[], rng: Rng) => number[] {
  return (prefix, rng) => {
    const { length, eosToken } = prover.config;
    const tokens = [...prefix];
    if (tokens.includes(eosToken)) {
      while (tokens.length < length) tokens.push(eosToken);
      return tokens;
    }
    let state = prover.stateAfter(tokens);
    while (tokens.length < length) {
      const token = sampleCategorical(prover.distribution(state.k, state.done), rng);
      tokens.push(token);
      if (token === eosToken) break;
      state = prover.step(state.k, state.done, token);
    }
    while (tokens.length < length) tokens.push(eosToken);
    return tokens;
  };
}

/** Options of the planted task: the shape plus the warm-start prover's gamma (paper: mu(5) for SFT). */
export interface PlantedTaskOptions extends Partial<PlantedConfig> {
  /** gamma of the prover whose samples form the supervised warm-start corpus (paper: 5). */
  sftGamma?: number;
}

/** The planted task as a `TokenTask`: one problem with an empty prompt (the policy is unconditional). */
export function plantedTask(options: PlantedTaskOptions = {}): TokenTask & { readonly config: PlantedConfig } {
  const config = validatePlantedConfig({
    vocabSize: options.vocabSize ?? PAPER_PLANTED.vocabSize,
    eosToken: options.eosToken ?? PAPER_PLANTED.eosToken,
    length: options.length ?? PAPER_PLANTED.length,
    target: options.target ?? PAPER_PLANTED.target,
  });
  const sftProver = new PlantedProver(config, options.sftGamma ?? 5);
  const problems = (): TokenProblem[] => [{ id: 'planted', promptTokens: [] }];
  return {
    kind: 'tokens',
    name: 'planted',
    config,
    vocabSize: config.vocabSize,
    eosToken: config.eosToken,
    responseLength: config.length,
    stepLength: 1,
    trainProblems: problems,
    evalProblems: problems,
    reward: (_problem, tokens) => plantedReward(config, tokens),
    responseMask: (tokens) => {
      const end = tokens.indexOf(config.eosToken);
      return tokens.map((_, t) => (end === -1 || t < end ? 1 : 0));
    },
    sftCorpus: (count, rng) => Array.from({ length: count }, () => sftProver.sample(rng)),
  };
}
