// Frozen weights held in bfloat16 (LlamaModelOptions.bf16Weights): the matmul kernel widens a bf16 B
// operand exactly, so every provider gives the bits it gives for the same values stored as float32, and
// a bf16 checkpoint loaded frozen computes what it computes loaded in float32, in less memory.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, truncateSync, statSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toBf16Bits, widenBf16 } from '../../src/engine/bf16.js';
import { loadModelFolder, saveModelFolder } from '../../src/engine/checkpoint.js';
import { loadModelWeights } from '../../src/engine/io.js';
import { FallbackKernels } from '../../src/engine/kernels/fallback.js';
import { createEngine, type Engine, type MatmulLayout } from '../../src/engine/kernels/index.js';
import type { Kernels } from '../../src/engine/kernels/types.js';
import { LoraAdapter } from '../../src/engine/lora.js';
import { Arena } from '../../src/engine/memory.js';
import { estimateArenaBytes } from '../../src/engine/memory-estimate.js';
import { LlamaModel } from '../../src/engine/model.js';
import { generate } from '../../src/engine/sampler.js';
import { PrlError } from '../../src/util/errors.js';
import { Rng } from '../../src/util/rng.js';

const FIXTURE = join(import.meta.dirname, '..', '..', '..', 'test', 'fixtures', 'hf', 'llama-tied-bf16');
const work = mkdtempSync(join(tmpdir(), 'prl-bf16-'));

let wasm: Engine;
let native: Engine;
before(async () => {
  wasm = await createEngine({ threads: 2 });
  native = await createEngine({ threads: 2, provider: 'native' });
});
after(async () => {
  await wasm.kernels.dispose();
  await native.kernels.dispose();
  rmSync(work, { recursive: true, force: true });
});

function assertSameBits(actual: Float32Array, expected: Float32Array, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) if (!Object.is(actual[i], expected[i])) assert.fail(`${what}[${i}]: ${actual[i]} vs ${expected[i]}`);
}

test('bfloat16 bits: widening is exact, rounding is to nearest even', () => {
  const roundTrip = (x: number) => widenBf16(Uint16Array.of(toBf16Bits(x)))[0];
  for (const x of [0, 1, -2.5, 3.140625, 2 ** -126, 2 ** 127, Infinity, -Infinity]) assert.equal(roundTrip(x), x); // representable
  assert.ok(Object.is(roundTrip(-0), -0));
  assert.equal(roundTrip(1 + 2 ** -8), 1); // a tie goes to the even mantissa
  assert.equal(roundTrip(1 + 3 * 2 ** -8), 1 + 2 ** -6);
  assert.equal(roundTrip(1 + 2 ** -8 + 2 ** -12), 1 + 2 ** -7); // past the tie: up
  assert.ok(Number.isNaN(roundTrip(NaN)));
});

test('matmul with a bfloat16 B equals matmul of the widened float32 B, bit for bit, on every provider and layout', () => {
  const rng = new Rng(4);
  // Edge cases: N % 8 != 0 (edge columns), K % 4 != 0 (packing tails), M past one tile and one thread.
  const shapes: Array<[number, number, number]> = [[37, 29, 43], [5, 8, 4], [64, 72, 130]];
  const providers: Array<[string, Kernels, Arena]> = [['ts', new FallbackKernels(), new Arena(0)], ['wasm', wasm.kernels, wasm.arena], ['native', native.kernels, native.arena]];
  for (const [name, kernels, arena] of providers) {
    for (const layout of ['nt', 'nn', 'tn'] as MatmulLayout[]) {
      for (const [M, N, K] of shapes) {
        const a = arena.allocF32(M * K);
        for (let i = 0; i < a.length; i++) a[i] = rng.normal();
        const b16 = arena.segment(0).allocU16(N * K);
        for (let i = 0; i < b16.length; i++) b16[i] = toBf16Bits(rng.normal());
        const b32 = arena.allocF32(N * K);
        widenBf16(b16, b32);
        for (const accumulate of [false, true]) {
          const init = Float32Array.from({ length: M * N }, () => rng.normal());
          const fromBf16 = arena.allocF32(M * N);
          const fromF32 = arena.allocF32(M * N);
          fromBf16.set(init);
          fromF32.set(init);
          kernels.matmul(fromBf16, a, b16, M, N, K, layout, accumulate);
          kernels.matmul(fromF32, a, b32, M, N, K, layout, accumulate);
          assertSameBits(fromBf16, fromF32, `${name} ${layout} ${M}x${N}x${K} accumulate=${accumulate}`);
          // And against float64 (the widened values are the exact operands).
          const at = (i: number, k: number) => (layout === 'tn' ? a[k * M + i] : a[i * K + k]);
          const bt = (k: number, j: number) => (layout === 'nt' ? b32[j * K + k] : b32[k * N + j]);
          for (const [i, j] of [[0, 0], [M - 1, N - 1], [M >> 1, N >> 1]]) {
            let sum = accumulate ? init[i * N + j] : 0;
            for (let k = 0; k < K; k++) sum += at(i, k) * bt(k, j);
            assert.ok(Math.abs(fromBf16[i * N + j] - sum) <= 1e-4 * (1 + Math.abs(sum)), `${name} ${layout} (${i}, ${j}): ${fromBf16[i * N + j]} vs ${sum}`);
          }
        }
      }
    }
  }
});

