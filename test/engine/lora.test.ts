// LoRA on the engine model against an independent float64 reference: the adapter model is the float64
// HF forward over W + scale · B A (merged in float64 here), its gradients are checked by finite
// differences, and the base is recovered exactly with B = 0 or the adapter disabled.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PRESETS, type ModelConfig } from '../../src/engine/config.js';
import { FallbackKernels } from '../../src/engine/kernels/fallback.js';
import { createEngine } from '../../src/engine/kernels/index.js';
import { LoraAdapter, LORA_MODULES, mergeAdapter, type LoraOptions } from '../../src/engine/lora.js';
import { Arena } from '../../src/engine/memory.js';
import { LlamaModel } from '../../src/engine/model.js';
import { AdamW } from '../../src/engine/optim.js';
import { Rng } from '../../src/util/rng.js';
import { TINY_LLAMA_GQA, paramsOf, referenceLogits, referenceLogp, type Params } from '../helpers/llama-f64.js';

const kernels = new FallbackKernels();

const LLAMA = TINY_LLAMA_GQA;
const QWEN2: ModelConfig = { ...LLAMA, modelType: 'qwen2', numAttentionHeads: 2, numKeyValueHeads: 1, headDim: 8, attentionBias: true, tieWordEmbeddings: true };

/** A frozen base with visible weights and an attached adapter with random A and (unless zeroB) random B. */
function makeAdapted(config: ModelConfig, options: LoraOptions, seed = 1, zeroB = false): { model: LlamaModel; adapter: LoraAdapter; arena: Arena } {
  const arena = new Arena(0);
  const model = new LlamaModel(config, arena, kernels, { trainable: false });
  const rng = new Rng(seed);
  for (const p of model.parameters()) {
    for (let i = 0; i < p.data.length; i++) {
      if (p.name.endsWith('norm.weight')) p.data[i] = 1 + 0.2 * rng.normal();
      else if (p.name.endsWith('.bias')) p.data[i] = 0.1 * rng.normal();
      else p.data[i] = 0.3 * rng.normal();
    }
  }
  const adapter = new LoraAdapter(config, arena, options);
  adapter.initRandom(rng);
  if (!zeroB) for (const p of adapter.parameters()) if (p.name.includes('lora_B')) for (let i = 0; i < p.data.length; i++) p.data[i] = 0.2 * rng.normal();
  model.attachAdapter(adapter);
  return { model, adapter, arena };
}

/** Base parameters with W + scale · B A in float64, from the adapter's tensors read by name. */
function mergedReference(model: LlamaModel, adapter: LoraAdapter): Params {
  const P = paramsOf(model);
  const byName = new Map(adapter.parameters().map((p) => [p.name, p]));
  for (let l = 0; l < model.config.numHiddenLayers; l++) {
    for (const t of adapter.config.targets) {
      const prefix = `model.layers.${l}.${LORA_MODULES[t]}`;
      const A = byName.get(`${prefix}.lora_A.weight`)!, B = byName.get(`${prefix}.lora_B.weight`)!;
      const W = P.get(`${prefix}.weight`)!;
      const [r, inDim] = A.shape, out = B.shape[0];
      for (let o = 0; o < out; o++) for (let i = 0; i < inDim; i++) for (let j = 0; j < r; j++) W[o * inDim + i] += adapter.scale * B.data[o * r + j] * A.data[j * inDim + i];
    }
  }
  return P;
}

function batchOf(rng: Rng, V: number, B: number, T: number): { tokens: Int32Array; targets: Int32Array } {
  const tokens = Int32Array.from({ length: B * T }, () => rng.int(V));
  const targets = Int32Array.from({ length: B * T }, (_, n) => (n % 5 === 3 ? -1 : rng.int(V)));
  return { tokens, targets };
}
const seqOf = (a: Int32Array, b: number, T: number) => Array.from(a.subarray(b * T, (b + 1) * T));

const CASES: Array<[string, ModelConfig, LoraOptions]> = [
  ['llama, all seven targets, rank 3', LLAMA, { rank: 3 }],
  ['qwen2 bias tied, q/v/down, rsLoRA alpha 4', QWEN2, { rank: 2, alpha: 4, rslora: true, targets: ['q', 'v', 'down'] }],
];

