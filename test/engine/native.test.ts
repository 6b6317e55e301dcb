// The native provider (matmuls on onnxruntime-node's MLAS, all else wasm): each matmul layout against a
// float64 loop written here and against the wasm provider, bit-identical bytes at 1 and 2 threads, the
// generic pass-through of every other kernel, the one-line fallback when the package cannot load, and a
// whole model's forward and backward against the wasm provider and the float64 reference.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { ModelConfig } from '../../src/engine/config.js';
import { createEngine, type Engine } from '../../src/engine/kernels/index.js';
import { MIN_NATIVE_ROWS } from '../../src/engine/kernels/native.js';
import type { MatmulLayout } from '../../src/engine/kernels/types.js';
import { LlamaModel } from '../../src/engine/model.js';
import { Rng } from '../../src/util/rng.js';
import { paramsOf, referenceLogp } from '../helpers/llama-f64.js';
import { closeTestEngines, ortInstalled, ortOf, openTestEngines, skipWithoutOrt } from '../helpers/native-engines.js';

const skip = skipWithoutOrt;

let wasm: Engine, native1: Engine, native2: Engine;

before(async () => {
  ({ wasm, native1, native2 } = await openTestEngines());
});
after(async () => {
  await closeTestEngines({ wasm, native1, native2 });
});

function randomValues(n: number, rng: Rng): Float64Array {
  return Float64Array.from({ length: n }, () => 2 * rng.next() - 1);
}

/** `values` copied into a fresh float32 tensor of `e`'s memory. */
function tensorOf(e: Engine, values: ArrayLike<number>): Float32Array {
  const t = e.arena.allocF32(values.length);
  for (let i = 0; i < values.length; i++) t[i] = values[i];
  return t;
}

function refMatmul(a: ArrayLike<number>, b: ArrayLike<number>, M: number, N: number, K: number, layout: MatmulLayout, init?: ArrayLike<number>): Float64Array {
  const out = new Float64Array(M * N);
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let s = init ? init[i * N + j] : 0;
      for (let k = 0; k < K; k++) s += (layout === 'tn' ? a[k * M + i] : a[i * K + k]) * (layout === 'nt' ? b[j * K + k] : b[k * N + j]);
      out[i * N + j] = s;
    }
  }
  return out;
}

/** out = op(a)·op(b) (+ init) on engine `e`, from float64 inputs rounded to float32. */
function runMatmul(e: Engine, a: Float64Array, b: Float64Array, init: Float64Array, M: number, N: number, K: number, layout: MatmulLayout, accumulate: boolean): Float32Array {
  const out = tensorOf(e, init);
  e.kernels.matmul(out, tensorOf(e, a), tensorOf(e, b), M, N, K, layout, accumulate);
  return Float32Array.from(out);
}

const LAYOUTS: MatmulLayout[] = ['nt', 'nn', 'tn'];

test('matmul, every layout, with and without accumulate: float64 reference and the wasm provider', { skip }, () => {
  const M = 37, N = 29, K = 53; // not multiples of any SIMD tile; M >= MIN_NATIVE_ROWS so MLAS runs
  const rng = new Rng(5);
  const before = ortOf(native2).nativeCalls;
  for (const layout of LAYOUTS) {
    for (const accumulate of [false, true]) {
      const a = randomValues(M * K, rng), b = randomValues(N * K, rng), init = randomValues(M * N, rng);
      const f32 = (x: Float64Array) => Float64Array.from(Float32Array.from(x)); // the inputs as the kernels see them
      const want = refMatmul(f32(a), f32(b), M, N, K, layout, accumulate ? f32(init) : undefined);
      const got = runMatmul(native2, a, b, init, M, N, K, layout, accumulate);
      const viaWasm = runMatmul(wasm, a, b, init, M, N, K, layout, accumulate);
      for (let i = 0; i < M * N; i++) {
        // float32 sums of 53 products of magnitude <= 1: a few ulps of the running sum.
        assert.ok(Math.abs(got[i] - want[i]) <= 2e-6 * (1 + Math.abs(want[i])) * 8, `${layout} acc=${accumulate} [${i}]: ${got[i]} vs float64 ${want[i]}`);
        assert.ok(Math.abs(got[i] - viaWasm[i]) <= 2e-5, `${layout} acc=${accumulate} [${i}]: ${got[i]} vs wasm ${viaWasm[i]}`);
      }
    }
  }
  assert.equal(ortOf(native2).nativeCalls - before, 6, 'all six calls ran on MLAS');
});

