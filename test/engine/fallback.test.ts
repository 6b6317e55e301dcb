// Every kernel of the reference provider against float64 references written here, and every backward
// against central finite differences of those references.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FallbackKernels } from '../../src/engine/kernels/fallback.js';
import type { AttentionDims } from '../../src/engine/kernels/types.js';
import { Rng } from '../../src/util/rng.js';

const K = new FallbackKernels();

function randn(rng: Rng, n: number, scale = 1): Float64Array {
  return Float64Array.from({ length: n }, () => scale * rng.normal());
}

const f32 = (x: ArrayLike<number>) => Float32Array.from(x);

/** Central differences of a float64 scalar function with respect to every entry of x. */
function numericGrad(f: () => number, x: Float64Array, h = 1e-5): Float64Array {
  const g = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const saved = x[i];
    x[i] = saved + h;
    const plus = f();
    x[i] = saved - h;
    const minus = f();
    x[i] = saved;
    g[i] = (plus - minus) / (2 * h);
  }
  return g;
}

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string, rtol = 1e-3, atol = 1e-5): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    const err = Math.abs(actual[i] - expected[i]);
    if (!(err <= atol + rtol * Math.abs(expected[i]))) {
      assert.fail(`${what}[${i}]: got ${actual[i]}, expected ${expected[i]} (error ${err})`);
    }
  }
}

const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
};

test('matmul: all three layouts, overwrite and accumulate, match float64 products', () => {
  const rng = new Rng(1);
  const M = 5, N = 7, Kd = 6;
  const A = randn(rng, M * Kd); // (M, K)
  const Bm = randn(rng, Kd * N); // (K, N)
  const expected = new Float64Array(M * N);
  for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) for (let k = 0; k < Kd; k++) expected[m * N + n] += A[m * Kd + k] * Bm[k * N + n];
  const At = new Float64Array(Kd * M); // (K, M)
  const Bt = new Float64Array(N * Kd); // (N, K)
  for (let m = 0; m < M; m++) for (let k = 0; k < Kd; k++) At[k * M + m] = A[m * Kd + k];
  for (let k = 0; k < Kd; k++) for (let n = 0; n < N; n++) Bt[n * Kd + k] = Bm[k * N + n];
  const start = randn(rng, M * N);
  const cases: Array<['nt' | 'nn' | 'tn', Float64Array, Float64Array]> = [['nt', A, Bt], ['nn', A, Bm], ['tn', At, Bm]];
  for (const [layout, a, b] of cases) {
    const out = f32(start);
    K.matmul(out, f32(a), f32(b), M, N, Kd, layout, false);
    assertClose(out, expected, `${layout} overwrite`, 1e-5, 1e-5);
    const acc = f32(start);
    K.matmul(acc, f32(a), f32(b), M, N, Kd, layout, true);
    assertClose(acc, expected.map((e, i) => e + start[i]), `${layout} accumulate`, 1e-5, 1e-5);
  }
});

test('bias: forward broadcasts over rows, backward accumulates column sums', () => {
  const rng = new Rng(2);
  const N = 4, C = 3;
  const x = randn(rng, N * C), bias = randn(rng, C), dout = randn(rng, N * C);
  const out = f32(x);
  K.addBias(out, f32(bias), N, C);
  assertClose(out, x.map((v, i) => v + bias[i % C]), 'addBias', 1e-6, 1e-6);
  const loss = () => dot(x.map((v, i) => v + bias[i % C]), dout);
  const dbias = f32([1, 2, 3]);
  K.biasBackward(dbias, f32(dout), N, C);
  assertClose(dbias, numericGrad(loss, bias).map((g, i) => g + i + 1), 'dbias');
});

function rmsnormRef(x: Float64Array, w: Float64Array, N: number, C: number, eps: number): Float64Array {
  const out = new Float64Array(N * C);
  for (let n = 0; n < N; n++) {
    let ms = 0;
    for (let c = 0; c < C; c++) ms += x[n * C + c] ** 2 / C;
    for (let c = 0; c < C; c++) out[n * C + c] = (x[n * C + c] / Math.sqrt(ms + eps)) * w[c];
  }
  return out;
}

