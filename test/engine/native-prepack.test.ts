// Pre-packed constant weights on the native provider (Kernels.markConstant): an 'nt' matmul whose B is
// marked runs on a session that packed B once, at any row count. Checked here: its result against the
// per-call path and float64 (not bitwise: MLAS's packed path blocks K differently), bit-identical bytes at
// 1 and 2 threads, which calls take the packed path (chunks of a marked block yes, 'nn' and unmarked
// tensors no), that onnxruntime keeps no reference to the B it was handed at load (a view of the engine
// memory), that writing a marked tensor throws and unmarking frees the sessions, and that a frozen
// model loaded from a folder is marked (`loadModelWeights`) and samples and scores within float32
// rounding of an unmarked one.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { createEngine, type Engine } from '../../src/engine/kernels/index.js';
import { loadOrtBackend } from '../../src/engine/kernels/native.js';
import { CONSTANT_B_PATH, gemmModel } from '../../src/engine/kernels/onnx-gemm.js';
import { PrlError } from '../../src/util/errors.js';
import { loadModelWeights, markFrozenWeights, unmarkFrozenWeights } from '../../src/engine/io.js';
import { Rng } from '../../src/util/rng.js';
import { makeTinyModelFolder } from '../helpers/model-folder.js';
import { closeTestEngines, ortOf, openTestEngines, skipWithoutOrt } from '../helpers/native-engines.js';

const skip = skipWithoutOrt;

let wasm: Engine, native1: Engine, native2: Engine;

before(async () => {
  ({ wasm, native1, native2 } = await openTestEngines());
});
after(async () => {
  await closeTestEngines({ wasm, native1, native2 });
});

function randomTensor(e: Engine, n: number, rng: Rng): Float32Array {
  const t = e.arena.allocF32(n);
  for (let i = 0; i < n; i++) t[i] = 2 * rng.next() - 1;
  return t;
}

/** out (M, N) = a (M, K) · b (N, K)ᵀ in float64, with the row sums of |products| (the rounding scale). */
function refNt(a: Float32Array, b: Float32Array, M: number, N: number, K: number): { want: Float64Array; absSum: Float64Array } {
  const want = new Float64Array(M * N), absSum = new Float64Array(M * N);
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let s = 0, s1 = 0;
      for (let k = 0; k < K; k++) {
        const p = a[i * K + k] * b[j * K + k];
        s += p;
        s1 += Math.abs(p);
      }
      want[i * N + j] = s;
      absSum[i * N + j] = s1;
    }
  }
  return { want, absSum };
}

/** The 'nt' product of a and b on `e`, with b marked constant when `marked` (unmarked again after). */
function ntProduct(e: Engine, a: Float32Array, b: Float32Array, M: number, N: number, K: number, marked: boolean): Float32Array {
  const out = e.arena.allocF32(M * N);
  if (marked) e.kernels.markConstant!(b);
  try {
    e.kernels.matmul(out, a, b, M, N, K, 'nt', false);
  } finally {
    if (marked) e.kernels.unmarkConstant!(b);
  }
  return Float32Array.from(out);
}

