// The WebAssembly kernels against plain float64 loops written here (independent of the kernels),
// at sizes that are not multiples of the SIMD tiles, plus bit-identical results for 1, 2 and 3 threads.
// This file tests the module createEngine picks by default (the FMA build where the runtime accepts
// relaxed SIMD); kernels-plain.test.ts runs it again with PRL_NO_FMA=1 for the plain build.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createEngine, type Engine } from '../../src/engine/kernels/index.js';
import type { AttentionDims, MatmulLayout } from '../../src/engine/kernels/types.js';
import type { WasmKernels } from '../../src/engine/kernels/wasm.js';
import { Rng } from '../../src/util/rng.js';

let engines: Engine[] = []; // 1, 2 and 3 threads

before(async () => {
  engines = [await createEngine({ threads: 1 }), await createEngine({ threads: 2 }), await createEngine({ threads: 3 })];
});
after(async () => {
  for (const e of engines) await e.kernels.dispose();
});

/** A tensor in engine memory filled with uniform values in [-scale, scale). */
function randomTensor(e: Engine, n: number, rng: Rng, scale = 1): Float32Array {
  const t = e.arena.allocF32(n);
  for (let i = 0; i < n; i++) t[i] = (2 * rng.next() - 1) * scale;
  return t;
}

function ints(e: Engine, values: number[]): Int32Array {
  const t = e.arena.allocI32(values.length);
  t.set(values);
  return t;
}

/** |got - want| <= atol + rtol |want| elementwise, naming the first bad index. */
function assertClose(got: ArrayLike<number>, want: ArrayLike<number>, what: string, atol = 1e-5, rtol = 1e-4): void {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs(got[i] - want[i]);
    if (!(err <= atol + rtol * Math.abs(want[i]))) assert.fail(`${what}[${i}]: got ${got[i]}, want ${want[i]}`);
  }
}

// ----------------------------------------------------------------------------------------------
// float64 references

function refMatmul(a: ArrayLike<number>, b: ArrayLike<number>, M: number, N: number, K: number, layout: MatmulLayout, init?: ArrayLike<number>): Float64Array {
  const out = new Float64Array(M * N);
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let s = init ? init[i * N + j] : 0;
      for (let k = 0; k < K; k++) {
        const av = layout === 'tn' ? a[k * M + i] : a[i * K + k];
        const bv = layout === 'nt' ? b[j * K + k] : b[k * N + j];
        s += av * bv;
      }
      out[i * N + j] = s;
    }
  }
  return out;
}

/** out (B,T,nHead,hd), lse (B,nHead,T) and the probabilities P[b][h][t][j]. */
function refAttention(q: ArrayLike<number>, k: ArrayLike<number>, v: ArrayLike<number>, d: AttentionDims) {
  const { B, T, nHead, nKvHead, headDim: hd } = d;
  const out = new Float64Array(B * T * nHead * hd);
  const lse = new Float64Array(B * nHead * T);
  const P: number[][][][] = [];
  const qi = (b: number, t: number, h: number) => ((b * T + t) * nHead + h) * hd;
  const ki = (b: number, t: number, h: number) => ((b * T + t) * nKvHead + h) * hd;
  for (let b = 0; b < B; b++) {
    P.push([]);
    for (let h = 0; h < nHead; h++) {
      P[b].push([]);
      const kvh = Math.floor(h / (nHead / nKvHead));
      for (let t = 0; t < T; t++) {
        const s: number[] = [];
        for (let j = 0; j <= t; j++) {
          let dot = 0;
          for (let x = 0; x < hd; x++) dot += q[qi(b, t, h) + x] * k[ki(b, j, kvh) + x];
          s.push(dot / Math.sqrt(hd));
        }
        const m = Math.max(...s);
        const z = s.reduce((acc, x) => acc + Math.exp(x - m), 0);
        lse[(b * nHead + h) * T + t] = m + Math.log(z);
        const p = s.map((x) => Math.exp(x - m) / z);
        P[b][h].push(p);
        for (let j = 0; j <= t; j++) for (let x = 0; x < hd; x++) out[qi(b, t, h) + x] += p[j] * v[ki(b, j, kvh) + x];
      }
    }
  }
  return { out, lse, P };
}

