// Per-layer activation checkpointing (LlamaModelOptions.recompute): the same gradients bit for bit as
// keeping every layer's activations, on the plain-JS and the threaded WebAssembly kernels, for full
// fine-tuning and for a LoRA adapter (whose recomputation must use the adapter the forward ran with),
// and a smaller arena.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { ModelConfig } from '../../src/engine/config.js';
import { FallbackKernels } from '../../src/engine/kernels/fallback.js';
import { createEngine, type Engine } from '../../src/engine/kernels/index.js';
import type { Kernels } from '../../src/engine/kernels/types.js';
import { LoraAdapter } from '../../src/engine/lora.js';
import { Arena } from '../../src/engine/memory.js';
import { LlamaModel } from '../../src/engine/model.js';
import { Rng } from '../../src/util/rng.js';
import { TINY_LLAMA_GQA } from '../helpers/llama-f64.js';

const CONFIG: ModelConfig = { ...TINY_LLAMA_GQA, headDim: 8, numHiddenLayers: 3, attentionBias: true, modelType: 'qwen2', tieWordEmbeddings: true };
const B = 2, T = 9;

let wasm: Engine;
before(async () => {
  wasm = await createEngine({ threads: 2 });
});
after(async () => {
  await wasm.kernels.dispose();
});

interface Run {
  logp: Float32Array;
  grads: Float32Array;
  adapterGrads: Float32Array | null;
  arenaBytes: number;
}

/** One forward and backward of a seeded model; `lora` trains an adapter on a frozen base instead. */
function run(kernels: Kernels, arena: Arena, recompute: boolean, lora: boolean): Run {
  const start = arena.mark();
  const model = new LlamaModel(CONFIG, arena, kernels, { recompute, trainable: !lora });
  const rng = new Rng(7);
  for (const p of model.parameters()) {
    for (let i = 0; i < p.data.length; i++) p.data[i] = p.name.endsWith('norm.weight') ? 1 + 0.2 * rng.normal() : 0.3 * rng.normal();
  }
  let adapter: LoraAdapter | null = null;
  if (lora) {
    adapter = new LoraAdapter(CONFIG, arena, { rank: 2, alpha: 4, targets: ['q', 'v', 'o', 'down'] });
    for (const p of adapter.parameters()) for (let i = 0; i < p.data.length; i++) p.data[i] = 0.3 * rng.normal();
    model.attachAdapter(adapter);
  }
  const tokens = Int32Array.from({ length: B * T }, () => rng.int(CONFIG.vocabSize));
  const targets = Int32Array.from({ length: B * T }, (_, n) => (n % 4 === 1 ? -1 : rng.int(CONFIG.vocabSize)));
  const logp = Float32Array.from(model.forward(tokens, targets, B, T));
  // The adapter switched off after the forward (as an RL reference pass would): backward, recomputation
  // included, must still differentiate the forward that ran with it.
  model.adapterEnabled = false;
  const dlogp = Float32Array.from({ length: B * T }, (_, n) => (n % 3) - 1.25);
  if (!lora) model.zeroGrad();
  model.backward(dlogp);
  return {
    logp,
    grads: Float32Array.from(model.grads),
    adapterGrads: adapter ? Float32Array.from(adapter.grads) : null,
    arenaBytes: arena.mark() - start, // mark() counts bytes
  };
}

function assertSameBits(a: Float32Array, b: Float32Array, what: string): void {
  assert.equal(a.length, b.length, what);
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) assert.fail(`${what}[${i}]: ${a[i]} vs ${b[i]}`);
}

for (const lora of [false, true]) {
  const label = lora ? 'LoRA on a frozen base' : 'full fine-tuning';
  test(`recompute, ${label}: bit-identical log-probs and gradients, plain-JS and wasm kernels`, () => {
    for (const [name, kernels, arena] of [['ts', new FallbackKernels(), () => new Arena(0)], ['wasm', wasm.kernels, () => wasm.arena]] as const) {
      const kept = run(kernels, arena(), false, lora);
      const redone = run(kernels, arena(), true, lora);
      assertSameBits(redone.logp, kept.logp, `${name} logp`);
      assertSameBits(redone.grads, kept.grads, `${name} grads`);
      if (lora) assertSameBits(redone.adapterGrads!, kept.adapterGrads!, `${name} adapter grads`);
      // A gradient that is all zeros would make the comparison vacuous.
      const g = lora ? kept.adapterGrads! : kept.grads;
      assert.ok(g.some((x) => x !== 0), `${name}: gradients are not all zero`);
    }
  });
}

test('recompute: the arena holds one layer of activations instead of L', () => {
  const kept = run(new FallbackKernels(), new Arena(0), false, false);
  const redone = run(new FallbackKernels(), new Arena(0), true, false);
  // Per layer the saved set is ln1, resMid, ln2 (C), q, att (nH*hd), k, v (nKv*hd), gate, up, h (I) per row
  // plus rstd1, rstd2, attLse (1 + 1 + nH): (L-1) such sets are saved.
  const { hiddenSize: C, intermediateSize: I, numAttentionHeads: nH, numKeyValueHeads: nKv, headDim: hd, numHiddenLayers: L } = CONFIG;
  const perRow = 3 * C + 2 * nH * hd + 2 * nKv * hd + 3 * I + 2 + nH;
  // Each of the 13 buffers of a set is rounded up to the arena's 64-byte alignment.
  const saved = kept.arenaBytes - redone.arenaBytes;
  const exact = (L - 1) * B * T * perRow * 4;
  assert.ok(saved >= exact && saved <= exact + (L - 1) * 13 * 64, `saved ${saved} bytes, expected ${exact} plus alignment`);
});
