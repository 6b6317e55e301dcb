import { test } from 'node:test';
import assert from 'node:assert/strict';
import { policyLoss, tisWeights } from '../../src/algos/index.js';
import { Rng } from '../../src/util/rng.js';

const near = (a: number, b: number, tol: number, what = ''): void => assert.ok(Math.abs(a - b) <= tol, `${what} ${a} vs ${b}`);

test('tisWeights by hand: min(exp(trainer - behaviour), cap), masked tokens 0, NaN behaviour weight 1 and out of the stats', () => {
  const trainer = [[-1, -2, -0.5], [-3, -1]];
  const behaviour = [[-1.5, -1, NaN], [-3 - Math.log(4), -1]];
  const mask = [[1, 1, 1], [1, 0]];
  const r = tisWeights(trainer, behaviour, mask, 2);
  // Token (0,0): exp(0.5) = 1.6487; (0,1): exp(-1) = 0.3679; (0,2): NaN -> 1; (1,0): exp(log 4) = 4 -> capped at 2; (1,1) masked.
  near(r.weights[0][0], Math.exp(0.5), 1e-12);
  near(r.weights[0][1], Math.exp(-1), 1e-12);
  assert.equal(r.weights[0][2], 1);
  near(r.weights[1][0], 2, 1e-12);
  assert.equal(r.weights[1][1], 0);
  // Stats over the three measured tokens: |0.5|, |1|, |log 4|; one of three capped.
  near(r.meanAbsDiff, (0.5 + 1 + Math.log(4)) / 3, 1e-12);
  near(r.cappedFrac, 1 / 3, 1e-12);
});

test('tisWeights with cap 0 is off: weights 1 on valid tokens, the mismatch still measured, nothing capped', () => {
  const r = tisWeights([[-1, -2]], [[-3, -2]], [[1, 1]], 0);
  assert.deepEqual(Array.from(r.weights[0]), [1, 1]);
  near(r.meanAbsDiff, 1, 1e-12);
  assert.equal(r.cappedFrac, 0);
  const none = tisWeights([[-1]], [[NaN]], [[1]], 2);
  assert.equal(none.meanAbsDiff, 0);
  assert.equal(none.cappedFrac, 0);
  assert.throws(() => tisWeights([[-1]], [[-1]], [[1]], -1), /cap/);
});

test('policyLoss with TIS weights: the policy-gradient term is scaled per token, the KL loss is not', () => {
  // One token, unclipped branch (ratio 1): pg loss = -A, dL/dlogp = -A; with w = 0.5: -A/2.
  const base = { logp: [[-1]], logpOld: [[-1]], advantages: [[2]], mask: [[1]], logpRef: [[-1.5]] };
  const plain = policyLoss(base, { klCoef: 0.1, kl: 'k1' });
  const weighted = policyLoss({ ...base, tisWeights: [[0.5]] }, { klCoef: 0.1, kl: 'k1' });
  near(plain.pgLoss, -2, 1e-12);
  near(weighted.pgLoss, -1, 1e-12);
  near(weighted.klLoss, plain.klLoss, 1e-15);
  // d/dlogp: pg -A w = -1, KL k1 gives klCoef * 1 = 0.1.
  near(weighted.dlogp[0][0], -1 + 0.1, 1e-12);
});

test('policyLoss gradient with TIS weights matches central finite differences', () => {
  const rng = new Rng(5);
  const h = 1e-6;
  let checked = 0;
  for (let trial = 0; trial < 4; trial++) {
    const lens = Array.from({ length: 4 }, () => 1 + rng.int(5));
    const gen = (f: () => number): number[][] => lens.map((T) => Array.from({ length: T }, f));
    const logpOld = gen(() => -3 * rng.next());
    const batch = {
      logpOld,
      logp: logpOld.map((s) => s.map((x) => x + 0.3 * rng.normal())),
      logpRef: logpOld.map((s) => s.map((x) => x + 0.3 * rng.normal())),
      advantages: gen(() => 2 * rng.normal()),
      mask: gen(() => (rng.next() < 0.8 ? 1 : 0)),
      tisWeights: gen(() => 2 * rng.next()),
    };
    const options = { aggregation: 'seq-mean-token-mean' as const, klCoef: 0.2, kl: 'k3' as const };
    const result = policyLoss(batch, options);
    batch.logp.forEach((seq, i) =>
      seq.forEach((x, t) => {
        const ratio = Math.exp(x - batch.logpOld[i][t]);
        const a = Math.abs(batch.advantages[i][t]);
        if ([0.8, 1.2].some((k) => Math.abs(ratio - k) < 1e-3) || Math.abs(ratio * a - 3 * a) < 1e-3) return;
        seq[t] = x + h;
        const up = policyLoss(batch, options).loss;
        seq[t] = x - h;
        const down = policyLoss(batch, options).loss;
        seq[t] = x;
        near(result.dlogp[i][t], (up - down) / (2 * h), 1e-7, `trial ${trial} seq ${i} token ${t}`);
        checked++;
      }),
    );
  }
  assert.ok(checked > 10);
});