/** Plain softmax backward: dP = dO Vᵀ, dS = P ∘ (dP - Σ_j P dP), dQ = dS K / sqrt(hd), ... */
function refAttentionBackward(dout: ArrayLike<number>, q: ArrayLike<number>, k: ArrayLike<number>, v: ArrayLike<number>, d: AttentionDims) {
  const { B, T, nHead, nKvHead, headDim: hd } = d;
  const { P } = refAttention(q, k, v, d);
  const dq = new Float64Array(q.length), dk = new Float64Array(k.length), dv = new Float64Array(v.length);
  const qi = (b: number, t: number, h: number) => ((b * T + t) * nHead + h) * hd;
  const ki = (b: number, t: number, h: number) => ((b * T + t) * nKvHead + h) * hd;
  const sc = 1 / Math.sqrt(hd);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < nHead; h++) {
      const kvh = Math.floor(h / (nHead / nKvHead));
      for (let t = 0; t < T; t++) {
        const p = P[b][h][t];
        const dp = p.map((_, j) => {
          let s = 0;
          for (let x = 0; x < hd; x++) s += dout[qi(b, t, h) + x] * v[ki(b, j, kvh) + x];
          return s;
        });
        const pdp = p.reduce((acc, pj, j) => acc + pj * dp[j], 0);
        for (let j = 0; j <= t; j++) {
          const ds = p[j] * (dp[j] - pdp);
          for (let x = 0; x < hd; x++) {
            dq[qi(b, t, h) + x] += ds * k[ki(b, j, kvh) + x] * sc;
            dk[ki(b, j, kvh) + x] += ds * q[qi(b, t, h) + x] * sc;
            dv[ki(b, j, kvh) + x] += p[j] * dout[qi(b, t, h) + x];
          }
        }
      }
    }
  }
  return { dq, dk, dv };
}

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

// ----------------------------------------------------------------------------------------------
// Correctness on one thread and on three (the split paths), at odd sizes

const MATMUL_SIZES: [number, number, number][] = [
  [1, 1, 1],
  [3, 17, 5],
  [17, 3, 67],
  [67, 130, 17],
  [130, 67, 130],
  [5, 9, 517], // K beyond one 512-wide cache block
  [33, 24, 8],
];

test('matmul matches float64 in every layout, with and without accumulate, at odd sizes', () => {
  const rng = new Rng(1);
  for (const e of [engines[0], engines[2]]) {
    for (const [M, N, K] of MATMUL_SIZES) {
      for (const layout of ['nt', 'nn', 'tn'] as const) {
        for (const accumulate of [false, true]) {
          const mark = e.arena.mark();
          const a = randomTensor(e, M * K, rng), b = randomTensor(e, N * K, rng), out = randomTensor(e, M * N, rng);
          const init = Float64Array.from(out);
          e.kernels.matmul(out, a, b, M, N, K, layout, accumulate);
          const want = refMatmul(a, b, M, N, K, layout, accumulate ? init : undefined);
          assertClose(out, want, `matmul ${layout} ${M}x${N}x${K} acc=${accumulate} threads=${e.kernels.threads}`, 1e-5 * Math.sqrt(K), 1e-4);
          e.arena.release(mark);
        }
      }
    }
  }
});

test('addBias adds per column; biasBackward accumulates column sums', () => {
  const rng = new Rng(2);
  const e = engines[0];
  const N = 37, C = 19;
  const out = randomTensor(e, N * C, rng), bias = randomTensor(e, C, rng), dbias = randomTensor(e, C, rng);
  const before0 = Float64Array.from(out), dbias0 = Float64Array.from(dbias);
  e.kernels.addBias(out, bias, N, C);
  assertClose(out, before0.map((x, i) => x + bias[i % C]), 'addBias', 0, 1e-7);
  e.kernels.biasBackward(dbias, out, N, C);
  const want = Float64Array.from(dbias0);
  for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) want[c] += out[n * C + c];
  assertClose(dbias, want, 'biasBackward');
});