test('a marked B: within float32 rounding of the per-call path and float64, at decode and prefill row counts', { skip }, () => {
  const N = 29, K = 301, rng = new Rng(21); // not multiples of any MLAS tile
  const ort = ortOf(native2);
  for (const M of [1, 5, 16, 37]) {
    const a = randomTensor(native2, M * K, rng), b = randomTensor(native2, N * K, rng);
    const [calls, packedCalls] = [ort.nativeCalls, ort.packedCalls];
    const packed = ntProduct(native2, a, b, M, N, K, true);
    assert.equal(ort.packedCalls - packedCalls, 1, `M=${M}: the packed path ran`);
    assert.equal(ort.nativeCalls - calls, 1, `M=${M}: on MLAS, below MIN_NATIVE_ROWS too`);
    const perCall = ntProduct(native2, a, b, M, N, K, false);
    const { want, absSum } = refNt(a, b, M, N, K);
    for (let i = 0; i < M * N; i++) {
      // Two float32 summations of the same K products: each within K·u·Σ|p| of the exact sum (u = 2^-24).
      const bound = K * 2 ** -24 * absSum[i];
      assert.ok(Math.abs(packed[i] - want[i]) <= bound, `M=${M} [${i}]: packed ${packed[i]} vs float64 ${want[i]}`);
      assert.ok(Math.abs(packed[i] - perCall[i]) <= 2 * bound, `M=${M} [${i}]: packed ${packed[i]} vs per-call ${perCall[i]}`);
    }
  }
  assert.equal(ort.packedSessions, 0, 'unmarking freed every packed session');
});

test('a marked B gives bit-identical bytes at 1 and 2 threads', { skip }, () => {
  const rng = new Rng(22);
  for (const [M, N, K] of [[1, 1000, 96], [3, 4864, 64], [8, 130, 8192], [16, 256, 320], [100, 17, 129]]) {
    const values = Float32Array.from({ length: (M + N) * K }, () => 2 * rng.next() - 1);
    const run = (e: Engine) => {
      const a = e.arena.allocF32(M * K), b = e.arena.allocF32(N * K);
      a.set(values.subarray(0, M * K));
      b.set(values.subarray(M * K));
      return ntProduct(e, a, b, M, N, K, true);
    };
    assert.deepEqual(run(native2), run(native1), `${M}x${N}x${K}`);
  }
});

test('chunks of a marked block are packed one session each; nn and unmarked tensors take the per-call path', { skip }, () => {
  const ort = ortOf(native2);
  const C = 24, V = 96, chunk = 32, M = 20, rng = new Rng(23);
  const block = randomTensor(native2, V * C, rng), x = randomTensor(native2, M * C, rng), out = native2.arena.allocF32(M * V);
  native2.kernels.markConstant!(block);
  try {
    const packedCalls = ort.packedCalls;
    for (let v0 = 0; v0 < V; v0 += chunk) native2.kernels.matmul(out, x, block.subarray(v0 * C, (v0 + chunk) * C), M, chunk, C, 'nt', false);
    native2.kernels.matmul(out, x, block.subarray(0, chunk * C), M, chunk, C, 'nt', false); // the first chunk again
    assert.equal(ort.packedCalls - packedCalls, V / chunk + 1);
    assert.equal(ort.packedSessions, V / chunk, 'one session per chunk, reused');

    // 'nn' through the marked block (dx = dy · W): not pre-packed, the same bytes as unmarked.
    const dy = randomTensor(native2, M * chunk, rng), dx = native2.arena.allocF32(M * C);
    native2.kernels.matmul(dx, dy, block.subarray(0, chunk * C), M, C, chunk, 'nn', false);
    const viaMarked = Float32Array.from(dx);
    assert.equal(ort.packedCalls - packedCalls, V / chunk + 1, 'nn did not take the packed path');
    native2.kernels.unmarkConstant!(block);
    native2.kernels.matmul(dx, dy, block.subarray(0, chunk * C), M, C, chunk, 'nn', false);
    assert.deepEqual(viaMarked, Float32Array.from(dx));
  } finally {
    native2.kernels.unmarkConstant!(block);
  }
  assert.equal(ort.packedSessions, 0);
});

