import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { advantagesByGroup, grpoAdvantages, groupIndices, meanBaselineAdvantages, rlooAdvantages } from '../../src/algos/advantages.js';

const close = (a: ArrayLike<number>, b: ArrayLike<number>, tol = 1e-12): void => {
  assert.equal(a.length, b.length);
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) <= tol, `index ${i}: ${a[i]} vs ${b[i]}`);
};

test('GRPO on [1, 0, 0, 1]: mean 1/2, unbiased std sqrt(1/3), population std 1/2', () => {
  const r = [1, 0, 0, 1];
  const s = Math.sqrt(1 / 3);
  close(grpoAdvantages(r), [0.5 / (s + 1e-6), -0.5 / (s + 1e-6), -0.5 / (s + 1e-6), 0.5 / (s + 1e-6)]);
  close(grpoAdvantages(r, 'population'), [0.5 / 0.500001, -0.5 / 0.500001, -0.5 / 0.500001, 0.5 / 0.500001]);
  close(grpoAdvantages(r, 'none'), [0.5, -0.5, -0.5, 0.5]);
});

test('GRPO: a group of one keeps its reward (mean 0, std 1); equal rewards give 0', () => {
  close(grpoAdvantages([0.7]), [0.7]);
  close(grpoAdvantages([1, 1, 1]), [0, 0, 0]);
});

test('RLOO on [1, 0, 0]: 1 - 0, 0 - 1/2, 0 - 1/2; equals n/(n-1) times the mean-baseline advantage', () => {
  close(rlooAdvantages([1, 0, 0]), [1, -0.5, -0.5]);
  fc.assert(
    fc.property(fc.array(fc.double({ min: -5, max: 5, noNaN: true }), { minLength: 2, maxLength: 8 }), (r) => {
      const n = r.length;
      close(rlooAdvantages(r), Array.from(meanBaselineAdvantages(r), (a) => (a * n) / (n - 1)), 1e-9);
    }),
  );
});

test('GRPO advantages sum to 0 in a group; with the population std their variance is s^2 / (s + eps)^2', () => {
  fc.assert(
    fc.property(fc.array(fc.double({ min: -5, max: 5, noNaN: true }), { minLength: 2, maxLength: 10 }), (r) => {
      const a = grpoAdvantages(r, 'population');
      assert.ok(Math.abs(a.reduce((x, y) => x + y, 0)) < 1e-6);
      const mean = r.reduce((x, y) => x + y, 0) / r.length;
      const s = Math.sqrt(r.reduce((x, y) => x + (y - mean) ** 2, 0) / r.length);
      const variance = a.reduce((x, y) => x + y * y, 0) / r.length;
      assert.ok(Math.abs(variance - (s / (s + 1e-6)) ** 2) < 1e-9);
    }),
  );
});

test('groups are found by key (type and value) in first-seen order and scattered back', () => {
  const groups = groupIndices(['b', 1, 'b', '1', 1]);
  assert.deepEqual(groups, [[0, 2], [1, 4], [3]]);
  close(advantagesByGroup([1, 5, 3, 9, 7], groups, meanBaselineAdvantages), [-1, -1, 1, 0, 1]);
});