test('rmsnorm: forward, rstd, and backward (dx, dw) against finite differences', () => {
  const rng = new Rng(3);
  const N = 3, C = 8, eps = 1e-5;
  const x = randn(rng, N * C), w = randn(rng, C, 0.5).map((v) => v + 1), dout = randn(rng, N * C);
  const out = new Float32Array(N * C), rstd = new Float32Array(N);
  K.rmsnormForward(out, rstd, f32(x), f32(w), N, C, eps);
  assertClose(out, rmsnormRef(x, w, N, C, eps), 'rmsnorm out', 1e-5, 1e-6);
  const loss = () => dot(rmsnormRef(x, w, N, C, eps), dout);
  const dx = f32(Array(N * C).fill(0.5)), dw = new Float32Array(C);
  K.rmsnormBackward(dx, dw, f32(dout), f32(x), f32(w), rstd, N, C);
  assertClose(dx, numericGrad(loss, x).map((g) => g + 0.5), 'dx (accumulated onto 0.5)');
  assertClose(dw, numericGrad(loss, w), 'dw');
});

/** HF apply_rotary_pos_emb: x·cos + rotate_half(x)·sin, rotate_half(x) = cat(-x2, x1), cos/sin repeated twice. */
function ropeRef(x: Float64Array, positions: number[], N: number, H: number, D: number, theta: number): Float64Array {
  const out = new Float64Array(x.length);
  const half = D / 2;
  for (let n = 0; n < N; n++) {
    for (let h = 0; h < H; h++) {
      const base = (n * H + h) * D;
      for (let i = 0; i < D; i++) {
        const freq = Math.pow(theta, -(2 * (i % half)) / D);
        const angle = positions[n] * freq;
        const rotated = i < half ? -x[base + i + half] : x[base + i - half];
        out[base + i] = x[base + i] * Math.cos(angle) + rotated * Math.sin(angle);
      }
    }
  }
  return out;
}

function ropeTablesF32(maxPos: number, D: number, theta: number): [Float32Array, Float32Array] {
  const half = D / 2;
  const cos = new Float32Array(maxPos * half), sin = new Float32Array(maxPos * half);
  for (let p = 0; p < maxPos; p++) {
    for (let i = 0; i < half; i++) {
      cos[p * half + i] = Math.cos(p * Math.pow(theta, (-2 * i) / D));
      sin[p * half + i] = Math.sin(p * Math.pow(theta, (-2 * i) / D));
    }
  }
  return [cos, sin];
}

test('rope: rotate-half forward matches HF, inverse rotation is the backward', () => {
  const rng = new Rng(4);
  const N = 5, H = 2, D = 8, theta = 10000;
  const positions = [0, 1, 7, 3, 12];
  const [cos, sin] = ropeTablesF32(16, D, theta);
  const x = randn(rng, N * H * D), dout = randn(rng, N * H * D);
  const out = f32(x);
  K.rope(out, Int32Array.from(positions), cos, sin, N, H, D, false);
  assertClose(out, ropeRef(x, positions, N, H, D, theta), 'rope', 1e-5, 1e-6);
  const dx = f32(dout);
  K.rope(dx, Int32Array.from(positions), cos, sin, N, H, D, true);
  assertClose(dx, numericGrad(() => dot(ropeRef(x, positions, N, H, D, theta), dout), x), 'rope backward');
});

/** Naive causal attention with grouped-query heads, float64; returns out and lse (B, nHead, T). */
function attentionRef(q: Float64Array, k: Float64Array, v: Float64Array, d: AttentionDims): { out: Float64Array; lse: Float64Array } {
  const { B, T, nHead, nKvHead, headDim } = d;
  const out = new Float64Array(B * T * nHead * headDim);
  const lse = new Float64Array(B * nHead * T);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < nHead; h++) {
      const g = Math.floor((h * nKvHead) / nHead);
      for (let t = 0; t < T; t++) {
        const s: number[] = [];
        for (let j = 0; j <= t; j++) {
          let acc = 0;
          for (let i = 0; i < headDim; i++) acc += q[((b * T + t) * nHead + h) * headDim + i] * k[((b * T + j) * nKvHead + g) * headDim + i];
          s.push(acc / Math.sqrt(headDim));
        }
        const m = Math.max(...s);
        const z = s.reduce((acc, si) => acc + Math.exp(si - m), 0);
        lse[(b * nHead + h) * T + t] = m + Math.log(z);
        for (let j = 0; j <= t; j++) {
          const p = Math.exp(s[j] - m) / z;
          for (let i = 0; i < headDim; i++) out[((b * T + t) * nHead + h) * headDim + i] += p * v[((b * T + j) * nKvHead + g) * headDim + i];
        }
      }
    }
  }
  return { out, lse };
}