for (const [label, config, options] of CASES) {
  test(`${label}: log-probs equal the float64 forward over W + scale · B A`, () => {
    const { model, adapter } = makeAdapted(config, options);
    assert.equal(adapter.scale, options.rslora ? options.alpha! / Math.sqrt(options.rank) : 2);
    const B = 2, T = 7;
    const { tokens, targets } = batchOf(new Rng(3), config.vocabSize, B, T);
    const logp = model.forward(tokens, targets, B, T);
    const P = mergedReference(model, adapter);
    let differs = 0;
    const base = paramsOf(model);
    for (let b = 0; b < B; b++) {
      const expected = referenceLogp(config, P, seqOf(tokens, b, T), seqOf(targets, b, T));
      const baseLogp = referenceLogp(config, base, seqOf(tokens, b, T), seqOf(targets, b, T));
      expected.forEach((e, t) => {
        assert.ok(Math.abs(logp[b * T + t] - e) < 1e-5, `b=${b} t=${t}: ${logp[b * T + t]} vs ${e}`);
        if (Math.abs(e - baseLogp[t]) > 1e-2) differs++;
      });
    }
    assert.ok(differs >= 4, 'the adapter visibly changes the model');
  });

  test(`${label}: adapter gradients match float64 finite differences; the frozen base gets none`, () => {
    const { model, adapter } = makeAdapted(config, options, 2);
    const B = 2, T = 5;
    const rng = new Rng(4);
    const { tokens, targets } = batchOf(rng, config.vocabSize, B, T);
    const dlogp = Float32Array.from({ length: B * T }, () => rng.normal());
    adapter.zeroGrad();
    model.forward(tokens, targets, B, T);
    model.backward(dlogp);
    assert.equal(model.grads.length, 0);
    const h = 1e-5;
    let checked = 0;
    for (const p of adapter.parameters()) {
      for (const i of [rng.int(p.data.length), rng.int(p.data.length)]) {
        const loss = () => {
          const P = mergedReference(model, adapter);
          let s = 0;
          for (let b = 0; b < B; b++) referenceLogp(config, P, seqOf(tokens, b, T), seqOf(targets, b, T)).forEach((lp, t) => (s += dlogp[b * T + t] * lp));
          return s;
        };
        // Perturb the float32 adapter entry itself; step in float64 through a saved value.
        const saved = p.data[i];
        p.data[i] = saved + h;
        const plusAt = p.data[i] - saved;
        const plus = loss();
        p.data[i] = saved - h;
        const minusAt = saved - p.data[i];
        const minus = loss();
        p.data[i] = saved;
        const numeric = (plus - minus) / (plusAt + minusAt);
        const err = Math.abs(p.grad[i] - numeric);
        assert.ok(err <= 2e-4 + 2e-3 * Math.abs(numeric), `${p.name}[${i}]: grad ${p.grad[i]} vs numeric ${numeric}`);
        checked++;
      }
    }
    assert.ok(checked >= 8);
    assert.ok(adapter.grads.some((g) => Math.abs(g) > 1e-3), 'gradients are not all zero');
  });
}

test('B = 0 gives exactly the base log-probs; a disabled adapter gives exactly the base; KV-cache logits match teacher forcing', () => {
  const { tokens, targets } = batchOf(new Rng(5), LLAMA.vocabSize, 2, 6);
  const fresh = makeAdapted(LLAMA, { rank: 4 }, 7, true);
  const withZeroB = Float32Array.from(fresh.model.forward(tokens, targets, 2, 6));
  fresh.model.adapterEnabled = false;
  assert.deepEqual(withZeroB, fresh.model.forward(tokens, targets, 2, 6));

  const { model } = makeAdapted(LLAMA, { rank: 4 }, 7);
  const adapted = Float32Array.from(model.forward(tokens, targets, 2, 6));
  assert.notDeepEqual(adapted, withZeroB);
  model.adapterEnabled = false;
  assert.deepEqual(model.forward(tokens, targets, 2, 6), withZeroB);
  assert.throws(() => model.backward(new Float32Array(12)), /frozen/, 'nothing to train without the adapter');

  // Sampling path: the last position's logits of a cached prefill equal teacher forcing's.
  model.adapterEnabled = true;
  const T = 6, V = LLAMA.vocabSize;
  const seq = tokens.subarray(0, T);
  model.forward(seq, new Int32Array(T).fill(-1), 1, T);
  const teacher = Float32Array.from(model.logits().subarray((T - 1) * V, T * V));
  model.prepareInference(1, T);
  const cached = model.forwardCached(seq, 1, T, Int32Array.of(0));
  cached.forEach((z, j) => assert.ok(Math.abs(z - teacher[j]) < 1e-5, `logit ${j}: ${z} vs ${teacher[j]}`));
  const reference = referenceLogits(LLAMA, mergedReference(model, model.adapter!), Array.from(seq))[T - 1];
  reference.forEach((z, j) => assert.ok(Math.abs(cached[j] - z) < 1e-4, `logit ${j}: ${cached[j]} vs float64 ${z}`));
});

