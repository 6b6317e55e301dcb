import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/util/rng.js';
import {
  PAPER_PLANTED,
  PlantedProver,
  PlantedValues,
  kmpTransitions,
  monteCarloQ,
  plantedReward,
  plantedTask,
  proverCompletion,
  type PlantedConfig,
} from '../../src/tasks/planted.js';

// Independent reference: the longest suffix of `tokens` equal to a prefix of `target`, by direct comparison.
function naiveSuffixState(target: readonly number[], tokens: readonly number[]): number {
  for (let k = Math.min(target.length, tokens.length); k > 0; k--) {
    let ok = true;
    for (let j = 0; j < k && ok; j++) ok = tokens[tokens.length - k + j] === target[j];
    if (ok) return k;
  }
  return 0;
}

function naiveContains(target: readonly number[], tokens: readonly number[]): boolean {
  return tokens.join(',').length > 0 && `,${tokens.join(',')},`.includes(`,${target.join(',')},`);
}

// mu(. | prefix) written straight from the definition, with no automaton.
function naiveMu(config: PlantedConfig, gamma: number, prefix: readonly number[]): number[] {
  const done = naiveContains(config.target, prefix);
  const favoured = done ? config.eosToken : config.target[naiveSuffixState(config.target, prefix)];
  const w = Array.from({ length: config.vocabSize }, (_, a) => (a === favoured ? gamma : 1));
  const z = w.reduce((s, x) => s + x, 0);
  return w.map((x) => x / z);
}

function naiveReward(config: PlantedConfig, episode: readonly number[]): number {
  const end = episode.indexOf(config.eosToken);
  return naiveContains(config.target, end === -1 ? episode : episode.slice(0, end)) ? 1 : 0;
}

// Every episode (ending at the first end token or at full length) with its probability under mu.
function enumerateEpisodes(config: PlantedConfig, gamma: number): Array<{ tokens: number[]; p: number }> {
  const out: Array<{ tokens: number[]; p: number }> = [];
  const grow = (prefix: number[], p: number): void => {
    if (prefix.length === config.length || prefix[prefix.length - 1] === config.eosToken) {
      out.push({ tokens: prefix, p });
      return;
    }
    const mu = naiveMu(config, gamma, prefix);
    for (let a = 0; a < config.vocabSize; a++) grow([...prefix, a], p * mu[a]);
  };
  grow([], 1);
  return out;
}

function bruteQ(episodes: Array<{ tokens: number[]; p: number }>, config: PlantedConfig, prefix: number[]): number {
  let mass = 0;
  let reward = 0;
  for (const e of episodes) {
    if (prefix.every((t, i) => e.tokens[i] === t)) {
      mass += e.p;
      reward += e.p * naiveReward(config, e.tokens);
    }
  }
  return reward / mass;
}

test('KMP transitions equal the naive longest suffix-prefix on the paper target', () => {
  const { target, vocabSize } = PAPER_PLANTED;
  const next = kmpTransitions(target, vocabSize);
  for (let k = 0; k <= target.length; k++) {
    for (let a = 0; a < vocabSize; a++) {
      assert.equal(next[k][a], naiveSuffixState(target, [...target.slice(0, k), a]), `k=${k} a=${a}`);
    }
  }
  // The overlap: after 3,6,0,3 a wrong token 6 falls back to [3,6] (k=2), not to 0.
  assert.equal(next[4][6], 2);
});

test('reward on hand examples, the self-overlapping target included', () => {
  const r = (tokens: number[]): number => plantedReward(PAPER_PLANTED, tokens);
  assert.equal(r([3, 6, 0, 3, 5, 14, 14, 14, 14, 14]), 1);
  assert.equal(r([3, 6, 0, 3, 6, 0, 3, 5, 1, 2]), 1); // y* starts inside a failed attempt
  assert.equal(r([1, 2, 3, 6, 0, 3, 5, 7, 8, 9]), 1);
  assert.equal(r([3, 6, 0, 3, 14, 5, 1, 1, 1, 1]), 0); // interrupted by the end token
  assert.equal(r([3, 6, 0, 14, 3, 6, 0, 3, 5, 1]), 0); // y* only after the end token
  assert.equal(r([3, 6, 0, 3, 4, 3, 6, 0, 3, 1]), 0);
  assert.equal(r([0, 0, 0, 0, 0, 3, 6, 0, 3, 5]), 1); // at the very end, no end token
});