test('rmsnorm forward and backward match float64; backward accumulates', () => {
  const rng = new Rng(3);
  const e = engines[0];
  const N = 11, C = 23, eps = 1e-5;
  const x = randomTensor(e, N * C, rng, 2), w = randomTensor(e, C, rng), out = e.arena.allocF32(N * C), rstd = e.arena.allocF32(N);
  e.kernels.rmsnormForward(out, rstd, x, w, N, C, eps);
  const wantOut = new Float64Array(N * C), wantRstd = new Float64Array(N);
  for (let n = 0; n < N; n++) {
    let ss = 0;
    for (let c = 0; c < C; c++) ss += x[n * C + c] ** 2;
    wantRstd[n] = 1 / Math.sqrt(ss / C + eps);
    for (let c = 0; c < C; c++) wantOut[n * C + c] = x[n * C + c] * wantRstd[n] * w[c];
  }
  assertClose(out, wantOut, 'rmsnorm out');
  assertClose(rstd, wantRstd, 'rmsnorm rstd');

  const dout = randomTensor(e, N * C, rng), dx = randomTensor(e, N * C, rng), dw = randomTensor(e, C, rng);
  const wantDx = Float64Array.from(dx), wantDw = Float64Array.from(dw);
  e.kernels.rmsnormBackward(dx, dw, dout, x, w, rstd, N, C);
  // Finite differences of L = Σ dout · y in float64, for each input and weight.
  const loss = (xs: Float64Array, ws: Float64Array) => {
    let L = 0;
    for (let n = 0; n < N; n++) {
      let ss = 0;
      for (let c = 0; c < C; c++) ss += xs[n * C + c] ** 2;
      const r = 1 / Math.sqrt(ss / C + eps);
      for (let c = 0; c < C; c++) L += dout[n * C + c] * xs[n * C + c] * r * ws[c];
    }
    return L;
  };
  const x64 = Float64Array.from(x), w64 = Float64Array.from(w), h = 1e-6;
  for (let i = 0; i < N * C; i++) {
    const keep = x64[i];
    x64[i] = keep + h; const up = loss(x64, w64);
    x64[i] = keep - h; const down = loss(x64, w64);
    x64[i] = keep;
    wantDx[i] += (up - down) / (2 * h);
  }
  for (let c = 0; c < C; c++) {
    const keep = w64[c];
    w64[c] = keep + h; const up = loss(x64, w64);
    w64[c] = keep - h; const down = loss(x64, w64);
    w64[c] = keep;
    wantDw[c] += (up - down) / (2 * h);
  }
  assertClose(dx, wantDx, 'rmsnorm dx', 1e-4, 1e-3);
  assertClose(dw, wantDw, 'rmsnorm dw', 1e-4, 1e-3);
});

test('rope rotates pairs (i, i + headDim/2) by position angles; inverse undoes it', () => {
  const rng = new Rng(4);
  const e = engines[0];
  for (const hd of [6, 16, 20]) {
    const N = 5, nH = 3, half = hd / 2, maxPos = 40;
    const cos = e.arena.allocF32(maxPos * half), sin = e.arena.allocF32(maxPos * half);
    for (let p = 0; p < maxPos; p++) {
      for (let i = 0; i < half; i++) {
        const theta = p / 10000 ** ((2 * i) / hd);
        cos[p * half + i] = Math.cos(theta);
        sin[p * half + i] = Math.sin(theta);
      }
    }
    const positions = ints(e, [0, 7, 3, 39, 12]);
    const x = randomTensor(e, N * nH * hd, rng), x0 = Float64Array.from(x);
    e.kernels.rope(x, positions, cos, sin, N, nH, hd, false);
    const want = new Float64Array(x0.length);
    for (let n = 0; n < N; n++) {
      for (let h = 0; h < nH; h++) {
        const o = (n * nH + h) * hd;
        for (let i = 0; i < half; i++) {
          const theta = positions[n] / 10000 ** ((2 * i) / hd);
          want[o + i] = x0[o + i] * Math.cos(theta) - x0[o + i + half] * Math.sin(theta);
          want[o + i + half] = x0[o + i + half] * Math.cos(theta) + x0[o + i] * Math.sin(theta);
        }
      }
    }
    assertClose(x, want, `rope hd=${hd}`, 1e-6);
    e.kernels.rope(x, positions, cos, sin, N, nH, hd, true);
    assertClose(x, x0, `rope inverse hd=${hd}`, 1e-6);
  }
});

