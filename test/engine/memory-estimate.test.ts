import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync, ftruncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toHfConfig, expectedTensors } from '../../src/engine/checkpoint.js';
import { PRESETS, type ModelConfig } from '../../src/engine/config.js';
import { loadModelWeights } from '../../src/engine/io.js';
import { createEngine } from '../../src/engine/kernels/index.js';
import { FallbackKernels } from '../../src/engine/kernels/fallback.js';
import { LoraAdapter, loraBlockFloats } from '../../src/engine/lora.js';
import { Arena } from '../../src/engine/memory.js';
import { assertFits, estimateArenaBytes, maxLayersThatFit, planPlacement, type MemoryPlan } from '../../src/engine/memory-estimate.js';
import { LlamaModel } from '../../src/engine/model.js';
import { AdamW, type Trainable } from '../../src/engine/optim.js';
import { generate } from '../../src/engine/sampler.js';
import { PrlError } from '../../src/util/errors.js';
import { Rng } from '../../src/util/rng.js';

const work = mkdtempSync(join(tmpdir(), 'prl-memory-estimate-'));
after(() => rmSync(work, { recursive: true, force: true }));

test('the arena estimate of the tiny preset matches a hand count', () => {
  // tiny: V 32, C 64, I 192, 2 layers, 4 heads / 2 KV of 16, 256 positions, untied, no bias.
  // Per layer q 64x64 + k 32x64 + v 32x64 + o 64x64 + gate/up/down 3 x 192x64 + two norms of 64 = 49,280;
  // embed 32x64 + 2 layers + norm 64 + lm_head 32x64 = 102,720 floats (all multiples of 16: no padding).
  const plan: MemoryPlan = { config: PRESETS.tiny, trainable: true, optimizer: true, trainRows: 2 * 16 };
  const e = estimateArenaBytes(plan);
  const modelBytes = 102720 * 4;
  assert.equal(e.weights, modelBytes + 2 * 256 * 8 * 4); // + RoPE cos and sin, (256 positions, 8)
  assert.equal(e.gradients, modelBytes);
  assert.equal(e.optimizer, 2 * modelBytes);
  assert.equal(e.adapter, 0);
  assert.equal(e.sampling, 0);
  // N = 32 rows. Buffers round up to 64 bytes: an (N) vector is 128 bytes, (N, C) 8,192, (N, kv) 4,096,
  // (N, nHead) 512, (N, I) 24,576, (N, V) 4,096 (the head's one chunk: V 32 < HEAD_CHUNK), (C) 256.
  const ids = 3 * 128; // tokens, targets, positions
  const residual = 3 * 8192; // L + 1 residual streams
  const layer = 3 * 8192 + 2 * 128 + 2 * 8192 + 2 * 4096 + 512 + 3 * 24576; // ln1 resMid ln2, rstd x2, q att, k v, attLse, gate up h
  const head = 8192 + 128 + 4096 + 3 * 128 + 3 * 128; // lnf, rstdf, chunk logits, chunk lse entropy scale, lse logp entropy
  const backward = 128 + 2 * 8192 + 2 * 8192 + 2 * 4096 + 3 * 24576 + 256; // dlogp, dres dln, dq datt, dk dv, dgate dup dh, dNormDiscard
  assert.equal(e.activations, ids + residual + 2 * layer + head + backward);
  assert.equal(e.activations, 400512);
  // Under recompute the layers share one activation set.
  const recomputed = estimateArenaBytes({ ...plan, recompute: true });
  assert.equal(recomputed.activations, ids + residual + layer + head + backward);
  assert.equal(e.total, e.weights + e.gradients + e.optimizer + e.activations);
});

/** A qwen2-style config with q/k/v biases and tied embeddings, small enough for the reference kernels. */
const qwenTiny: ModelConfig = { ...PRESETS.tiny, modelType: 'qwen2', attentionBias: true, tieWordEmbeddings: true, vocabSize: 50, intermediateSize: 100 };

