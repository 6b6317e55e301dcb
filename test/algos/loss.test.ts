import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  aggregate,
  aggregationWeights,
  entropyFromLogits,
  entropyFromLogitsBackward,
  klLossToken,
  policyLoss,
  ppoClipTokenLoss,
  type LossAggregation,
  type PolicyLossOptions,
} from '../../src/algos/loss.js';
import { Rng } from '../../src/util/rng.js';

const near = (a: number, b: number, tol: number, what = ''): void => assert.ok(Math.abs(a - b) <= tol, `${what} ${a} vs ${b}`);

test('PPO clip by hand: both clips, the dual clip, and the gradient -A ratio only on the unclipped branch', () => {
  const cases: Array<[number, number, number, number, boolean, boolean]> = [
    // advantage, ratio, loss, dlogp, clipped, dualClipped
    [1, 1.5, -1.2, 0, true, false],
    [1, 0.5, -0.5, -0.5, false, false],
    [-1, 0.5, 0.8, 0, true, false],
    [-1, 2, 2, 2, false, false],
    [-1, 4, 3, 0, false, true],
    [2, 1.1, -2.2, -2.2, false, false],
  ];
  for (const [A, ratio, loss, dlogp, clipped, dual] of cases) {
    const r = ppoClipTokenLoss(Math.log(ratio) - 1, -1, A, 0.2, 0.2, 3);
    near(r.loss, loss, 1e-12, `A=${A} ratio=${ratio} loss`);
    near(r.dlogp, dlogp, 1e-12, `A=${A} ratio=${ratio} dlogp`);
    assert.equal(r.clipped, clipped);
    assert.equal(r.dualClipped, dual);
  }
  // clip-higher: with epsHigh = 0.28 a ratio of 1.25 is inside the range.
  near(ppoClipTokenLoss(Math.log(1.25), 0, 1, 0.2, 0.28, 3).dlogp, -1.25, 1e-12);
});

test('aggregations by hand, an empty sequence left out of the sequence means', () => {
  const values = [[1, 2, 3], [4], [7, 7]];
  const mask = [[1, 1, 0], [1], [0, 0]];
  near(aggregate(values, mask, 'token-mean'), 7 / 3, 1e-15);
  near(aggregate(values, mask, 'seq-mean-token-mean'), (1.5 + 4) / 2, 1e-15);
  near(aggregate(values, mask, 'seq-mean-token-sum'), (3 + 4) / 2, 1e-15);
  assert.deepEqual(aggregationWeights(mask, 'seq-mean-token-mean').map((w) => Array.from(w)), [[0.25, 0.25, 0], [0.5], [0, 0]]);
});

test('KL tokens: k1 = log(pi/pi_ref); k3 = u - log u - 1 with u = pi_ref/pi, clamped to 10 with zero gradient', () => {
  assert.deepEqual(klLossToken(-1, -1.5, 'k1'), { value: 0.5, dlogp: 1 });
  const u = Math.exp(-1.5 + 1);
  near(klLossToken(-1, -1.5, 'k3').value, u - Math.log(u) - 1, 1e-15);
  const big = klLossToken(-20, -1, 'k3');
  assert.equal(big.value, 10);
  assert.equal(big.dlogp, 0);
});

function randomBatch(rng: Rng, B: number): { logp: number[][]; logpOld: number[][]; logpRef: number[][]; advantages: number[][]; mask: number[][] } {
  const lens = Array.from({ length: B }, () => 1 + rng.int(6));
  const gen = (f: () => number): number[][] => lens.map((T) => Array.from({ length: T }, f));
  const logpOld = gen(() => -3 * rng.next());
  return {
    logpOld,
    logp: logpOld.map((s) => s.map((x) => x + 0.5 * rng.normal())),
    logpRef: logpOld.map((s) => s.map((x) => x + 0.5 * rng.normal())),
    advantages: gen(() => 2 * rng.normal()),
    mask: gen(() => (rng.next() < 0.8 ? 1 : 0)),
  };
}

test('policyLoss gradient matches central finite differences, every aggregation, with KL k1 and k3', () => {
  const rng = new Rng(11);
  const h = 1e-6;
  for (const aggregation of ['token-mean', 'seq-mean-token-mean', 'seq-mean-token-sum'] as LossAggregation[]) {
    for (const options of [{ aggregation }, { aggregation, klCoef: 0.3, kl: 'k1' }, { aggregation, klCoef: 0.3, kl: 'k3' }] as PolicyLossOptions[]) {
      const batch = randomBatch(rng, 5);
      const result = policyLoss(batch, options);
      let checked = 0;
      batch.logp.forEach((seq, i) =>
        seq.forEach((x, t) => {
          const ratio = Math.exp(x - batch.logpOld[i][t]);
          // Finite differences are meaningless across a kink of the clip.
          if ([0.8, 1.2].some((k) => Math.abs(ratio - k) < 1e-3) || Math.abs(ratio * Math.abs(batch.advantages[i][t]) - 3 * Math.abs(batch.advantages[i][t])) < 1e-3) return;
          seq[t] = x + h;
          const up = policyLoss(batch, options).loss;
          seq[t] = x - h;
          const down = policyLoss(batch, options).loss;
          seq[t] = x;
          near(result.dlogp[i][t], (up - down) / (2 * h), 1e-7, `${aggregation} ${options.kl ?? ''} seq ${i} token ${t}`);
          checked++;
        }),
      );
      assert.ok(checked > 5);
      batch.mask.forEach((m, i) => m.forEach((v, t) => v === 0 && assert.equal(result.dlogp[i][t], 0)));
    }
  }
});

test('policyLoss metrics: clip fractions and approx KL by hand', () => {
  const logpOld = [[0, 0, 0, 0]];
  const logp = [[Math.log(1.5), Math.log(0.5), Math.log(4), Math.log(1.1)]];
  const advantages = [[1, 1, -1, 1]];
  const r = policyLoss({ logp, logpOld, advantages, mask: [[1, 1, 1, 0]] });
  assert.equal(r.metrics.validTokens, 3);
  near(r.metrics.clipFrac, 1 / 3, 1e-15);
  near(r.metrics.dualClipFrac, 1 / 3, 1e-15);
  near(r.metrics.approxKl, -(Math.log(1.5) + Math.log(0.5) + Math.log(4)) / 3, 1e-15);
  near(r.loss, (-1.2 - 0.5 + 3) / 3, 1e-12);
  near(r.metrics.ratioMax, 4, 1e-12);
});

test('entropy of logits: log V when uniform, and its backward matches finite differences', () => {
  near(entropyFromLogits([2, 2, 2, 2]), Math.log(4), 1e-15);
  const rng = new Rng(2);
  const logits = Array.from({ length: 7 }, () => 2 * rng.normal());
  const grad = new Float64Array(7).fill(0.5); // accumulates onto what is there
  entropyFromLogitsBackward(logits, 2, grad);
  logits.forEach((z, i) => {
    logits[i] = z + 1e-6;
    const up = entropyFromLogits(logits);
    logits[i] = z - 1e-6;
    const down = entropyFromLogits(logits);
    logits[i] = z;
    near(grad[i], 0.5 + (2 * (up - down)) / 2e-6, 1e-8, `logit ${i}`);
  });
});
