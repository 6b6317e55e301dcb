import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bestOfKValue, pavEffectiveRewards, progressAdvantages, spreadStepValues } from '../../src/algos/pav.js';
import { stepEnds, stepIdsFromEnds } from '../../src/algos/steps.js';
import { Rng } from '../../src/util/rng.js';

test('Best-of-K value: 1 - (1 - Q)^K by hand, and K = 1 is the policy itself', () => {
  assert.ok(Math.abs(bestOfKValue(0.5, 4) - 0.9375) < 1e-15);
  assert.ok(Math.abs(bestOfKValue(0.3, 1) - 0.3) < 1e-15);
  assert.equal(bestOfKValue(0, 8), 0);
  assert.equal(bestOfKValue(1, 8), 1);
});

test('effective rewards by hand: Q^pi + alpha (Q^mu_h - Q^mu_{h-1}), V^mu at the prompt as the first baseline', () => {
  progressAdvantages([0.5, 0.25, 1], 0.4).forEach((a, h) => assert.ok(Math.abs(a - [0.1, -0.25, 0.75][h]) < 1e-15));
  const eff = pavEffectiveRewards([0.3, 0.2, 1], [0.5, 0.25, 1], 0.4, 2);
  [0.3 + 2 * 0.1, 0.2 - 0.5, 1 + 1.5].forEach((x, h) => assert.ok(Math.abs(eff[h] - x) < 1e-12));
});

test('step values spread to tokens through newline steps', () => {
  const pieces = ['x', '=1\n', 'y', '=2\n', 'done'];
  const text = pieces.join('');
  const offsets = pieces.map((_, i) => pieces.slice(0, i).join('').length);
  const mask = [1, 1, 1, 1, 1, 0];
  const ends = stepEnds({ kind: 'text', delimiter: '\n' }, { mask, text, tokenOffsets: [...offsets, text.length] });
  assert.deepEqual(Array.from(spreadStepValues([10, 20, 30], stepIdsFromEnds(ends, 6), mask)), [10, 10, 20, 20, 30, 0]);
});

/**
 * A tabular softmax policy over H steps with nA actions each; the state is the prefix of actions.
 * Everything is enumerated exactly: no sampling.
 */
class TabularPolicy {
  readonly logits = new Map<string, number[]>();
  constructor(readonly H: number, readonly nA: number, rng: Rng) {
    for (const prefix of this.prefixes()) this.logits.set(prefix.join(','), Array.from({ length: nA }, () => rng.normal()));
  }
  *prefixes(): Generator<number[]> {
    for (let h = 0; h < this.H; h++) for (const p of sequences(h, this.nA)) yield p;
  }
  probs(prefix: number[]): number[] {
    const z = this.logits.get(prefix.join(','))!;
    const m = Math.max(...z);
    const e = z.map((x) => Math.exp(x - m));
    const s = e.reduce((a, b) => a + b, 0);
    return e.map((x) => x / s);
  }
  seqProb(seq: number[]): number {
    return seq.reduce((p, a, h) => p * this.probs(seq.slice(0, h))[a], 1);
  }
  /** Q^pi(s_h, a_h) for the prefix ending with a_h: expected reward of continuing under pi. */
  q(prefix: number[], reward: (seq: number[]) => number): number {
    if (prefix.length === this.H) return reward(prefix);
    return this.probs(prefix).reduce((v, p, a) => v + p * this.q([...prefix, a], reward), 0);
  }
  /** Parameters flattened in `prefixes()` order; grad log pi(a|s) is onehot(a) - pi(.|s) on s's block. */
  gradLogPi(prefix: number[], a: number): Map<string, number[]> {
    return new Map([[prefix.join(','), this.probs(prefix).map((p, b) => (b === a ? 1 : 0) - p)]]);
  }
}

function sequences(length: number, nA: number): number[][] {
  if (length === 0) return [[]];
  return sequences(length - 1, nA).flatMap((s) => Array.from({ length: nA }, (_, a) => [...s, a]));
}

