// The chunked LM head (src/engine/head.ts) and its two kernels against float64 loops written here:
// log-probs, lse and entropy over several vocabulary chunks (the last one partial), the gradient with
// respect to the hidden rows and the head's weights (also checked by finite differences), on the plain-JS
// and WebAssembly providers, and softmaxEntropy / softmaxWeights each against float64 and the fallback.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { allocHeadScratch, headBackward, headForward } from '../../src/engine/head.js';
import { FallbackKernels } from '../../src/engine/kernels/fallback.js';
import { createEngine, type Engine } from '../../src/engine/kernels/index.js';
import type { Kernels } from '../../src/engine/kernels/types.js';
import { Arena } from '../../src/engine/memory.js';
import { Rng } from '../../src/util/rng.js';

const N = 5, C = 12, V = 37, CHUNK = 8; // chunks of 8, 8, 8, 8, 5
let wasm: Engine;
before(async () => {
  wasm = await createEngine({ threads: 2 });
});
after(async () => {
  await wasm.kernels.dispose();
});

const providers = (): Array<[string, Kernels, Arena]> => [['ts', new FallbackKernels(), new Arena(0)], ['wasm', wasm.kernels, wasm.arena]];

function filled(arena: Arena, n: number, rng: Rng, scale: number): Float32Array {
  const t = arena.allocF32(n);
  for (let i = 0; i < n; i++) t[i] = scale * rng.normal();
  return t;
}

/** float64 logits row n of hidden · Wᵀ. */
function logitsRow(h: Float32Array, W: Float32Array, n: number): number[] {
  return Array.from({ length: V }, (_, j) => {
    let z = 0;
    for (let c = 0; c < C; c++) z += h[n * C + c] * W[j * C + c];
    return z;
  });
}

function lseOf(z: number[]): number {
  const m = Math.max(...z);
  return m + Math.log(z.reduce((s, x) => s + Math.exp(x - m), 0));
}

/** Σ_n dlogp[n] · log p(target[n]) in float64: the scalar the head's backward differentiates. */
function objective(h: Float32Array, W: Float32Array, targets: Int32Array, dlogp: Float32Array): number {
  let total = 0;
  for (let n = 0; n < N; n++) if (targets[n] >= 0) total += dlogp[n] * (logitsRow(h, W, n)[targets[n]] - lseOf(logitsRow(h, W, n)));
  return total;
}

test('chunked head: log-probs, lse and entropy over 5 chunks equal float64', () => {
  for (const [name, k, arena] of providers()) {
    const rng = new Rng(11);
    const h = filled(arena, N * C, rng, 1), W = filled(arena, V * C, rng, 0.8);
    const targets = arena.allocI32(N);
    targets.set([0, 36, -1, 9, 17]); // first and last vocabulary rows, no target, two middle chunks
    const out = { logp: arena.allocF32(N), lse: arena.allocF32(N), entropy: arena.allocF32(N) };
    headForward(k, allocHeadScratch(arena, N, V, CHUNK), out, h, W, targets, N, V, C);
    for (let n = 0; n < N; n++) {
      const z = logitsRow(h, W, n);
      const lse = lseOf(z);
      const H = -z.reduce((s, x) => s + Math.exp(x - lse) * (x - lse), 0);
      const logp = targets[n] < 0 ? 0 : z[targets[n]] - lse;
      assert.ok(Math.abs(out.lse[n] - lse) < 1e-5, `${name} lse[${n}] ${out.lse[n]} vs ${lse}`);
      assert.ok(Math.abs(out.entropy[n] - H) < 1e-5, `${name} entropy[${n}] ${out.entropy[n]} vs ${H}`);
      assert.ok(Math.abs(out.logp[n] - logp) < 1e-5, `${name} logp[${n}] ${out.logp[n]} vs ${logp}`);
    }
  }
});