const ATTENTION_CASES: AttentionDims[] = [
  { B: 2, T: 13, nHead: 4, nKvHead: 2, headDim: 8 }, // GQA
  { B: 1, T: 7, nHead: 3, nKvHead: 1, headDim: 12 }, // MQA
  { B: 3, T: 5, nHead: 2, nKvHead: 2, headDim: 20 },
  { B: 1, T: 1, nHead: 1, nKvHead: 1, headDim: 4 },
];

test('attention forward matches float64 softmax attention (out and lse), GQA included', () => {
  const rng = new Rng(5);
  for (const e of [engines[0], engines[2]]) {
    for (const d of ATTENTION_CASES) {
      const qn = d.B * d.T * d.nHead * d.headDim, kn = d.B * d.T * d.nKvHead * d.headDim;
      const q = randomTensor(e, qn, rng, 2), k = randomTensor(e, kn, rng, 2), v = randomTensor(e, kn, rng);
      const out = e.arena.allocF32(qn), lse = e.arena.allocF32(d.B * d.nHead * d.T);
      e.kernels.attentionForward(out, lse, q, k, v, d);
      const want = refAttention(q, k, v, d);
      assertClose(out, want.out, `attention out ${JSON.stringify(d)}`);
      assertClose(lse, want.lse, `attention lse ${JSON.stringify(d)}`);
    }
  }
});

test('attention backward matches float64 softmax backward and accumulates into dq, dk, dv', () => {
  const rng = new Rng(6);
  for (const e of [engines[0], engines[2]]) {
    for (const d of ATTENTION_CASES) {
      const qn = d.B * d.T * d.nHead * d.headDim, kn = d.B * d.T * d.nKvHead * d.headDim;
      const q = randomTensor(e, qn, rng, 2), k = randomTensor(e, kn, rng, 2), v = randomTensor(e, kn, rng);
      const out = e.arena.allocF32(qn), lse = e.arena.allocF32(d.B * d.nHead * d.T);
      e.kernels.attentionForward(out, lse, q, k, v, d);
      const dout = randomTensor(e, qn, rng);
      const dq = randomTensor(e, qn, rng), dk = randomTensor(e, kn, rng), dv = randomTensor(e, kn, rng);
      const dq0 = Float64Array.from(dq), dk0 = Float64Array.from(dk), dv0 = Float64Array.from(dv);
      e.kernels.attentionBackward(dq, dk, dv, dout, out, lse, q, k, v, d);
      const want = refAttentionBackward(dout, q, k, v, d);
      assertClose(dq, want.dq.map((x, i) => x + dq0[i]), `attention dq ${JSON.stringify(d)}`, 2e-5, 1e-3);
      assertClose(dk, want.dk.map((x, i) => x + dk0[i]), `attention dk ${JSON.stringify(d)}`, 2e-5, 1e-3);
      assertClose(dv, want.dv.map((x, i) => x + dv0[i]), `attention dv ${JSON.stringify(d)}`, 2e-5, 1e-3);
    }
  }
});