/** E_{a~pi}[ sum_h grad log pi(a_h | s_h) * stepReward(seq)[h] ], exactly. */
function expectedGradient(pi: TabularPolicy, stepRewards: (seq: number[]) => ArrayLike<number>): Map<string, number[]> {
  const grad = new Map<string, number[]>();
  for (const prefix of pi.prefixes()) grad.set(prefix.join(','), new Array<number>(pi.nA).fill(0));
  for (const seq of sequences(pi.H, pi.nA)) {
    const p = pi.seqProb(seq);
    const w = stepRewards(seq);
    seq.forEach((a, h) => {
      for (const [key, g] of pi.gradLogPi(seq.slice(0, h), a)) g.forEach((x, b) => (grad.get(key)![b] += p * w[h] * x));
    });
  }
  return grad;
}

const flatten = (g: Map<string, number[]>): number[] => [...g.values()].flat();

test('PAV with mu = pi: the exact expected gradient is (1 + alpha) times the outcome-only gradient, which is grad E[r]', () => {
  const rng = new Rng(3);
  const pi = new TabularPolicy(3, 3, rng);
  const rewardTable = new Map(sequences(3, 3).map((s) => [s.join(','), rng.next() < 0.4 ? 1 : 0]));
  const reward = (seq: number[]): number => rewardTable.get(seq.join(','))!;
  const alpha = 2.5;
  const qPiSteps = (seq: number[]): number[] => seq.map((_, h) => pi.q(seq.slice(0, h + 1), reward));
  const vStart = pi.q([], reward);

  const outcome = flatten(expectedGradient(pi, (seq) => seq.map(() => reward(seq))));
  // grad J by central finite differences of J = sum_a pi(a) r(a): the outcome gradient is the true gradient.
  const J = (): number => sequences(3, 3).reduce((s, seq) => s + pi.seqProb(seq) * reward(seq), 0);
  const fd: number[] = [];
  for (const z of pi.logits.values()) {
    for (let b = 0; b < z.length; b++) {
      const x = z[b];
      z[b] = x + 1e-6;
      const up = J();
      z[b] = x - 1e-6;
      const down = J();
      z[b] = x;
      fd.push((up - down) / 2e-6);
    }
  }
  outcome.forEach((g, i) => assert.ok(Math.abs(g - fd[i]) < 1e-8, `param ${i}: ${g} vs fd ${fd[i]}`));
  assert.ok(outcome.some((g) => Math.abs(g) > 1e-3), 'the test needs a nonzero gradient');

  // Effective reward with Q^pi exact, and with the Monte Carlo return r in place of Q^pi.
  for (const qSteps of [qPiSteps, (seq: number[]) => seq.map(() => reward(seq))]) {
    const eff = flatten(expectedGradient(pi, (seq) => pavEffectiveRewards(qSteps(seq), qPiSteps(seq), vStart, alpha)));
    eff.forEach((g, i) => assert.ok(Math.abs(g - (1 + alpha) * outcome[i]) < 1e-12, `param ${i}: ${g} vs ${(1 + alpha) * outcome[i]}`));
  }

  // A different prover (Bo4 of pi) changes the direction: the identity above is specific to mu = pi.
  const qBo4 = (seq: number[]): number[] => qPiSteps(seq).map((q) => bestOfKValue(q, 4));
  const effBo4 = flatten(expectedGradient(pi, (seq) => pavEffectiveRewards(qPiSteps(seq), qBo4(seq), bestOfKValue(vStart, 4), alpha)));
  const ratios = effBo4.map((g, i) => g / outcome[i]).filter((r) => Number.isFinite(r));
  assert.ok(Math.max(...ratios) - Math.min(...ratios) > 1e-3);
});

test('Q^{Bo4(pi)} from the formula matches Best-of-4 by enumeration of 4 independent continuations', () => {
  const rng = new Rng(5);
  const pi = new TabularPolicy(2, 2, rng);
  const reward = (seq: number[]): number => (seq[1] === 1 ? 1 : 0);
  const prefix = [0];
  const conts = sequences(1, 2);
  let pFailAll = 0;
  // P(all 4 continuations fail) enumerated over 2^4 joint draws.
  for (const draw of sequences(4, 2)) {
    const p = draw.reduce((acc, c) => acc * pi.seqProb([...prefix, ...conts[c]]) / pi.seqProb(prefix), 1);
    if (draw.every((c) => reward([...prefix, ...conts[c]]) === 0)) pFailAll += p;
  }
  assert.ok(Math.abs(bestOfKValue(pi.q(prefix, reward), 4) - (1 - pFailAll)) < 1e-12);
});