test('chunked head: gradients of hidden and W equal the float64 analytic gradient and finite differences', () => {
  for (const [name, k, arena] of providers()) {
    const rng = new Rng(12);
    const h = filled(arena, N * C, rng, 1), W = filled(arena, V * C, rng, 0.8);
    const targets = arena.allocI32(N);
    targets.set([3, -1, 36, 8, 20]);
    const dlogp = filled(arena, N, rng, 1);
    const s = allocHeadScratch(arena, N, V, CHUNK);
    const out = { logp: arena.allocF32(N), lse: arena.allocF32(N), entropy: arena.allocF32(N) };
    headForward(k, s, out, h, W, targets, N, V, C);
    const dh = filled(arena, N * C, rng, 1); // garbage: headBackward overwrites it
    const dW = arena.allocF32(V * C);
    dW.fill(0.5); // accumulates onto what is there
    headBackward(k, s, dh, dW, dlogp, h, W, out.lse, targets, N, V, C);
    // Analytic float64: d logits[n, j] = dlogp[n] (onehot - p).
    const dhRef = new Float64Array(N * C), dWRef = new Float64Array(V * C).fill(0.5);
    for (let n = 0; n < N; n++) {
      if (targets[n] < 0) continue;
      const z = logitsRow(h, W, n);
      const lse = lseOf(z);
      for (let j = 0; j < V; j++) {
        const d = dlogp[n] * ((j === targets[n] ? 1 : 0) - Math.exp(z[j] - lse));
        for (let c = 0; c < C; c++) {
          dhRef[n * C + c] += d * W[j * C + c];
          dWRef[j * C + c] += d * h[n * C + c];
        }
      }
    }
    for (let i = 0; i < N * C; i++) assert.ok(Math.abs(dh[i] - dhRef[i]) < 1e-5, `${name} dh[${i}] ${dh[i]} vs ${dhRef[i]}`);
    for (let i = 0; i < V * C; i++) assert.ok(Math.abs(dW[i] - dWRef[i]) < 1e-5, `${name} dW[${i}] ${dW[i]} vs ${dWRef[i]}`);
    // Finite differences (central, float64 objective) on a few entries of each, in different chunks.
    const eps = 1e-2;
    for (const [tensor, grad, index] of [[h, dh, 7], [h, dh, 50], [W, dW, 3 * C + 1], [W, dW, 36 * C + 5], [W, dW, 20 * C]] as const) {
      const saved = tensor[index];
      tensor[index] = saved + eps;
      const up = objective(h, W, targets, dlogp);
      tensor[index] = saved - eps;
      const down = objective(h, W, targets, dlogp);
      tensor[index] = saved;
      const fd = (up - down) / (2 * eps) + (tensor === W ? 0.5 : 0);
      assert.ok(Math.abs(grad[index] - fd) < 2e-3, `${name} finite difference at ${index}: ${grad[index]} vs ${fd}`);
    }
  }
});

test('softmaxEntropy and softmaxWeights kernels: float64 and the fallback provider, V not a multiple of 4', () => {
  const rows = 3, cols = 1031;
  const fallback = new FallbackKernels();
  const rng = new Rng(13);
  const z = filled(wasm.arena, rows * cols, rng, 4);
  z[cols + 5] = 40; // one dominant logit: a near-zero entropy row
  const run = (k: Kernels) => {
    const H = wasm.arena.allocF32(rows), lse = wasm.arena.allocF32(rows), w = wasm.arena.allocF32(rows * cols), scale = wasm.arena.allocF32(rows);
    scale.set([1, -2.5, 0]);
    k.softmaxEntropy(H, lse, z, rows, cols);
    k.softmaxWeights(w, z, lse, scale, rows, cols);
    return { H, lse, w };
  };
  const got = run(wasm.kernels), ref = run(fallback);
  for (let n = 0; n < rows; n++) {
    const row = Array.from(z.subarray(n * cols, (n + 1) * cols));
    const lse = lseOf(row);
    const H = -row.reduce((s, x) => s + Math.exp(x - lse) * (x - lse), 0);
    for (const [name, r] of [['wasm', got], ['ts', ref]] as const) {
      assert.ok(Math.abs(r.lse[n] - lse) < 2e-5, `${name} lse[${n}] ${r.lse[n]} vs ${lse}`);
      assert.ok(Math.abs(r.H[n] - H) < 1e-4 * Math.max(1, H), `${name} entropy[${n}] ${r.H[n]} vs ${H}`);
      const scale = [1, -2.5, 0][n];
      for (let j = 0; j < cols; j++) {
        const p = scale * Math.exp(row[j] - lse);
        assert.ok(Math.abs(r.w[n * cols + j] - p) < 1e-6 + 1e-5 * Math.abs(p), `${name} weights[${n}, ${j}] ${r.w[n * cols + j]} vs ${p}`);
      }
    }
  }
  // In place (weights aliasing logits), as the head's backward uses it.
  const inPlace = Float32Array.from(z);
  const zz = wasm.arena.allocF32(rows * cols);
  zz.set(inPlace);
  const scale = wasm.arena.allocF32(rows);
  scale.set([1, -2.5, 0]);
  wasm.kernels.softmaxWeights(zz, zz, got.lse, scale, rows, cols);
  assert.deepEqual(zz, got.w);
});

test('softmaxEntropy and softmaxWeights: bit-identical on 1 and 3 threads (rows split over threads)', async () => {
  const rows = 7, cols = 1030;
  const engines = [await createEngine({ threads: 1 }), await createEngine({ threads: 3 })];
  try {
    const results = engines.map((e) => {
      const rng = new Rng(14);
      const z = filled(e.arena, rows * cols, rng, 3);
      const H = e.arena.allocF32(rows), lse = e.arena.allocF32(rows), w = e.arena.allocF32(rows * cols), scale = filled(e.arena, rows, rng, 1);
      const before = (e.kernels as { parallelCalls?: number }).parallelCalls ?? 0;
      e.kernels.softmaxEntropy(H, lse, z, rows, cols);
      e.kernels.softmaxWeights(w, z, lse, scale, rows, cols);
      const parallel = ((e.kernels as { parallelCalls?: number }).parallelCalls ?? 0) - before;
      return { H: Array.from(H), lse: Array.from(lse), w: Array.from(w), parallel };
    });
    assert.equal(results[1].parallel, 2, 'both calls ran on the thread pool');
    assert.deepEqual(results[1].H, results[0].H);
    assert.deepEqual(results[1].lse, results[0].lse);
    assert.deepEqual(results[1].w, results[0].w);
  } finally {
    for (const e of engines) await e.kernels.dispose();
  }
});