test('attentionCached (prefill and decode) equals the rows of full causal attention', () => {
  const rng = new Rng(7);
  for (const e of [engines[0], engines[2]]) {
    const d: AttentionDims = { B: 2, T: 19, nHead: 4, nKvHead: 2, headDim: 8 };
    const maxT = d.T, hd = d.headDim;
    const qn = d.B * maxT * d.nHead * hd, kn = d.B * maxT * d.nKvHead * hd;
    const q = randomTensor(e, qn, rng, 2), k = randomTensor(e, kn, rng, 2), v = randomTensor(e, kn, rng);
    const full = e.arena.allocF32(qn), lse = e.arena.allocF32(d.B * d.nHead * maxT);
    e.kernels.attentionForward(full, lse, q, k, v, d);
    // The cache holds the whole sequence; sequence 0 asks for positions 4..8, sequence 1 for 11..15.
    for (const [Tq, starts] of [[5, [4, 11]], [1, [0, 18]], [1, [9, 3]]] as [number, number[]][]) {
      const pos = ints(e, starts);
      const rowLen = d.nHead * hd;
      const qNew = e.arena.allocF32(d.B * Tq * rowLen), out = e.arena.allocF32(d.B * Tq * rowLen);
      for (let b = 0; b < d.B; b++) {
        for (let t = 0; t < Tq; t++) qNew.set(q.subarray((b * maxT + starts[b] + t) * rowLen, (b * maxT + starts[b] + t + 1) * rowLen), (b * Tq + t) * rowLen);
      }
      e.kernels.attentionCached(out, qNew, k, v, pos, Tq, maxT, d);
      for (let b = 0; b < d.B; b++) {
        for (let t = 0; t < Tq; t++) {
          const got = out.subarray((b * Tq + t) * rowLen, (b * Tq + t + 1) * rowLen);
          const want = full.subarray((b * maxT + starts[b] + t) * rowLen, (b * maxT + starts[b] + t + 1) * rowLen);
          assertClose(got, want, `attentionCached b=${b} t=${t} Tq=${Tq}`, 1e-6);
        }
      }
    }
  }
});

test('swiglu forward and backward match float64; backward accumulates', () => {
  const rng = new Rng(8);
  const e = engines[0];
  const n = 103;
  const gate = randomTensor(e, n, rng, 6), up = randomTensor(e, n, rng), out = e.arena.allocF32(n);
  gate[0] = -100; gate[1] = 100; // saturated tails
  e.kernels.swigluForward(out, gate, up, n);
  assertClose(out, Float64Array.from(gate, (g, i) => g * sigmoid(g) * up[i]), 'swiglu out', 1e-6);
  const dout = randomTensor(e, n, rng), dgate = randomTensor(e, n, rng), dup = randomTensor(e, n, rng);
  const dgate0 = Float64Array.from(dgate), dup0 = Float64Array.from(dup);
  e.kernels.swigluBackward(dgate, dup, dout, gate, up, n);
  const wantDgate = Float64Array.from(gate, (g, i) => dgate0[i] + dout[i] * up[i] * (sigmoid(g) + g * sigmoid(g) * (1 - sigmoid(g))));
  const wantDup = Float64Array.from(gate, (g, i) => dup0[i] + dout[i] * g * sigmoid(g));
  assertClose(dgate, wantDgate, 'swiglu dgate', 1e-6);
  assertClose(dup, wantDup, 'swiglu dup', 1e-6);
});

test('logSoftmaxGather and its backward match float64; target -1 gives zeros; dlogits may alias logits', () => {
  const rng = new Rng(9);
  const e = engines[0];
  for (const V of [1, 5, 32, 37]) {
    const N = 6;
    const logits = randomTensor(e, N * V, rng, 8);
    const targetList = [0, V - 1, -1, Math.floor(V / 2), 0, -1];
    const targets = ints(e, targetList);
    const logp = e.arena.allocF32(N), lse = e.arena.allocF32(N);
    e.kernels.logSoftmaxGather(logp, lse, logits, targets, N, V);
    const wantLse = new Float64Array(N), wantLogp = new Float64Array(N), wantD = new Float64Array(N * V);
    const dlogp = randomTensor(e, N, rng);
    for (let n = 0; n < N; n++) {
      const row = Array.from(logits.subarray(n * V, (n + 1) * V));
      const m = Math.max(...row);
      wantLse[n] = m + Math.log(row.reduce((s, x) => s + Math.exp(x - m), 0));
      const t = targetList[n];
      wantLogp[n] = t < 0 ? 0 : row[t] - wantLse[n];
      for (let j = 0; j < V && t >= 0; j++) wantD[n * V + j] = dlogp[n] * ((j === t ? 1 : 0) - Math.exp(row[j] - wantLse[n]));
    }
    assertClose(lse, wantLse, `lse V=${V}`, 1e-5, 1e-6);
    assertClose(logp, wantLogp, `logp V=${V}`, 2e-5, 1e-5);
    e.kernels.logSoftmaxGatherBackward(logits, dlogp, logits, lse, targets, N, V); // in place
    assertClose(logits, wantD, `dlogits V=${V}`, 1e-6, 1e-5);
  }
});

