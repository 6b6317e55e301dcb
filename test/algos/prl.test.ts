import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { frpoAdvantages, tokenKl } from '../../src/algos/frpo.js';
import { logRatioSuffixSums, prlAdvantages, prlRawAdvantages } from '../../src/algos/prl.js';
import { stepEnds, type StepSplit } from '../../src/algos/steps.js';

const close = (a: ArrayLike<number>, b: ArrayLike<number>, tol = 1e-12): void => {
  assert.equal(a.length, b.length);
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) <= tol, `index ${i}: ${a[i]} vs ${b[i]}`);
};

const oldLp = [-1, -2, -0.5, -1];
const refLp = [-1.5, -2, -1, -0.5];

test('PRL by hand: d = [.5, 0, .5, -.5], S = [.5, 0, 0, -.5], R = 1 - S/2, steps of 2 take their end value', () => {
  close(logRatioSuffixSums(oldLp, refLp, [1, 1, 1, 1]), [0.5, 0, 0, -0.5]);
  const mask = [1, 1, 1, 1];
  close(prlAdvantages(1, oldLp, refLp, mask, 2, stepEnds({ kind: 'length', length: 2 }, { mask })), [1, 1, 1.25, 1.25]);
  close(prlAdvantages(1, oldLp, refLp, mask, 2, [0, 1, 2, 3]), [0.75, 1, 1, 1.25]);
  close(prlRawAdvantages(1, oldLp, refLp, mask, 2), [0.75, 1, 1, 1.25]);
});

test('PRL by hand with a masked token: it adds nothing to S and gets 0', () => {
  const mask = [1, 1, 0, 1];
  close(logRatioSuffixSums(oldLp, refLp, mask), [0, -0.5, -0.5, -0.5]);
  close(prlAdvantages(1, oldLp, refLp, mask, 2, stepEnds({ kind: 'length', length: 2 }, { mask })), [1.25, 1.25, 0, 1.25]);
  close(prlRawAdvantages(0, oldLp, refLp, mask, 2), [0, 0.25, 0, 0.25]);
});

test('FRPO k3 by hand: delta = -log u + u - 1 with u = pi_ref / pi_old', () => {
  const u = Math.exp(-1.5) / Math.exp(-1);
  assert.ok(Math.abs(tokenKl(-1, -1.5, 'k3') - (-Math.log(u) + u - 1)) < 1e-15);
  const d = [0, 1, 2, 3].map((t) => tokenKl(oldLp[t], refLp[t], 'k3'));
  close(frpoAdvantages(0.5, oldLp, refLp, [1, 1, 1, 1], 0.1, 'k3'), [0, 1, 2, 3].map((t) => 0.5 - 0.1 * d.slice(t).reduce((a, b) => a + b, 0)));
});

const seqArb = fc.integer({ min: 1, max: 12 }).chain((T) =>
  fc.record({
    old: fc.array(fc.double({ min: -6, max: 0, noNaN: true }), { minLength: T, maxLength: T }),
    ref: fc.array(fc.double({ min: -6, max: 0, noNaN: true }), { minLength: T, maxLength: T }),
    mask: fc.array(fc.constantFrom(0, 1, 1, 1), { minLength: T, maxLength: T }),
    adv: fc.double({ min: -3, max: 3, noNaN: true }),
    eta: fc.double({ min: 0.1, max: 300, noNaN: true }),
    L: fc.integer({ min: 1, max: 5 }),
  }),
);

test('property: PRL with length:1 equals FRPO-k1 with beta = 1/eta', () => {
  fc.assert(
    fc.property(seqArb, ({ old, ref, mask, adv, eta }) => {
      const ends = stepEnds({ kind: 'length', length: 1 }, { mask });
      close(prlAdvantages(adv, old, ref, mask, eta, ends), frpoAdvantages(adv, old, ref, mask, 1 / eta, 'k1'), 1e-9);
    }),
  );
});

test('property: PRL with eta -> infinity is GRPO: A_i on every valid token, for any step split', () => {
  fc.assert(
    fc.property(seqArb, ({ old, ref, mask, adv, L }) => {
      const grpo = mask.map((m) => m * adv);
      const ends = stepEnds({ kind: 'length', length: L } satisfies StepSplit, { mask });
      close(prlAdvantages(adv, old, ref, mask, Infinity, ends), grpo);
      close(prlAdvantages(adv, old, ref, mask, 1e12, ends), grpo, 1e-9);
    }),
  );
});

test('property: prl-raw is FRPO-k1 with the raw reward as the group advantage', () => {
  fc.assert(
    fc.property(seqArb, ({ old, ref, mask, adv, eta }) => {
      close(prlRawAdvantages(adv, old, ref, mask, eta), frpoAdvantages(adv, old, ref, mask, 1 / eta), 1e-9);
    }),
  );
});

test('property: k3 is non-negative, so FRPO-k3 advantages never exceed A_i and rise along the response', () => {
  fc.assert(
    fc.property(seqArb, ({ old, ref, mask, adv }) => {
      const a = frpoAdvantages(adv, old, ref, mask, 0.05, 'k3');
      const valid = a.filter((_, t) => mask[t] === 1);
      valid.forEach((x, j) => {
        assert.ok(x <= adv + 1e-12);
        if (j > 0) assert.ok(x >= valid[j - 1] - 1e-12);
      });
    }),
  );
});