/** Builds and runs exactly what `plan` describes on a fresh arena; returns each segment's used bytes. */
function measureArena(plan: MemoryPlan, B: number, T: number, prompt: number, newTokens: number): number[] {
  const arena = new Arena(0);
  const kernels = new FallbackKernels();
  const model = new LlamaModel(plan.config, arena, kernels, { trainable: plan.trainable, recompute: plan.recompute, layerSegments: plan.layerSegments });
  model.initRandom(new Rng(0));
  let trained: Trainable = model;
  if (plan.loraRank) {
    const adapter = new LoraAdapter(plan.config, arena, { rank: plan.loraRank }, model.layerSegments);
    model.attachAdapter(adapter);
    trained = adapter;
  }
  if (plan.optimizer) {
    new AdamW(trained, arena, kernels, { lr: 1e-3 });
    const tokens = Int32Array.from({ length: B * T }, (_, n) => n % plan.config.vocabSize);
    model.forward(tokens, tokens, B, T);
    model.backward(new Float32Array(B * T).fill(-0.01));
  }
  if (plan.sample) generate(model, Array.from({ length: plan.sample.batch }, () => Array(prompt).fill(3)), { maxNewTokens: newTokens, rng: new Rng(1) });
  return Array.from({ length: arena.segmentCount }, (_, i) => arena.segment(i).usedBytes);
}

test('the arena estimate equals what the model, adapter, AdamW, a training step and sampling allocate', () => {
  const cases: Array<[string, MemoryPlan]> = [
    ['full fine-tuning and sampling', { config: qwenTiny, trainable: true, optimizer: true, trainRows: 3 * 10, sample: { batch: 2, maxT: 5 + 4 - 1 } }],
    ['LoRA r4 over a frozen base and sampling', { config: qwenTiny, trainable: false, loraRank: 4, optimizer: true, trainRows: 3 * 10, sample: { batch: 2, maxT: 5 + 4 - 1 } }],
    ['full fine-tuning with per-layer recompute', { config: qwenTiny, trainable: true, optimizer: true, trainRows: 3 * 10, recompute: true }],
    ['a frozen model sampling only', { config: PRESETS.tiny, trainable: false, optimizer: false, sample: { batch: 3, maxT: 5 + 4 - 1 } }],
  ];
  // The same over three segments: embeddings and layer 0 in segment 0, layers 1-2 in 1, layer 3 in 2.
  const spread = [0, 1, 1, 2];
  const deep = { ...qwenTiny, numHiddenLayers: 4 };
  cases.push(
    ['three segments: full fine-tuning and sampling', { config: deep, trainable: true, optimizer: true, trainRows: 30, sample: { batch: 2, maxT: 8 }, layerSegments: spread }],
    ['three segments: LoRA r4 and sampling', { config: deep, trainable: false, loraRank: 4, optimizer: true, trainRows: 30, sample: { batch: 2, maxT: 8 }, layerSegments: spread }],
    ['three segments: recompute, no layer in segment 0', { config: deep, trainable: true, optimizer: true, trainRows: 30, recompute: true, layerSegments: [1, 1, 2, 2] }],
  );
  for (const [name, plan] of cases) {
    const e = estimateArenaBytes(plan);
    const used = measureArena(plan, 3, 10, 5, 4);
    assert.deepEqual(e.segments, used, name);
    assert.equal(e.total, used.reduce((a, b) => a + b, 0), name);
  }
  const lora = estimateArenaBytes(cases[1][1]);
  assert.equal(lora.adapter, 2 * loraBlockFloats(qwenTiny, { rank: 4 }) * 4);
  assert.equal(lora.gradients, 0);
});

test('a plan past the memory limit, or with a segment past 4 GiB, is refused with its estimate and the hints; one that fits is returned', () => {
  // 1,000,000 x 512 embeddings untied: 2 x 1.91 GiB of weights, the same again of gradients.
  const big: ModelConfig = { ...PRESETS.tiny, vocabSize: 1_000_000, hiddenSize: 512, numAttentionHeads: 8, headDim: 64 };
  const plan: MemoryPlan = { config: big, trainable: true, optimizer: true, trainRows: 64 };
  assert.throws(() => assertFits(plan, 'this model', ['--frozen'], 8 * 2 ** 30), (err: Error) => {
    assert.ok(err instanceof PrlError);
    assert.match(err.message, /^this model needs about 1[45]\.\d\d GiB of engine memory \(weights 3\.8\d, gradients 3\.8\d, AdamW state 7\.6\d, training activations 0\.\d\d\), more than the 8\.00 GiB/);
    assert.match(err.message, /It would fit with: --frozen\.$/);
    return true;
  });
  // Within the limit, but segment 0 (embeddings, lm_head, their gradients and moments) is 15 GiB alone.
  assert.throws(() => assertFits(plan, 'this model', [], 64 * 2 ** 30), /and its segment 0 alone needs 1[45]\.\d\d GiB, more than the 4\.00 GiB one WebAssembly memory can hold/);
  assert.equal(assertFits({ config: PRESETS.tiny, trainable: true, optimizer: true }, 'tiny').total, 427264 + 410880 + 2 * 410880);
});