test('attention (GQA, causal): forward and lse match float64; dq, dk, dv match finite differences', () => {
  const rng = new Rng(5);
  const d: AttentionDims = { B: 2, T: 5, nHead: 4, nKvHead: 2, headDim: 4 };
  const q = randn(rng, d.B * d.T * d.nHead * d.headDim);
  const k = randn(rng, d.B * d.T * d.nKvHead * d.headDim);
  const v = randn(rng, d.B * d.T * d.nKvHead * d.headDim);
  const dout = randn(rng, q.length);
  const ref = attentionRef(q, k, v, d);
  const out = new Float32Array(q.length), lse = new Float32Array(d.B * d.nHead * d.T);
  K.attentionForward(out, lse, f32(q), f32(k), f32(v), d);
  assertClose(out, ref.out, 'attention out', 1e-5, 1e-6);
  assertClose(lse, ref.lse, 'lse', 1e-5, 1e-6);
  const loss = () => dot(attentionRef(q, k, v, d).out, dout);
  const dq = f32(Array(q.length).fill(1)), dk = new Float32Array(k.length), dv = new Float32Array(v.length);
  K.attentionBackward(dq, dk, dv, f32(dout), out, lse, f32(q), f32(k), f32(v), d);
  assertClose(dq, numericGrad(loss, q).map((g) => g + 1), 'dq (accumulated onto 1)');
  assertClose(dk, numericGrad(loss, k), 'dk');
  assertClose(dv, numericGrad(loss, v), 'dv');
});

test('attentionCached: query rows at ragged positions equal the rows of full causal attention', () => {
  const rng = new Rng(6);
  const d: AttentionDims = { B: 2, T: 6, nHead: 4, nKvHead: 2, headDim: 4 };
  const qDim = d.nHead * d.headDim, kvDim = d.nKvHead * d.headDim;
  const q = f32(randn(rng, d.B * d.T * qDim)), k = f32(randn(rng, d.B * d.T * kvDim)), v = f32(randn(rng, d.B * d.T * kvDim));
  const full = new Float32Array(q.length);
  K.attentionForward(full, new Float32Array(d.B * d.nHead * d.T), q, k, v, d);
  const maxT = 9; // cache longer than the sequence: only positions <= pos + t may be read
  const kCache = new Float32Array(d.B * maxT * kvDim).fill(1e3), vCache = new Float32Array(d.B * maxT * kvDim).fill(1e3);
  for (let b = 0; b < d.B; b++) {
    kCache.set(k.subarray(b * d.T * kvDim, (b + 1) * d.T * kvDim), b * maxT * kvDim);
    vCache.set(v.subarray(b * d.T * kvDim, (b + 1) * d.T * kvDim), b * maxT * kvDim);
  }
  const pos = Int32Array.from([2, 4]); // sequence 0 queries rows 2..3, sequence 1 rows 4..5
  const Tq = 2;
  const qRows = new Float32Array(d.B * Tq * qDim);
  for (let b = 0; b < d.B; b++) qRows.set(q.subarray((b * d.T + pos[b]) * qDim, (b * d.T + pos[b] + Tq) * qDim), b * Tq * qDim);
  const out = new Float32Array(qRows.length);
  K.attentionCached(out, qRows, kCache, vCache, pos, Tq, maxT, d);
  for (let b = 0; b < d.B; b++) {
    const expected = full.subarray((b * d.T + pos[b]) * qDim, (b * d.T + pos[b] + Tq) * qDim);
    assertClose(out.subarray(b * Tq * qDim, (b + 1) * Tq * qDim), expected, `cached rows of sequence ${b}`, 1e-6, 1e-7);
  }
});

