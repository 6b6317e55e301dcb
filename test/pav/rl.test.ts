// The `pav` RL estimator: with mu = pi its exact expected update is (1 + alpha) times the outcome-only
// one (through pavAdvantages, tokens and steps included); and `prl rl --estimator pav` runs on planted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bestOfKValue } from '../../src/algos/pav.js';
import { pavAdvantages, withTerminalOutcomes } from '../../src/algos/index.js';
import { Rng } from '../../src/util/rng.js';
import { runPrl } from '../cli/run-cli.js';
import { makeTaskModel } from '../helpers/task-model.js';

const H = 3;
const A = 3;

function sequences(length: number): number[][] {
  if (length === 0) return [[]];
  return sequences(length - 1).flatMap((s) => Array.from({ length: A }, (_, a) => [...s, a]));
}

/** A tabular softmax policy over prefixes; everything enumerated exactly. */
function makePolicy(rng: Rng) {
  const logits = new Map<string, number[]>();
  for (let h = 0; h < H; h++) for (const p of sequences(h)) logits.set(p.join(','), Array.from({ length: A }, () => rng.normal()));
  const probs = (prefix: number[]): number[] => {
    const z = logits.get(prefix.join(','))!;
    const e = z.map((x) => Math.exp(x - Math.max(...z)));
    const s = e.reduce((a, b) => a + b, 0);
    return e.map((x) => x / s);
  };
  const seqProb = (seq: number[]): number => seq.reduce((p, a, h) => p * probs(seq.slice(0, h))[a], 1);
  return { logits, probs, seqProb };
}

test('pav estimator with mu = pi: the exact expected gradient is (1 + alpha) x the outcome-only gradient; a Bo4 prover changes its direction', () => {
  const rng = new Rng(7);
  const pi = makePolicy(rng);
  const rewardOf = new Map(sequences(H).map((s) => [s.join(','), rng.next() < 0.4 ? 1 : 0]));
  const reward = (seq: number[]): number => rewardOf.get(seq.join(','))!;
  const q = (prefix: number[]): number => (prefix.length === H ? reward(prefix) : pi.probs(prefix).reduce((v, p, a) => v + p * q([...prefix, a]), 0));
  const all = sequences(H);
  const alpha = 2;
  // Every sequence is its own group of one (RLOO keeps A = r), one step per token, all tokens valid.
  const gradient = (advantages: Float64Array[]): number[] => {
    const g = new Map<string, number[]>([...pi.logits.keys()].map((k) => [k, new Array<number>(A).fill(0)]));
    all.forEach((seq, i) => {
      const p = pi.seqProb(seq);
      seq.forEach((a, h) => {
        const probs = pi.probs(seq.slice(0, h));
        g.get(seq.slice(0, h).join(','))!.forEach((_, b, row) => (row[b] += p * advantages[i][h] * ((b === a ? 1 : 0) - probs[b])));
      });
    });
    return [...g.values()].flat();
  };
  const run = (prover: (x: number) => number): Float64Array[] =>
    pavAdvantages(
      all.map(reward),
      all.map((_, i) => i),
      all.map(() => [1, 1, 1]),
      all.map(() => [0, 1, 2]),
      all.map((seq) => ({ q: seq.map((_, h) => prover(q(seq.slice(0, h + 1)))), v0: prover(q([])) })),
      alpha,
    );
  const outcome = gradient(all.map((seq) => Float64Array.from([1, 1, 1], () => reward(seq))));
  const pav = gradient(run((x) => x));
  assert.ok(outcome.some((g) => Math.abs(g) > 1e-3));
  pav.forEach((g, i) => assert.ok(Math.abs(g - (1 + alpha) * outcome[i]) < 1e-12, `param ${i}: ${g} vs ${(1 + alpha) * outcome[i]}`));
  const bo4 = gradient(run((x) => bestOfKValue(x, 4)));
  const ratios = bo4.map((g, i) => g / outcome[i]).filter((r) => Number.isFinite(r) && Math.abs(r) < 1e6);
  assert.ok(Math.max(...ratios) - Math.min(...ratios) > 1e-3, 'a prover other than pi is not a rescaled outcome update');
});

test('pav estimator by hand: leave-one-out outcome term plus alpha times the prover\'s progress, spread over each step\'s tokens', () => {
  const adv = pavAdvantages([1, 0], ['g', 'g'], [[1, 1, 1, 0], [1, 1, 1, 1]], [[1, 2], [0, 3]], [{ q: [0.5, 1], v0: 0.25 }, { q: [0.1, 0], v0: 0.25 }], 3);
  assert.deepEqual(Array.from(adv[0]), [1 + 3 * 0.25, 1 + 3 * 0.25, 1 + 3 * 0.5, 0]);
  const second = [-1 + 3 * (0.1 - 0.25), -1 + 3 * -0.1, -1 + 3 * -0.1, -1 + 3 * -0.1];
  adv[1].forEach((x, t) => assert.ok(Math.abs(x - second[t]) < 1e-12));
});

test('prl rl --estimator pav with the exact planted prover writes per-step advantages that vary within a response', () => {
  const root = mkdtempSync(join(tmpdir(), 'prl-pav-rl-'));
  const model = makeTaskModel(join(root, 'model'), 'planted');
  const out = join(root, 'run');
  const r = runPrl(['rl', '--task', 'planted', '--model', model, '--estimator', 'pav', '--prover', 'oracle:gamma=10', '--alpha', '1', '--steps', '2', '--eval-every', '0', '--prompts-per-step', '1', '--group-size', '4', '--samples-per-step', '4', '--lr', '1e-3', '--threads', '1', '--quiet', '--out', out]);
  assert.equal(r.status, 0, r.stderr);
  const traces = readFileSync(join(out, 'samples.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { advantages: number[] });
  assert.ok(traces.some((t) => new Set(t.advantages.filter((x) => x !== 0)).size > 1), 'progress makes token advantages differ within a response');
  const missing = runPrl(['rl', '--task', 'planted', '--model', model, '--estimator', 'pav', '--steps', '1', '--threads', '1', '--quiet', '--out', join(root, 'run2')]);
  assert.notEqual(missing.status, 0);
  assert.match(missing.stderr, /needs a prover/);
});

test('withTerminalOutcomes: a finished response\'s last step takes the outcome as Q^mu; an unfinished one keeps the prover\'s values', () => {
  const eos = 9;
  const values = [
    { q: [0.2, 0.4, 0.7], v0: 0.1 }, // ends with the end token: terminal
    { q: [0.2, 0.4], v0: 0.1 }, // used the whole budget of 4 tokens: terminal
    { q: [0.3, 0.6], v0: 0.1 }, // stopped early without an end token in its steps: not terminal
  ];
  const responses = [[1, 2, 3, eos], [1, 2, 3, 4], [1, 2]];
  const ends = [[0, 1, 3], [1, 3], [0, 1]];
  const out = withTerminalOutcomes(values, responses, ends, [0, 1, 0], eos, 4);
  assert.deepEqual(out[0], { q: [0.2, 0.4, 0], v0: 0.1 });
  assert.deepEqual(out[1], { q: [0.2, 1], v0: 0.1 });
  assert.deepEqual(out[2], values[2]);
  // The summed progress of a finished response is then r - V^mu, whatever the verifier said at its end.
  assert.ok(Math.abs(out[0].q[2] - out[0].v0 - (0 - 0.1)) < 1e-12);
});
