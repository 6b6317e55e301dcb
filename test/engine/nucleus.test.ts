// Top-k and nucleus filtering by bounded selection give exactly the full sort's kept tokens, in its order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { keptTokens, selectBest } from '../../src/engine/nucleus.js';
import { Rng } from '../../src/util/rng.js';

/** Every token, weight descending, id ascending. */
function fullSort(weights: Float32Array): number[] {
  return Array.from({ length: weights.length }, (_, j) => j).sort((a, b) => weights[b] - weights[a] || a - b);
}

/** The reference: sort every token, then walk the nucleus. */
function fullSortKept(weights: Float32Array, topK: number, topP: number): { order: number[]; keptMass: number } {
  const V = weights.length;
  const order = fullSort(weights);
  const limit = topK > 0 ? Math.min(topK, V) : V;
  let total = 0;
  for (let i = 0; i < limit; i++) total += weights[order[i]];
  let kept = 0;
  let before = 0;
  while (kept < limit && (kept === 0 || before < topP * total)) before += weights[order[kept++]];
  return { order: order.slice(0, kept), keptMass: before };
}

/** The float64 sum of all weights in id order (what the sampler passes: the kernel's chunk sums). */
function idOrderSum(weights: Float32Array): number {
  return weights.reduce((s, w) => s + w, 0);
}

function randomWeights(rng: Rng, V: number, kind: 'peaked' | 'flat' | 'ties' | 'tiny'): Float32Array {
  return Float32Array.from({ length: V }, () => {
    if (kind === 'ties') return Math.floor(rng.next() * 4) / 4; // many exact ties, and zeros
    if (kind === 'tiny') return rng.next() < 0.5 ? 1e-39 * rng.next() : Math.exp(-80 * rng.next()); // subnormals share bin 0
    const logit = kind === 'peaked' ? 6 * rng.normal() : 0.3 * rng.normal();
    return Math.exp(logit);
  });
}

test('selectBest returns the best m, best first, ties to the lower id', () => {
  const rng = new Rng(1);
  for (const V of [1, 7, 100, 3000]) {
    const weights = randomWeights(rng, V, 'ties');
    for (const m of [1, 3, Math.min(V, 50), V]) {
      const order = new Int32Array(V);
      selectBest(weights, V, m, order);
      assert.deepEqual(Array.from(order.subarray(0, m)), fullSort(weights).slice(0, m), `V ${V}, m ${m}`);
    }
  }
});

test('keptTokens keeps exactly what a full sort keeps, for top-k, top-p and both, on peaked, flat and tied weights', () => {
  const rng = new Rng(2);
  for (const kind of ['peaked', 'flat', 'ties', 'tiny'] as const) {
    for (const V of [5, 300, 5000]) {
      const weights = randomWeights(rng, V, kind);
      for (const [topK, topP] of [[1, 1], [40, 1], [V + 3, 0.5], [0, 0.9], [0, 0.999], [50, 0.8], [0, 1e-9]] as const) {
        const order = new Int32Array(V);
        const { kept, keptMass } = keptTokens(weights, V, topK, topP, order, idOrderSum(weights));
        const reference = fullSortKept(weights, topK, topP);
        assert.deepEqual(Array.from(order.subarray(0, kept)), reference.order, `${kind} V ${V} topK ${topK} topP ${topP}`);
        // Without a top-k limit the total is summed in id order, not sorted order: equal to rounding.
        assert.ok(Math.abs(keptMass - reference.keptMass) <= 1e-12 * reference.keptMass, `${kind} V ${V}: mass ${keptMass} vs ${reference.keptMass}`);
      }
    }
  }
});
