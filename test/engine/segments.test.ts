// A model spread over several arena segments (engine memories, src/engine/memory.ts) computes exactly
// what the same model in one segment does: log-probs, entropies, gradients (full, LoRA, recompute, the
// value-head trunk path), an AdamW step and its checkpoint state, and sampled tokens. The threaded
// WebAssembly kernels enforce that every call stays within one memory, so a misplaced buffer fails here.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { ModelConfig } from '../../src/engine/config.js';
import { createEngine, type Engine } from '../../src/engine/kernels/index.js';
import { LoraAdapter } from '../../src/engine/lora.js';
import { LlamaModel } from '../../src/engine/model.js';
import { AdamW } from '../../src/engine/optim.js';
import { generate } from '../../src/engine/sampler.js';
import { Rng } from '../../src/util/rng.js';
import { TINY_LLAMA_GQA } from '../helpers/llama-f64.js';

const CONFIG: ModelConfig = { ...TINY_LLAMA_GQA, headDim: 16, hiddenSize: 64, intermediateSize: 160, numHiddenLayers: 4, attentionBias: true, modelType: 'qwen2', tieWordEmbeddings: true };
const SPREAD = [0, 1, 1, 2]; // layer 0 with the embeddings, layers 1-2, layer 3
const B = 4, T = 24; // 96 rows: large enough that calls run on both threads

let engine: Engine;
before(async () => {
  engine = await createEngine({ threads: 2 });
});
after(async () => {
  await engine.kernels.dispose();
});

function seededModel(layerSegments: readonly number[] | undefined, options: { recompute?: boolean; trainable?: boolean } = {}): LlamaModel {
  const model = new LlamaModel(CONFIG, engine.arena, engine.kernels, { ...options, layerSegments });
  const rng = new Rng(11);
  for (const p of model.parameters()) {
    for (let i = 0; i < p.data.length; i++) p.data[i] = p.name.endsWith('norm.weight') ? 1 + 0.2 * rng.normal() : 0.2 * rng.normal();
  }
  return model;
}

function batch(): { tokens: Int32Array; targets: Int32Array; dlogp: Float32Array } {
  const rng = new Rng(5);
  const tokens = Int32Array.from({ length: B * T }, () => rng.int(CONFIG.vocabSize));
  const targets = Int32Array.from({ length: B * T }, (_, n) => (n % 5 === 2 ? -1 : rng.int(CONFIG.vocabSize)));
  const dlogp = Float32Array.from({ length: B * T }, (_, n) => ((n % 7) - 3) / 4);
  return { tokens, targets, dlogp };
}

function assertSameBits(actual: Float32Array, expected: Float32Array, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    if (!Object.is(actual[i], expected[i])) assert.fail(`${what}[${i}]: ${actual[i]} vs ${expected[i]}`);
  }
}

/** Each parameter's gradient by name. */
function gradsByName(model: { parameters(): Array<{ name: string; grad: Float32Array }> }): Map<string, Float32Array> {
  return new Map(model.parameters().map((p) => [p.name, Float32Array.from(p.grad)]));
}