test('sumSquares, scale, add and adamw match float64', () => {
  const rng = new Rng(10);
  const e = engines[2];
  const n = 3 * 8192 + 5;
  const x = randomTensor(e, n, rng);
  let want = 0;
  for (let i = 0; i < n; i++) want += x[i] * x[i];
  assert.ok(Math.abs(e.kernels.sumSquares(x, n) - want) <= 1e-12 * want);
  assert.ok(Math.abs(e.kernels.sumSquares(x, 7) - Array.from(x.subarray(0, 7)).reduce((s, v) => s + v * v, 0)) < 1e-15);

  const y = randomTensor(e, 1001, rng), y0 = Float64Array.from(y);
  e.kernels.scale(y, -0.75, 1000);
  assertClose(y, y0.map((v, i) => (i < 1000 ? v * -0.75 : v)), 'scale (stops at n)', 0, 1e-7);
  const a = randomTensor(e, 999, rng), b = randomTensor(e, 999, rng), a0 = Float64Array.from(a);
  e.kernels.add(a, a, b, 999); // out aliases a
  assertClose(a, a0.map((v, i) => v + b[i]), 'add', 1e-7, 1e-7);

  const m = 1003;
  const p = randomTensor(e, m, rng), g = randomTensor(e, m, rng), mom = randomTensor(e, m, rng, 0.1), vel = e.arena.allocF32(m);
  for (let i = 0; i < m; i++) vel[i] = rng.next() * 0.01;
  const [p0, m0, v0] = [Float64Array.from(p), Float64Array.from(mom), Float64Array.from(vel)];
  const [lr, b1, b2, eps, wd, step] = [1e-3, 0.9, 0.95, 1e-8, 0.1, 3];
  e.kernels.adamw(p, g, mom, vel, m, lr, b1, b2, eps, wd, step);
  const wantM = m0.map((mv, i) => b1 * mv + (1 - b1) * g[i]);
  const wantV = v0.map((vv, i) => b2 * vv + (1 - b2) * g[i] * g[i]);
  const wantP = p0.map((pv, i) => pv - lr * (wantM[i] / (1 - b1 ** step) / (Math.sqrt(wantV[i] / (1 - b2 ** step)) + eps) + wd * pv));
  assertClose(mom, wantM, 'adamw m', 1e-7, 1e-6);
  assertClose(vel, wantV, 'adamw v', 1e-9, 1e-6);
  assertClose(p, wantP, 'adamw p', 1e-7, 1e-6);
});

// ----------------------------------------------------------------------------------------------
// Determinism across thread counts

/** Runs `body` on every engine with the same seeded inputs and checks the outputs are the same bytes. */
function sameOnAllThreadCounts(what: string, body: (e: Engine, rng: Rng) => Float32Array[]): void {
  let reference: Uint8Array[] | undefined;
  for (const e of engines) {
    const mark = e.arena.mark();
    const before = (e.kernels as WasmKernels).parallelCalls;
    const outs = body(e, new Rng(99)).map((t) => new Uint8Array(t.buffer, t.byteOffset, t.byteLength).slice());
    if (e.kernels.threads > 1) assert.ok((e.kernels as WasmKernels).parallelCalls > before, `${what}: no call was split over threads`);
    if (reference === undefined) reference = outs;
    else outs.forEach((bytes, i) => assert.deepEqual(bytes, reference![i], `${what}: output ${i} differs with ${e.kernels.threads} threads`));
    e.arena.release(mark);
  }
}