test('PEFT initialisation: A ~ U(-1/sqrt(in), 1/sqrt(in)) seeded by Rng, B = 0; bad options and shapes are refused', () => {
  const make = () => {
    const adapter = new LoraAdapter(LLAMA, new Arena(0), { rank: 8 });
    adapter.initRandom(new Rng(11));
    return adapter;
  };
  const adapter = make();
  assert.deepEqual(adapter.weights, make().weights);
  const down = adapter.layers[1].down!;
  const bound = 1 / Math.sqrt(LLAMA.intermediateSize);
  assert.ok(down.a.every((x) => Math.abs(x) <= bound));
  assert.ok(Math.max(...down.a.map(Math.abs)) > 0.8 * bound, 'spans the interval');
  assert.ok(adapter.layers.every((layer) => Object.values(layer).every((pair) => pair.b.every((x) => x === 0))));
  assert.throws(() => new LoraAdapter(LLAMA, new Arena(0), { rank: 0 }), /rank/);
  assert.throws(() => new LoraAdapter(LLAMA, new Arena(0), { rank: 2, targets: ['q', 'lm_head' as never] }), /lm_head/);
  const base = new LlamaModel(LLAMA, new Arena(0), kernels, { trainable: false });
  assert.throws(() => base.attachAdapter(new LoraAdapter(QWEN2, new Arena(0), { rank: 2 })), /LoRA adapter: layer 0 q: is \(16, 16\), the model's layer is \(24, 16\)/);
  assert.throws(() => base.attachAdapter(new LoraAdapter({ ...LLAMA, numHiddenLayers: 3 }, new Arena(0), { rank: 2 })), /has 3 layers, the model 2/);
});

test('AdamW over the adapter moves only adapter parameters; merged weights give the adapter log-probs', () => {
  const { model, adapter, arena } = makeAdapted(QWEN2, { rank: 2 }, 9);
  const baseBefore = Float32Array.from(model.weights);
  const adapterBefore = Float32Array.from(adapter.weights);
  const opt = new AdamW(adapter, arena, kernels, { lr: 1e-2, weightDecay: 0.1 });
  const { tokens, targets } = batchOf(new Rng(10), QWEN2.vocabSize, 2, 6);
  adapter.zeroGrad();
  model.forward(tokens, targets, 2, 6);
  model.backward(new Float32Array(12).fill(-1 / 12));
  opt.update();
  assert.deepEqual(model.weights, baseBefore);
  for (const p of adapter.parameters()) assert.ok(p.data.some((x, i) => x !== adapterBefore[(p.data.byteOffset - adapter.weights.byteOffset) / 4 + i]), `${p.name} moved`);

  const adapted = Float32Array.from(model.forward(tokens, targets, 2, 6));
  const merged = new LlamaModel(QWEN2, new Arena(0), kernels, { trainable: false });
  merged.weights.set(model.weights);
  mergeAdapter(adapter, merged.parameters());
  const mergedLogp = merged.forward(tokens, targets, 2, 6);
  adapted.forEach((x, n) => assert.ok(Math.abs(x - mergedLogp[n]) < 2e-4, `position ${n}: ${x} vs merged ${mergedLogp[n]}`));
});

test('a frozen base with an adapter: arena bytes of a trainable model less the base gradient block', () => {
  const trainableArena = new Arena(0);
  new LlamaModel(LLAMA, trainableArena, kernels);
  const { model, adapter, arena } = makeAdapted(LLAMA, { rank: 2 });
  const adapterBytes = adapter.weights.byteLength + adapter.grads.byteLength;
  assert.equal(arena.usedBytes, trainableArena.usedBytes - model.weights.byteLength + adapterBytes);
});

test('wasm kernels: adapter log-probs and gradients are bit-identical for 1 and 3 threads', async () => {
  // Sizes at which the adapter's matmuls (rank 8 over 128 rows) are split over threads.
  const config = PRESETS.tiny;
  const { model: reference, adapter: source } = makeAdapted(config, { rank: 8 }, 13);
  const { tokens, targets } = batchOf(new Rng(14), config.vocabSize, 4, 32);
  const run = async (threads: number) => {
    const engine = await createEngine({ threads });
    try {
      const model = new LlamaModel(config, engine.arena, engine.kernels, { trainable: false });
      model.weights.set(reference.weights);
      const adapter = new LoraAdapter(config, engine.arena, { rank: 8 });
      adapter.weights.set(source.weights);
      model.attachAdapter(adapter);
      const logp = Float32Array.from(model.forward(tokens, targets, 4, 32));
      model.backward(Float32Array.from({ length: 128 }, (_, n) => Math.sin(n)));
      return { logp, grads: Float32Array.from(adapter.grads), parallelCalls: (engine.kernels as { parallelCalls?: number }).parallelCalls ?? 0 };
    } finally {
      await engine.kernels.dispose();
    }
  };
  const one = await run(1);
  const three = await run(3);
  assert.ok(three.parallelCalls > 50, `${three.parallelCalls} calls were split over threads`);
  assert.deepEqual(three.logp, one.logp);
  assert.deepEqual(three.grads, one.grads);
  assert.ok(one.grads.some((g) => g !== 0));
});