test('writing a marked tensor makes the next matmul throw; after unmarking it computes with the new values', { skip }, () => {
  const M = 4, N = 40, K = 50, rng = new Rng(24);
  const a = randomTensor(native2, M * K, rng), b = randomTensor(native2, N * K, rng), out = native2.arena.allocF32(M * N);
  native2.kernels.markConstant!(b);
  native2.kernels.markConstant!(b); // marking twice is one mark
  native2.kernels.matmul(out, a, b, M, N, K, 'nt', false);
  const packed = Float32Array.from(out);
  // A write the sampled guard does not see (float 1 of 2,000) is not seen at all: the session computes
  // from its packed copy, not from the engine memory it was loaded from. Hence "must not be written".
  const kept = b[1];
  b[1] += 1;
  native2.kernels.matmul(out, a, b, M, N, K, 'nt', false);
  assert.deepEqual(Float32Array.from(out), packed);
  b[1] = kept;
  for (let i = 0; i < b.length; i++) b[i] *= 0.5; // a LoRA merge or a reload, without unmarking
  assert.throws(() => native2.kernels.matmul(out, a, b, M, N, K, 'nt', false), (err: unknown) => err instanceof PrlError && /marked constant changed .*call unmarkConstant before writing/.test(err.message));
  native2.kernels.unmarkConstant!(b);
  assert.equal(ortOf(native2).packedSessions, 0);
  native2.kernels.matmul(out, a, b, M, N, K, 'nt', false); // per-call path (M < 16: wasm)
  const { want, absSum } = refNt(a, b, M, N, K);
  for (let i = 0; i < M * N; i++) assert.ok(Math.abs(out[i] - want[i]) <= K * 2 ** -24 * absSum[i], `[${i}] ${out[i]} vs ${want[i]} (the halved weights)`);
  // Remarked with the new values: packed again from them.
  assert.deepEqual(ntProduct(native2, a, b, M, N, K, true), ntProduct(native1, copyInto(native1, a), copyInto(native1, b), M, N, K, true));
});

function copyInto(e: Engine, t: Float32Array): Float32Array {
  const c = e.arena.allocF32(t.length);
  c.set(t);
  return c;
}

test('a frozen model loaded from a folder is marked: scores and samples within 1e-5 of an unmarked one', { skip }, async () => {
  const dir = makeTinyModelFolder(3, 'prl-prepack-');
  const engine = await createEngine({ provider: 'native', threads: 2 });
  try {
    const ort = ortOf(engine);
    const frozen = loadModelWeights(dir, engine, { trainable: false }).model;
    const plain = loadModelWeights(dir, engine, { trainable: false, prepack: false }).model;
    const B = 2, T = 24, rng = new Rng(25);
    const tokens = Int32Array.from({ length: B * T }, () => rng.int(frozen.config.vocabSize));
    const targets = Int32Array.from({ length: B * T }, () => rng.int(frozen.config.vocabSize));

    const packedCalls = ort.packedCalls;
    const logp = Float32Array.from(frozen.forward(tokens, targets, B, T));
    // Every forward matmul has a weight as B: 7 projections per layer and the (untied) LM head.
    const weightMatmuls = 7 * frozen.config.numHiddenLayers + 1;
    assert.equal(ort.packedCalls - packedCalls, weightMatmuls, 'every weight matmul of the frozen model ran pre-packed');
    assert.equal(ort.packedSessions, weightMatmuls);
    const sessions = ort.packedSessions;
    const plainLogp = Float32Array.from(plain.forward(tokens, targets, B, T));
    assert.equal(ort.packedSessions, sessions, 'the prepack: false model marked nothing');
    for (let i = 0; i < B * T; i++) assert.ok(Math.abs(logp[i] - plainLogp[i]) <= 1e-5, `logp[${i}]: ${logp[i]} vs ${plainLogp[i]}`);

    // Decode (one row per sequence) runs on the packed sessions too.
    for (const model of [frozen, plain]) model.prepareInference(B, T);
    const pos = new Int32Array(B);
    const decodeBefore = ort.packedCalls;
    const logits = Float32Array.from(frozen.forwardCached(tokens.subarray(0, B), B, 1, pos));
    assert.equal(ort.packedCalls - decodeBefore, weightMatmuls, 'decode (2 rows) ran every weight matmul pre-packed');
    assert.equal(ort.packedSessions, sessions, 'on the sessions the forward packed');
    const plainLogits = Float32Array.from(plain.forwardCached(tokens.subarray(0, B), B, 1, pos));
    for (let i = 0; i < logits.length; i++) assert.ok(Math.abs(logits[i] - plainLogits[i]) <= 1e-5, `logits[${i}]: ${logits[i]} vs ${plainLogits[i]}`);

    unmarkFrozenWeights(engine.kernels, frozen);
    assert.equal(ort.packedSessions, 0);

    // The wasm provider takes the hint as a no-op.
    const wasmModel = loadModelWeights(dir, wasm, { trainable: false }).model;
    markFrozenWeights(wasm.kernels, wasmModel);
    unmarkFrozenWeights(wasm.kernels, wasmModel);
  } finally {
    await engine.kernels.dispose();
  }
});