test(`matmul with fewer than ${MIN_NATIVE_ROWS} rows runs in wasm: the same bytes as the wasm provider`, { skip }, () => {
  const M = MIN_NATIVE_ROWS - 1, N = 40, K = 24;
  const rng = new Rng(6);
  const before = ortOf(native2).nativeCalls;
  for (const layout of LAYOUTS) {
    const a = randomValues(M * K, rng), b = randomValues(N * K, rng), init = randomValues(M * N, rng);
    assert.deepEqual(runMatmul(native2, a, b, init, M, N, K, layout, true), runMatmul(wasm, a, b, init, M, N, K, layout, true));
  }
  assert.equal(ortOf(native2).nativeCalls, before, 'no call went to MLAS');
});

test('matmul results are bit-identical at 1 and 2 threads', { skip }, () => {
  const rng = new Rng(7);
  for (const [M, N, K] of [[256, 192, 320], [64, 1000, 96], [300, 17, 129], [32, 24, 8192]]) {
    for (const layout of LAYOUTS) {
      const a = randomValues(M * K, rng), b = randomValues(N * K, rng), init = randomValues(M * N, rng);
      for (const accumulate of [false, true]) {
        const one = runMatmul(native1, a, b, init, M, N, K, layout, accumulate);
        const two = runMatmul(native2, a, b, init, M, N, K, layout, accumulate);
        assert.deepEqual(two, one, `${layout} ${M}x${N}x${K} acc=${accumulate}`);
      }
    }
  }
});

