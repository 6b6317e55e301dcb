import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { bootstrapMeanIntervals, majorityCorrect, majorityIndex, passAtK, passKs, sampleMetrics } from '../../src/algos/metrics.js';
import { Rng } from '../../src/util/rng.js';

function choose(n: number, k: number): number {
  let c = 1;
  for (let i = 0; i < k; i++) c = (c * (n - i)) / (i + 1);
  return Math.round(c);
}

test('pass@k equals 1 - C(n-c, k)/C(n, k) with exact binomials; pass@1 = c/n', () => {
  for (let n = 1; n <= 20; n++) {
    for (let c = 0; c <= n; c++) {
      near(passAtK(n, c, 1), c / n);
      for (let k = 1; k <= n; k++) near(passAtK(n, c, k), n - c < k ? 1 : 1 - choose(n - c, k) / choose(n, k));
    }
  }
  assert.throws(() => passAtK(4, 1, 5), RangeError);
});

function near(a: number, b: number, tol = 1e-12): void {
  assert.ok(Math.abs(a - b) <= tol, `${a} vs ${b}`);
}

test('property: pass@k is exactly 1 when n - c < k and never falls as k grows', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 200 }), fc.nat(), (n, cRaw) => {
      const c = cRaw % (n + 1);
      let previous = 0;
      for (let k = 1; k <= n; k++) {
        const p = passAtK(n, c, k);
        if (n - c < k) assert.equal(p, 1);
        assert.ok(p >= previous - 1e-15 && p <= 1);
        previous = p;
      }
    }),
  );
});

test('majority vote: most frequent answer, ties to the first seen, null does not vote', () => {
  assert.equal(majorityIndex(['b', 'a', 'a', 'b']), 0);
  assert.equal(majorityIndex([null, 'a', 'b', 'b']), 2);
  assert.equal(majorityIndex([null, null]), -1);
  assert.equal(majorityCorrect(['7', '3', '3', null], [true, false, false, false]), 0);
  assert.equal(majorityCorrect(['7', '3', '7', '3'], [true, false, true, false]), 1);
});

test('bootstrap: seeded and reproducible; a constant score has a zero-width interval; Bernoulli(1/2) width ~ 2 * 1.96 * 0.5 / sqrt(P)', () => {
  const P = 400;
  const rng = new Rng(9);
  const coin: number[] = Array.from({ length: P }, () => (rng.next() < 0.5 ? 1 : 0));
  const constant = new Array<number>(P).fill(0.25);
  const [ci, flat] = bootstrapMeanIntervals([coin, constant], new Rng(1), 2000);
  assert.deepEqual(bootstrapMeanIntervals([coin, constant], new Rng(1), 2000), [ci, flat]);
  assert.deepEqual(flat, [0.25, 0.25]);
  const mean = coin.reduce((a, b) => a + b, 0) / P;
  assert.ok(ci[0] < mean && mean < ci[1]);
  const expectedWidth = (2 * 1.96 * Math.sqrt(mean * (1 - mean))) / Math.sqrt(P);
  assert.ok(Math.abs(ci[1] - ci[0] - expectedWidth) < 0.15 * expectedWidth, `width ${ci[1] - ci[0]} vs ${expectedWidth}`);
});

test('sampleMetrics: keys for n = 16 and n = 6, values by hand', () => {
  assert.deepEqual(passKs(16), [1, 2, 4, 8, 16]);
  assert.deepEqual(passKs(6), [1, 2, 4, 6]);
  const problems = [
    { correct: [true, false, false, false, false, false], answers: ['1', '2', '2', '3', null, '4'] },
    { correct: [true, true, true, false, false, false], answers: ['5', '5', '5', '4', '4', '4'] },
  ];
  const m = sampleMetrics(problems, new Rng(0), 200);
  assert.deepEqual(Object.keys(m), ['problems', 'n', 'avg@6', 'pass@1', 'pass@2', 'pass@4', 'pass@6', 'maj@6', 'ci95']);
  near(m['avg@6'] as number, (1 / 6 + 3 / 6) / 2);
  near(m['pass@2'] as number, (1 - choose(5, 2) / choose(6, 2) + 1 - choose(3, 2) / choose(6, 2)) / 2);
  near(m['maj@6'] as number, 0.5); // problem 1: '2' wins (wrong); problem 2: '5' seen first (right)
  assert.deepEqual(Object.keys(m.ci95), ['avg@6', 'pass@1', 'pass@2', 'pass@4', 'pass@6', 'maj@6']);
  assert.ok(!('maj@6' in sampleMetrics([{ correct: [true, false, false, false, false, false] }], new Rng(0), 10)));
});