test('swiglu: forward silu(g)·u and backward against finite differences', () => {
  const rng = new Rng(7);
  const n = 12;
  const gate = randn(rng, n, 2), up = randn(rng, n), dout = randn(rng, n);
  const ref = () => gate.map((g, i) => (g / (1 + Math.exp(-g))) * up[i]);
  const out = new Float32Array(n);
  K.swigluForward(out, f32(gate), f32(up), n);
  assertClose(out, ref(), 'swiglu', 1e-5, 1e-6);
  const dgate = new Float32Array(n), dup = new Float32Array(n);
  K.swigluBackward(dgate, dup, f32(dout), f32(gate), f32(up), n);
  assertClose(dgate, numericGrad(() => dot(ref(), dout), gate), 'dgate');
  assertClose(dup, numericGrad(() => dot(ref(), dout), up), 'dup');
});

test('logSoftmaxGather: log-probs of targets, no-target rows, backward overwrites (aliasing allowed)', () => {
  const rng = new Rng(8);
  const N = 4, V = 6;
  const logits = randn(rng, N * V, 2);
  const targets = Int32Array.from([3, -1, 0, 5]);
  const dlogp = randn(rng, N);
  const ref = () => {
    const out = new Float64Array(N);
    for (let n = 0; n < N; n++) {
      const row = logits.subarray(n * V, (n + 1) * V);
      const lse = Math.log(row.reduce((s, z) => s + Math.exp(z), 0));
      out[n] = targets[n] < 0 ? 0 : row[targets[n]] - lse;
    }
    return out;
  };
  const logp = new Float32Array(N), lse = new Float32Array(N);
  const logits32 = f32(logits);
  K.logSoftmaxGather(logp, lse, logits32, targets, N, V);
  assertClose(logp, ref(), 'logp', 1e-5, 1e-6);
  assertClose(lse.subarray(1, 2), [Math.log(logits.subarray(V, 2 * V).reduce((s, z) => s + Math.exp(z), 0))], 'lse of a no-target row', 1e-5, 1e-6);
  const expected = numericGrad(() => dot(ref(), dlogp), logits);
  const dlogits = new Float32Array(N * V).fill(7); // garbage: must be overwritten
  K.logSoftmaxGatherBackward(dlogits, f32(dlogp), logits32, lse, targets, N, V);
  assertClose(dlogits, expected, 'dlogits');
  K.logSoftmaxGatherBackward(logits32, f32(dlogp), logits32, lse, targets, N, V);
  assertClose(logits32, expected, 'dlogits written over the logits');
});

test('sumSquares, scale, add and adamw match float64 arithmetic', () => {
  const rng = new Rng(9);
  const n = 10000; // more than one reduction chunk
  const x = f32(randn(rng, n));
  let ss = 0;
  for (let i = 0; i < n; i++) ss += x[i] * x[i];
  assert.ok(Math.abs(K.sumSquares(x, n) - ss) <= 1e-9 * ss);
  const y = x.slice();
  K.scale(y, 0.5, n);
  assertClose(y, Array.from(x, (v) => v * 0.5), 'scale', 0, 0);
  const sum = new Float32Array(n);
  K.add(sum, x, y, n);
  assertClose(sum, Array.from(x, (v, i) => v + y[i]), 'add', 1e-7, 0);

  const p = randn(rng, 50), g = randn(rng, 50), m = randn(rng, 50, 0.1), v = randn(rng, 50, 0.1).map(Math.abs);
  const [lr, b1, b2, eps, wd, step] = [1e-2, 0.9, 0.95, 1e-8, 0.1, 3];
  const expected = p.map((pi, i) => {
    const mi = b1 * m[i] + (1 - b1) * g[i];
    const vi = b2 * v[i] + (1 - b2) * g[i] ** 2;
    return pi - lr * (mi / (1 - b1 ** step) / (Math.sqrt(vi / (1 - b2 ** step)) + eps) + wd * pi);
  });
  const p32 = f32(p), m32 = f32(m), v32 = f32(v);
  K.adamw(p32, f32(g), m32, v32, 50, lr, b1, b2, eps, wd, step);
  assertClose(p32, expected, 'adamw params', 1e-5, 1e-6);
  assertClose(m32, m.map((mi, i) => b1 * mi + (1 - b1) * g[i]), 'adamw m', 1e-5, 1e-7);
});