test('the arena opens segments with kernel instances on every thread; a kernel refuses operands from two memories', () => {
  const model = seededModel(SPREAD);
  assert.ok(engine.arena.segmentCount >= 3);
  assert.deepEqual(model.shards.map((s) => s.segment), [0, 1, 2]);
  for (const p of model.parameters()) {
    const layer = /^model\.layers\.(\d+)\./.exec(p.name);
    assert.equal(engine.arena.segmentOf(p.data), layer ? SPREAD[Number(layer[1])] : 0, p.name);
  }
  const a = engine.arena.segment(0).allocF32(8);
  const b = engine.arena.segment(1).allocF32(8);
  assert.throws(() => engine.kernels.add(a, a, b, 8), /add: tensor 'b' is in engine memory 1, the call's other tensors in memory 0; a kernel reads and writes one memory/);
  // The kernel still works afterwards, in either memory.
  b.fill(2);
  engine.kernels.add(b, b, b, 8);
  assert.deepEqual([...b], new Array(8).fill(4));
  assert.throws(() => new LlamaModel(CONFIG, engine.arena, engine.kernels, { layerSegments: [0, 2, 1, 1] }), /layerSegments\[2\]: 1 is below the previous layer's 2/);
  assert.throws(() => new LlamaModel(CONFIG, engine.arena, engine.kernels, { layerSegments: [0, 1] }), /layerSegments: has 2 entries for 4 layers/);
});

test('full fine-tuning over three segments: the same log-probs, entropies, gradients, AdamW step and state as one segment', () => {
  const { tokens, targets, dlogp } = batch();
  const results = [undefined, SPREAD].map((segments) => {
    const model = seededModel(segments);
    const parallelBefore = (engine.kernels as unknown as { parallelCalls: number }).parallelCalls;
    const logp = Float32Array.from(model.forward(tokens, targets, B, T));
    const entropy = Float32Array.from(model.entropy());
    model.zeroGrad();
    model.backward(dlogp);
    const grads = gradsByName(model);
    const opt = new AdamW(model, engine.arena, engine.kernels, { lr: 1e-2, weightDecay: 0.1 });
    opt.update();
    const weights = new Map(model.parameters().map((p) => [p.name, Float32Array.from(p.data)]));
    const parallel = (engine.kernels as unknown as { parallelCalls: number }).parallelCalls - parallelBefore;
    return { logp, entropy, grads, weights, state: opt.state(), parallel, opt, model };
  });
  const [one, spread] = results;
  assert.ok(spread.parallel > 0, 'some calls ran on both threads');
  assertSameBits(spread.logp, one.logp, 'logp');
  assertSameBits(spread.entropy, one.entropy, 'entropy');
  for (const [name, g] of one.grads) assertSameBits(spread.grads.get(name)!, g, `grad ${name}`);
  for (const [name, w] of one.weights) assertSameBits(spread.weights.get(name)!, w, `weight after AdamW ${name}`);
  // The checkpoint state is laid out as one segment holds it, so it moves between placements.
  assertSameBits(spread.state.m, one.state.m, 'AdamW m');
  assertSameBits(spread.state.v, one.state.v, 'AdamW v');
  one.opt.load(spread.state);
  spread.opt.load(one.state);
  one.opt.update();
  spread.opt.update();
  const after1 = new Map(one.model.parameters().map((p) => [p.name, p.data]));
  for (const p of spread.model.parameters()) assertSameBits(p.data as Float32Array, after1.get(p.name) as Float32Array, `second step ${p.name}`);
});

test('LoRA and recompute over segments: the same adapter gradients; the trunk path and sampling agree too', () => {
  const { tokens, targets, dlogp } = batch();
  const results = [undefined, SPREAD].map((segments) => {
    const model = seededModel(segments, { recompute: true, trainable: false });
    const adapter = new LoraAdapter(CONFIG, engine.arena, { rank: 2, alpha: 4, targets: ['q', 'v', 'o', 'down'] }, model.layerSegments);
    const rng = new Rng(3);
    for (const p of adapter.parameters()) for (let i = 0; i < p.data.length; i++) p.data[i] = 0.3 * rng.normal();
    model.attachAdapter(adapter);
    const logp = Float32Array.from(model.forward(tokens, targets, B, T));
    adapter.zeroGrad();
    model.backward(dlogp);
    const loraGrads = gradsByName(adapter);
    const hidden = Float32Array.from(model.forwardHidden(tokens, B, T));
    adapter.zeroGrad();
    model.backwardHidden(Float32Array.from(hidden, (h, i) => Math.sin(i) * h));
    const hiddenGrads = gradsByName(adapter);
    const samples = generate(model, [[1, 2, 3], [4, 5]], { maxNewTokens: 6, temperature: 1, rng: new Rng(9) }).map((r) => r.tokens);
    return { logp, loraGrads, hidden, hiddenGrads, samples, shards: adapter.shards.length };
  });
  const [one, spread] = results;
  assert.equal(spread.shards, 3);
  assertSameBits(spread.logp, one.logp, 'logp');
  for (const [name, g] of one.loraGrads) assertSameBits(spread.loraGrads.get(name)!, g, `LoRA grad ${name}`);
  assertSameBits(spread.hidden, one.hidden, 'forwardHidden');
  for (const [name, g] of one.hiddenGrads) assertSameBits(spread.hiddenGrads.get(name)!, g, `backwardHidden grad ${name}`);
  assert.deepEqual(spread.samples, one.samples);
  // An adapter built for another placement is refused, naming both.
  const model = seededModel(SPREAD, { trainable: false });
  const misplaced = new LoraAdapter(CONFIG, engine.arena, { rank: 2 });
  assert.throws(() => model.attachAdapter(misplaced), /the adapter's layers are in arena segments \[0, 0, 0, 0\], the model's in \[0, 1, 1, 2\]/);
});