test('every kernel gives bit-identical results on 1, 2 and 3 threads', () => {
  for (const layout of ['nt', 'nn', 'tn'] as const) {
    for (const [M, N, K] of [[67, 130, 67], [130, 17, 517], [13, 128, 2048]]) {
      sameOnAllThreadCounts(`matmul ${layout} ${M}x${N}x${K}`, (e, rng) => {
        const out = randomTensor(e, M * N, rng);
        e.kernels.matmul(out, randomTensor(e, M * K, rng), randomTensor(e, N * K, rng), M, N, K, layout, true);
        return [out];
      });
    }
  }
  const N = 513, C = 67;
  sameOnAllThreadCounts('addBias/biasBackward', (e, rng) => {
    const out = randomTensor(e, N * C, rng), db = randomTensor(e, C, rng);
    e.kernels.addBias(out, randomTensor(e, C, rng), N, C);
    e.kernels.biasBackward(db, out, N, C);
    return [out, db];
  });
  sameOnAllThreadCounts('rmsnorm', (e, rng) => {
    const x = randomTensor(e, N * C, rng), w = randomTensor(e, C, rng), out = e.arena.allocF32(N * C), rstd = e.arena.allocF32(N);
    e.kernels.rmsnormForward(out, rstd, x, w, N, C, 1e-5);
    const dx = randomTensor(e, N * C, rng), dw = randomTensor(e, C, rng);
    e.kernels.rmsnormBackward(dx, dw, randomTensor(e, N * C, rng), x, w, rstd, N, C);
    return [out, rstd, dx, dw];
  });
  sameOnAllThreadCounts('rope', (e, rng) => {
    const hd = 16, nH = 3, x = randomTensor(e, N * nH * hd, rng);
    const positions = ints(e, Array.from({ length: N }, (_, i) => i % 50));
    e.kernels.rope(x, positions, randomTensor(e, 50 * 8, rng), randomTensor(e, 50 * 8, rng), N, nH, hd, false);
    return [x];
  });
  const d: AttentionDims = { B: 3, T: 29, nHead: 4, nKvHead: 2, headDim: 16 };
  sameOnAllThreadCounts('attention', (e, rng) => {
    const qn = d.B * d.T * d.nHead * d.headDim, kn = d.B * d.T * d.nKvHead * d.headDim;
    const q = randomTensor(e, qn, rng), k = randomTensor(e, kn, rng), v = randomTensor(e, kn, rng);
    const out = e.arena.allocF32(qn), lse = e.arena.allocF32(d.B * d.nHead * d.T);
    e.kernels.attentionForward(out, lse, q, k, v, d);
    const dq = randomTensor(e, qn, rng), dk = randomTensor(e, kn, rng), dv = randomTensor(e, kn, rng);
    e.kernels.attentionBackward(dq, dk, dv, randomTensor(e, qn, rng), out, lse, q, k, v, d);
    const cached = e.arena.allocF32(qn);
    e.kernels.attentionCached(cached, q, k, v, ints(e, [0, 0, 0]), d.T, d.T, d);
    return [out, lse, dq, dk, dv, cached];
  });
  const n = 50_001;
  sameOnAllThreadCounts('swiglu', (e, rng) => {
    const gate = randomTensor(e, n, rng, 5), up = randomTensor(e, n, rng), out = e.arena.allocF32(n);
    e.kernels.swigluForward(out, gate, up, n);
    const dg = randomTensor(e, n, rng), du = randomTensor(e, n, rng);
    e.kernels.swigluBackward(dg, du, randomTensor(e, n, rng), gate, up, n);
    return [out, dg, du];
  });
  sameOnAllThreadCounts('logSoftmaxGather', (e, rng) => {
    const V = 33, logits = randomTensor(e, N * V, rng, 5), logp = e.arena.allocF32(N), lse = e.arena.allocF32(N);
    const targets = ints(e, Array.from({ length: N }, (_, i) => (i % 7 === 0 ? -1 : i % V)));
    e.kernels.logSoftmaxGather(logp, lse, logits, targets, N, V);
    e.kernels.logSoftmaxGatherBackward(logits, randomTensor(e, N, rng), logits, lse, targets, N, V);
    return [logp, lse, logits];
  });
  sameOnAllThreadCounts('sumSquares/scale/add/adamw', (e, rng) => {
    const x = randomTensor(e, n, rng), s = e.arena.allocF32(1);
    s[0] = e.kernels.sumSquares(x, n); // float64 rounded to float32 is still a bitwise check of most bits
    const s64 = new Float64Array([e.kernels.sumSquares(x, n)]);
    e.kernels.scale(x, 0.3, n);
    const y = randomTensor(e, n, rng);
    e.kernels.add(y, y, x, n);
    const p = randomTensor(e, n, rng), m = randomTensor(e, n, rng, 0.1), v = e.arena.allocF32(n);
    e.kernels.adamw(p, x, m, v, n, 1e-3, 0.9, 0.95, 1e-8, 0.1, 2);
    const s64view = e.arena.allocF32(2);
    new Float64Array(s64view.buffer, s64view.byteOffset, 1)[0] = s64[0];
    return [s, s64view, x, y, p, m, v];
  });
});