test('onnxruntime keeps no reference to a constant B handed over at load: overwriting it changes nothing', { skip }, () => {
  const ort = loadOrtBackend();
  const M = 3, N = 20, K = 30, rng = new Rng(26);
  const a = Float32Array.from({ length: M * K }, () => rng.next() - 0.5);
  const b = Float32Array.from({ length: N * K }, () => rng.next() - 0.5);
  const bytes = gemmModel({ transA: false, transB: true, N, K, constantB: true });
  const session = ort.newSession();
  session.loadModel(bytes.buffer as ArrayBuffer, bytes.byteOffset, bytes.byteLength, { intraOpNumThreads: 1, externalData: [{ path: CONSTANT_B_PATH, data: b }] });
  try {
    assert.deepEqual(session.inputMetadata.length, 1, 'B is an initializer, not an input');
    const run = () => {
      const y = new Float32Array(M * N);
      session.run({ A: new ort.Tensor('float32', a, [M, K]) }, { Y: new ort.Tensor('float32', y, [M, N]) }, {});
      return y;
    };
    const first = run();
    const { want, absSum } = refNt(a, b, M, N, K);
    for (let i = 0; i < M * N; i++) assert.ok(Math.abs(first[i] - want[i]) <= K * 2 ** -24 * absSum[i]);
    b.fill(NaN);
    assert.deepEqual(run(), first);
  } finally {
    session.dispose();
  }
});

test('a frozen bfloat16 model (BF16 checkpoint) is not packed by default; asked to, its bf16 block is packed widened, within 1e-5 of unmarked', { skip }, async () => {
  const dir = fileURLToPath(new URL('../../../test/fixtures/hf/llama-tied-bf16', import.meta.url));
  const engine = await createEngine({ provider: 'native', threads: 2 });
  try {
    const ort = ortOf(engine);
    const marked = loadModelWeights(dir, engine, { trainable: false, prepack: true }).model;
    const plain = loadModelWeights(dir, engine, { trainable: false }).model;
    assert.ok(marked.shards[0].weights16, 'held in bfloat16');
    const B = 2, T = 12, rng = new Rng(27);
    const tokens = Int32Array.from({ length: B * T }, () => rng.int(marked.config.vocabSize));
    let before = ort.packedCalls;
    plain.forward(tokens, tokens, B, T);
    assert.equal(ort.packedCalls, before, 'a bf16-held model is not packed unless asked');
    before = ort.packedCalls;
    const logp = Float32Array.from(marked.forward(tokens, tokens, B, T));
    assert.equal(ort.packedCalls - before, 7 * marked.config.numHiddenLayers + 1, 'every weight matmul ran pre-packed');
    const plainLogp = Float32Array.from(plain.forward(tokens, tokens, B, T));
    for (let i = 0; i < B * T; i++) assert.ok(Math.abs(logp[i] - plainLogp[i]) <= 1e-5, `logp[${i}]: ${logp[i]} vs ${plainLogp[i]}`);
  } finally {
    await engine.kernels.dispose();
  }
});
