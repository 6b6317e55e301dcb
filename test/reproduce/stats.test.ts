import { test } from 'node:test';
import assert from 'node:assert/strict';
import { differenceVerdict, pairedBootstrap, seedInterval, tQuantile975 } from '../../src/reproduce/stats.js';
import { Rng } from '../../src/util/rng.js';

test('seedInterval is mean ± t(0.975, k-1) s / sqrt(k), worked by hand', () => {
  // [1, 2, 3]: mean 2, unbiased sd 1, t(0.975, 2) = 4.303.
  const interval = seedInterval([1, 2, 3]);
  assert.equal(interval.mean, 2);
  assert.ok(Math.abs(interval.lo! - (2 - 4.303 / Math.sqrt(3))) < 1e-12);
  assert.ok(Math.abs(interval.hi! - (2 + 4.303 / Math.sqrt(3))) < 1e-12);
  assert.deepEqual(seedInterval([0.4]), { mean: 0.4 });
  assert.equal(tQuantile975(1), 12.706);
  assert.equal(tQuantile975(100), 1.96);
  assert.throws(() => tQuantile975(0), RangeError);
});

test('pairedBootstrap: a constant difference has a zero-width interval; a ±1 difference matches the normal 1.96 SE', () => {
  const exact = pairedBootstrap([0.5, 0.7, 0.9], [0.25, 0.45, 0.65], new Rng(1));
  assert.ok(Math.abs(exact.mean - 0.25) < 1e-12 && Math.abs(exact.lo - 0.25) < 1e-12 && Math.abs(exact.hi - 0.25) < 1e-12);
  // 400 problems, difference +1 on half and -1 on half: mean 0, SE = 1 / sqrt(400) = 0.05, 95% half-width 0.098.
  const a = Array.from({ length: 400 }, (_, i) => (i % 2 === 0 ? 1 : 0));
  const b = Array.from({ length: 400 }, (_, i) => (i % 2 === 0 ? 0 : 1));
  const wide = pairedBootstrap(a, b, new Rng(2), 2000);
  assert.equal(wide.mean, 0);
  assert.ok(Math.abs(wide.hi - 0.098) < 0.012 && Math.abs(wide.lo + 0.098) < 0.012, `[${wide.lo}, ${wide.hi}]`);
  assert.throws(() => pairedBootstrap([1], [1, 2], new Rng(0)), RangeError);
});

test('differenceVerdict reads an interval against zero', () => {
  assert.equal(differenceVerdict({ mean: 0.1, lo: 0.01, hi: 0.2 }), 'better');
  assert.equal(differenceVerdict({ mean: -0.1, lo: -0.2, hi: -0.01 }), 'worse');
  assert.equal(differenceVerdict({ mean: 0.1, lo: -0.01, hi: 0.2 }), 'no detectable difference');
  assert.equal(differenceVerdict({ mean: 0.1 }), 'no detectable difference');
});