// ----------------------------------------------------------------------------------------------
// Errors and memory

test('a tensor outside the engine memory or too short is rejected by name', () => {
  const e = engines[0];
  const a = e.arena.allocF32(12), b = e.arena.allocF32(12);
  assert.throws(() => e.kernels.matmul(new Float32Array(12), a, b, 3, 4, 3, 'nn', false), /matmul: tensor 'out' is not a view into the engine memory/);
  assert.throws(() => e.kernels.matmul(a, a, b.subarray(0, 5), 3, 4, 3, 'nn', false), /matmul: tensor 'b' has 5 elements, needs 12/);
  const other = engines[1].arena.allocF32(12);
  assert.throws(() => e.kernels.add(a, a, other, 12), /add: tensor 'b' is not a view/);
  assert.throws(() => e.kernels.attentionForward(a, a, a, a, a, { B: 1, T: 1, nHead: 1, nKvHead: 1, headDim: 3 }), /headDim 3 is not a multiple of 4/);
});

test('views made before the memory grows stay usable', () => {
  const e = engines[0];
  const mark = e.arena.mark();
  const x = e.arena.allocF32(8);
  x.set([1, 2, 3, 4, 5, 6, 7, 8]);
  const pages = e.arena.memory.buffer.byteLength / 65536;
  e.arena.allocF32(pages * 65536); // forces a grow
  assert.ok(e.arena.memory.buffer.byteLength > pages * 65536);
  const y = e.arena.allocF32(8);
  e.kernels.add(y, x, x, 8);
  assert.deepEqual(Array.from(y), [2, 4, 6, 8, 10, 12, 14, 16]);
  e.arena.release(mark);
});

test('createEngine rejects a bad thread count and gives the ts provider on request', async () => {
  await assert.rejects(createEngine({ threads: 0 }), /threads: 0 is not a whole number of threads/);
  assert.equal((await createEngine({ provider: 'ts' })).kernels.name, 'ts');
});

test('createEngine picks the FMA build unless PRL_NO_FMA is set or fma: false', async () => {
  // Node 20 accepts relaxed SIMD once createEngine sets V8's flag; later Node versions ship it.
  const want = process.env.PRL_NO_FMA ? /^wasm-simd x1$/ : /^wasm-simd-fma x1$/;
  assert.match(engines[0].kernels.name, want);
  const plain = await createEngine({ threads: 1, fma: false });
  assert.equal(plain.kernels.name, 'wasm-simd x1');
  await plain.kernels.dispose();
});