test('a bf16 checkpoint loaded frozen is held in bfloat16 and gives the float32 load\'s log-probs, samples and adapter gradients', () => {
  const inF32 = loadModelWeights(FIXTURE, wasm, { trainable: false, bf16Weights: false }).model;
  const before16 = wasm.arena.usedBytes;
  const inBf16 = loadModelWeights(FIXTURE, wasm, { trainable: false }).model;
  const bytes16 = wasm.arena.usedBytes - before16;
  assert.ok(inBf16.shards[0].weights16 && inBf16.shards[0].weights16.length > 0, 'held in bfloat16 by default');
  assert.equal(inF32.shards[0].weights16, undefined);
  const config = inBf16.config;
  const plan = { config, trainable: false, optimizer: false };
  assert.equal(bytes16, estimateArenaBytes({ ...plan, bf16Weights: true }).weights);
  assert.ok(bytes16 < 0.6 * estimateArenaBytes(plan).weights, `${bytes16} bytes in bf16`);

  const rng = new Rng(2);
  const B = 2, T = 12;
  const tokens = Int32Array.from({ length: B * T }, () => rng.int(config.vocabSize));
  const targets = Int32Array.from({ length: B * T }, () => rng.int(config.vocabSize));
  assertSameBits(Float32Array.from(inBf16.forward(tokens, targets, B, T)), Float32Array.from(inF32.forward(tokens, targets, B, T)), 'log-probs');
  assertSameBits(Float32Array.from(inBf16.entropy()), Float32Array.from(inF32.entropy()), 'entropy');
  const prompts = [[1, 2, 3], [4]];
  const sample = (m: LlamaModel) => generate(m, prompts, { maxNewTokens: 5, temperature: 1, rng: new Rng(8) }).map((r) => [r.tokens, r.logprobs]);
  assert.deepEqual(sample(inBf16), sample(inF32));

  // LoRA over either base: the same adapter gradients (the backward's dx = dy · W reads the bf16 W).
  const grads = [inF32, inBf16].map((m) => {
    const adapter = new LoraAdapter(config, wasm.arena, { rank: 2, alpha: 4 });
    const r = new Rng(6);
    for (const p of adapter.parameters()) for (let i = 0; i < p.data.length; i++) p.data[i] = 0.2 * r.normal();
    m.attachAdapter(adapter);
    m.forward(tokens, targets, B, T);
    m.backward(Float32Array.from({ length: B * T }, (_, n) => (n % 3) - 1));
    return adapter.grads;
  });
  assertSameBits(grads[1], grads[0], 'adapter gradients');
  assert.throws(() => new LlamaModel(config, wasm.arena, wasm.kernels, { bf16Weights: true }), /bf16Weights: holds frozen models only/);
});

test('a bf16 model saves BF16 tensors as stored; a truncated BF16 checkpoint names the tensor and file', () => {
  const model = loadModelWeights(FIXTURE, wasm, { trainable: false }).model;
  const out = join(work, 'saved');
  saveModelFolder(out, model.config, model.parameters());
  const folder = loadModelFolder(out);
  assert.ok(folder.storesBf16Matrices());
  const again = new LlamaModel(folder.config, wasm.arena, wasm.kernels, { trainable: false, bf16Weights: true });
  folder.fillTensors(again.parameters());
  folder.close();
  const original = new Map(model.parameters().map((p) => [p.name, p.data]));
  for (const p of again.parameters()) assert.deepEqual(p.data, original.get(p.name), p.name);

  const cut = join(work, 'truncated');
  mkdirSync(cut);
  copyFileSync(join(FIXTURE, 'config.json'), join(cut, 'config.json'));
  copyFileSync(join(FIXTURE, 'model.safetensors'), join(cut, 'model.safetensors'));
  truncateSync(join(cut, 'model.safetensors'), statSync(join(cut, 'model.safetensors')).size - 10);
  assert.throws(() => loadModelWeights(cut, wasm, { trainable: false }), (err: Error) => {
    assert.ok(err instanceof PrlError);
    assert.match(err.message, new RegExp(`${cut}/model\\.safetensors`));
    assert.match(err.message, /tensor|truncated|file size/);
    return true;
  });
  // A float32 destination of a non-BF16 tensor cannot be held in bfloat16: refused, naming the tensor.
  const f16 = join(import.meta.dirname, '..', '..', '..', 'test', 'fixtures', 'hf', 'qwen2-bias-f16');
  assert.throws(() => loadModelWeights(f16, wasm, { trainable: false, bf16Weights: true }), /tensor model\.embed_tokens\.weight: is F16; only BF16 tensors are held in bfloat16/);
  assert.ok(readFileSync(join(out, 'model.safetensors')).includes('"BF16"'));
});