test('every other kernel passes through to wasm generically (no hand list)', { skip }, () => {
  const inner = Object.getPrototypeOf(wasm.kernels) as object;
  const methods = Object.getOwnPropertyNames(inner).filter((k) => k !== 'constructor' && typeof (wasm.kernels as unknown as Record<string, unknown>)[k] === 'function');
  assert.ok(methods.length > 15, `found ${methods.length} wasm methods`);
  const viaNative = native2.kernels as unknown as Record<string, unknown>;
  for (const name of methods) assert.equal(typeof viaNative[name], 'function', `${name} is reachable through the native provider`);
  assert.match(native2.kernels.name, /^native-mlas .* x2 \(\+wasm-simd/);
  assert.equal(native2.kernels.threads, 2);

  // A pass-through kernel gives the wasm provider's bytes (rmsnorm, with its saved rstd).
  const N = 20, C = 33, rng = new Rng(8);
  const x = randomValues(N * C, rng), w = randomValues(C, rng);
  const run = (e: Engine) => {
    const out = e.arena.allocF32(N * C), rstd = e.arena.allocF32(N);
    e.kernels.rmsnormForward(out, rstd, tensorOf(e, x), tensorOf(e, w), N, C, 1e-5);
    return [Float32Array.from(out), Float32Array.from(rstd)];
  };
  assert.deepEqual(run(native2), run(wasm));
});

test('a native provider that cannot load falls back to wasm with one line saying so', async () => {
  const lines: string[] = [];
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((chunk: string | Uint8Array) => {
    lines.push(String(chunk));
    return true;
  }) as typeof process.stderr.write;
  let engine: Engine;
  try {
    engine = await createEngine({ provider: 'native', threads: 1, nativePackage: 'prl-no-such-ort-package' });
  } finally {
    process.stderr.write = write;
  }
  try {
    assert.match(engine.kernels.name, /^wasm-simd/);
    assert.equal(lines.length, 1);
    assert.match(lines[0], /^prl: native provider unavailable \(prl-no-such-ort-package: .*\); using wasm-simd.* x1\n$/);
  } finally {
    await engine.kernels.dispose();
  }
});

// Large enough that the projections have B*T >= MIN_NATIVE_ROWS rows and several MLAS blocks.
const MODEL: ModelConfig = {
  modelType: 'qwen2',
  vocabSize: 97,
  hiddenSize: 64,
  intermediateSize: 176,
  numHiddenLayers: 2,
  numAttentionHeads: 4,
  numKeyValueHeads: 2,
  headDim: 16,
  maxPositionEmbeddings: 64,
  rmsNormEps: 1e-6,
  ropeTheta: 10000,
  attentionBias: true,
  tieWordEmbeddings: true,
};

function seededModel(e: Engine): LlamaModel {
  const model = new LlamaModel(MODEL, e.arena, e.kernels);
  const rng = new Rng(11);
  for (const p of model.parameters()) {
    for (let i = 0; i < p.data.length; i++) p.data[i] = p.name.endsWith('norm.weight') ? 1 + 0.1 * rng.normal() : 0.08 * rng.normal();
  }
  return model;
}

test('model forward and backward: native within 1e-5 of wasm (log-probs; measured 1e-6) and 1e-5 of max |g| (gradients; measured 5e-7), and of float64', { skip }, () => {
  const B = 2, T = 12;
  const rng = new Rng(12);
  const tokens = Int32Array.from({ length: B * T }, () => rng.int(MODEL.vocabSize));
  const targets = Int32Array.from({ length: B * T }, (_, n) => (n % 6 === 5 ? -1 : rng.int(MODEL.vocabSize)));
  const dlogp = Float32Array.from({ length: B * T }, (_, n) => (n % 3) - 1);

  const results = [wasm, native2].map((e) => {
    const model = seededModel(e);
    model.zeroGrad();
    const logp = Float32Array.from(model.forward(tokens, targets, B, T));
    model.backward(dlogp);
    return { model, logp, grads: Float32Array.from(model.grads) };
  });
  const [w, n] = results;
  assert.ok(ortOf(native2).nativeCalls > 0);

  for (let i = 0; i < B * T; i++) assert.ok(Math.abs(n.logp[i] - w.logp[i]) <= 1e-5, `logp[${i}]: native ${n.logp[i]} vs wasm ${w.logp[i]}`);
  const P = paramsOf(n.model);
  for (let b = 0; b < B; b++) {
    const seq = (a: Int32Array) => Array.from(a.subarray(b * T, (b + 1) * T));
    referenceLogp(MODEL, P, seq(tokens), seq(targets)).forEach((e, t) => {
      assert.ok(Math.abs(n.logp[b * T + t] - e) < 2e-5, `b=${b} t=${t}: native ${n.logp[b * T + t]} vs float64 ${e}`);
    });
  }
  let scale = 0;
  for (const g of w.grads) scale = Math.max(scale, Math.abs(g));
  assert.ok(scale > 0);
  for (let i = 0; i < w.grads.length; i++) {
    assert.ok(Math.abs(n.grads[i] - w.grads[i]) <= 1e-5 * scale, `grad[${i}]: native ${n.grads[i]} vs wasm ${w.grads[i]} (max |g| ${scale})`);
  }
});

test('--provider native opens through the CLI helper; the sft/rl config takes provider wasm|native only', async () => {
  const { openEngine } = await import('../../src/cli/engine.js');
  const { rlConfigSchema, sftConfigSchema } = await import('../../src/train/config.js');
  const engine = await openEngine('native', 1);
  try {
    assert.match(engine.kernels.name, ortInstalled ? /^native-mlas / : /^wasm-simd/);
  } finally {
    await engine.kernels.dispose();
  }
  await assert.rejects(openEngine('gpu', 1), /--provider: must be "wasm", "native" or "ts", got "gpu"/);
  for (const schema of [rlConfigSchema, sftConfigSchema]) {
    assert.equal(schema.parse({ provider: 'native' }).provider, 'native');
    assert.equal(schema.parse({}).provider, undefined, 'absent: the wasm default, and warm-start cache keys unchanged');
    assert.equal(schema.safeParse({ provider: 'gpu' }).success, false);
  }
});