test('DP values of mu equal brute-force enumeration on a shortened variant with an overlapping target', () => {
  for (const config of [
    { vocabSize: 4, eosToken: 3, length: 6, target: [1, 0, 1] },
    { vocabSize: 3, eosToken: 0, length: 5, target: [2, 2] },
  ]) {
    for (const gamma of [1, 4.5]) {
      const values = new PlantedValues(new PlantedProver(config, gamma));
      const episodes = enumerateEpisodes(config, gamma);
      const total = episodes.reduce((s, e) => s + e.p, 0);
      assert.ok(Math.abs(total - 1) < 1e-12);
      // Every prefix of non-end tokens shorter than the length, and every action after it.
      const prefixes: number[][] = [[]];
      for (let i = 0; i < prefixes.length; i++) {
        const prefix = prefixes[i];
        assert.ok(Math.abs(values.stateValue(prefix) - bruteQ(episodes, config, prefix)) < 1e-12, `V ${prefix}`);
        for (let a = 0; a < config.vocabSize; a++) {
          const child = [...prefix, a];
          assert.ok(Math.abs(values.actionValue(prefix, a) - bruteQ(episodes, config, child)) < 1e-12, `Q ${child}`);
          if (a !== config.eosToken && child.length < config.length) prefixes.push(child);
        }
      }
    }
  }
});

test('advantages of mu average to zero under mu; the paper prover prefers the next target token', () => {
  const prover = new PlantedProver(PAPER_PLANTED, 10);
  const values = new PlantedValues(prover);
  const rng = new Rng(7);
  for (let trial = 0; trial < 50; trial++) {
    const len = rng.int(PAPER_PLANTED.length);
    const prefix = Array.from({ length: len }, () => rng.int(14));
    const mu = prover.distributionAfter(prefix);
    let mean = 0;
    for (let a = 0; a < 15; a++) mean += mu[a] * values.advantage(prefix, a);
    assert.ok(Math.abs(mean) < 1e-12, `E_mu[A] = ${mean} after ${prefix}`);
  }
  // After [3,6,0] the target token 3 has the largest advantage, the end token the smallest.
  const q = values.actionValues([3, 6, 0]);
  assert.equal(q.indexOf(Math.max(...q)), 3);
  assert.equal(q.indexOf(Math.min(...q)), 14);
  assert.equal(values.actionValue([3, 6, 0, 3], 5), 1);
  assert.equal(values.stateValue([3, 6, 0, 3, 5]), 1);
});

test('Monte Carlo Q from prover samples agrees with the exact DP within sampling error', () => {
  const prover = new PlantedProver(PAPER_PLANTED, 5);
  const values = new PlantedValues(prover);
  const rng = new Rng(11);
  const n = 4000;
  for (const [prefix, action] of [[[3, 6], 0], [[1], 3], [[], 2], [[3, 6, 0, 3], 6]] as Array<[number[], number]>) {
    const exact = values.actionValue(prefix, action);
    const estimate = monteCarloQ(PAPER_PLANTED, proverCompletion(prover), prefix, action, n, rng);
    const sigma = Math.sqrt((exact * (1 - exact)) / n);
    assert.ok(Math.abs(estimate - exact) <= 4 * sigma + 1e-9, `${prefix}+${action}: ${estimate} vs ${exact}`);
  }
});

test('samples from mu have the right length, are padded after the end token, and are seeded', () => {
  const task = plantedTask();
  const a = task.sftCorpus!(200, new Rng(3));
  const b = task.sftCorpus!(200, new Rng(3));
  assert.deepEqual(a, b);
  let successes = 0;
  for (const tokens of a) {
    assert.equal(tokens.length, 10);
    const end = tokens.indexOf(14);
    if (end !== -1) assert.ok(tokens.slice(end).every((t) => t === 14));
    assert.deepEqual(task.responseMask(tokens), tokens.map((_, t) => (end === -1 || t < end ? 1 : 0)));
    successes += task.reward(task.trainProblems()[0], tokens);
  }
  // The empirical success rate matches V^mu(5) at the empty prefix.
  const v = new PlantedValues(new PlantedProver(PAPER_PLANTED, 5)).stateValue([]);
  const sigma = Math.sqrt((v * (1 - v)) / a.length);
  assert.ok(Math.abs(successes / a.length - v) < 4 * sigma, `${successes / a.length} vs ${v}`);
});