/** A model folder whose safetensors header declares every tensor in BF16 over a sparse (unwritten) data section. */
function sparseFolder(dir: string, config: ModelConfig): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'config.json'), JSON.stringify(toHfConfig(config)));
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const { name, shape } of expectedTensors(config)) {
    const bytes = shape.reduce((a, b) => a * b, 1) * 2;
    header[name] = { dtype: 'BF16', shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  const json = Buffer.from(JSON.stringify(header));
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(json.length));
  const fd = openSync(join(dir, 'model.safetensors'), 'w');
  writeSync(fd, length);
  writeSync(fd, json);
  ftruncateSync(fd, 8 + json.length + offset);
  closeSync(fd);
}

test('loading a trainable model past the arena is refused before allocating, naming the folder', async () => {
  // 1,000,000 x 512 untied embeddings: 3.8 GiB of float32 weights alone, 7.6 with gradients.
  const big: ModelConfig = { ...PRESETS.tiny, vocabSize: 1_000_000, hiddenSize: 512, numAttentionHeads: 8, headDim: 64 };
  const dir = join(work, 'big');
  sparseFolder(dir, big);
  const engine = await createEngine({ provider: 'ts' });
  const before = engine.arena.usedBytes;
  process.env.PRL_MEMORY_LIMIT_GIB = '6';
  try {
    assert.throws(() => loadModelWeights(dir, engine), (err: Error) => {
      assert.ok(err instanceof PrlError);
      assert.match(err.message, new RegExp(`^${dir}: the trainable model needs about 7\\.6\\d GiB of engine memory \\(weights 3\\.8\\d, gradients 3\\.8\\d\\), more than the 6\\.00 GiB of PRL_MEMORY_LIMIT_GIB`));
      assert.match(err.message, /It would fit with: load it frozen/);
      return true;
    });
  } finally {
    delete process.env.PRL_MEMORY_LIMIT_GIB;
  }
  assert.equal(engine.arena.usedBytes, before);
  assert.equal(maxLayersThatFit({ config: big, trainable: true, optimizer: false }, 6 * 2 ** 30), 0);
  assert.equal(maxLayersThatFit({ config: { ...PRESETS.tiny, numHiddenLayers: 5 }, trainable: true, optimizer: true }), 5);
});

test('planPlacement fills 4 GiB segments with consecutive layers, and keeps a model that fits one memory in segment 0', () => {
  assert.deepEqual(planPlacement({ config: { ...PRESETS.tiny, numHiddenLayers: 3 }, trainable: true, optimizer: true, trainRows: 64 }), [0, 0, 0]);
  // The qwen2.5-0.5b shape, full fine-tuning with AdamW at 4 x 256 rows: 9.33 GiB in all.
  const qwen: ModelConfig = { ...PRESETS.tiny, modelType: 'qwen2', vocabSize: 151936, hiddenSize: 896, intermediateSize: 4864, numHiddenLayers: 24, numAttentionHeads: 14, numKeyValueHeads: 2, headDim: 64, attentionBias: true, tieWordEmbeddings: true, maxPositionEmbeddings: 32768 };
  const plan: MemoryPlan = { config: qwen, trainable: true, optimizer: true, trainRows: 1024, baseBytes: 5 << 20, segmentBaseBytes: 5 << 20 };
  const placement = planPlacement(plan);
  assert.equal(placement.length, 24);
  placement.forEach((s, l) => assert.ok(l === 0 ? s === 0 : s === placement[l - 1] || s === placement[l - 1] + 1, `layer ${l}`));
  const e = estimateArenaBytes(plan);
  assert.deepEqual(e.layerSegments, placement);
  assert.ok(e.segments.length >= 3, `${e.segments.length} segments for ${(e.total / 2 ** 30).toFixed(2)} GiB`);
  for (const bytes of e.segments) assert.ok(bytes <= 4 * 2 ** 30);
  // Greedy: no segment could have taken the next segment's first layer.
  for (let s = 0; s + 1 < e.segments.length; s++) {
    const first = placement.indexOf(s + 1);
    const moved = placement.map((seg, l) => (l === first ? s : seg));
    assert.ok(estimateArenaBytes({ ...plan, layerSegments: moved }).segments[s] > 4 * 2 ** 30, `segment ${s} had room for layer ${first}`);
  }
});
