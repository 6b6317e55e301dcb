// The Llama/Qwen2 model against an independent float64 implementation written in this file: log-probs,
// whole-model gradients (finite differences), KV-cache sampling vs teacher forcing, the optimiser, memory.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ModelConfig } from '../../src/engine/config.js';
import { FallbackKernels } from '../../src/engine/kernels/fallback.js';
import { Arena } from '../../src/engine/memory.js';
import { LlamaModel } from '../../src/engine/model.js';
import { AdamW, clipGradNorm, constantSchedule, warmupCosineSchedule } from '../../src/engine/optim.js';
import { generate, scoreSequences, scoreSequencesWithEntropy } from '../../src/engine/sampler.js';
import { Rng } from '../../src/util/rng.js';
import { TINY_LLAMA_GQA, paramsOf, referenceLogits, referenceLogp } from '../helpers/llama-f64.js';

const kernels = new FallbackKernels();

const LLAMA_GQA = TINY_LLAMA_GQA;

const QWEN2_TIED: ModelConfig = {
  ...LLAMA_GQA,
  modelType: 'qwen2',
  numAttentionHeads: 2,
  numKeyValueHeads: 1,
  headDim: 8,
  rmsNormEps: 1e-6,
  ropeTheta: 1000,
  attentionBias: true,
  tieWordEmbeddings: true,
};

// HF LlamaAttention with attention_bias: biases on q/k/v AND o_proj (Qwen2 has none on o_proj).
const LLAMA_BIAS: ModelConfig = { ...LLAMA_GQA, attentionBias: true };

/** A model with weights large enough that every path carries a visible signal (std 0.3, norms ~1, biases ~0.1). */
function makeModel(config: ModelConfig, seed = 1): { model: LlamaModel; arena: Arena } {
  const arena = new Arena(0);
  const model = new LlamaModel(config, arena, kernels);
  const rng = new Rng(seed);
  for (const p of model.parameters()) {
    for (let i = 0; i < p.data.length; i++) {
      if (p.name.endsWith('norm.weight')) p.data[i] = 1 + 0.2 * rng.normal();
      else if (p.name.endsWith('.bias')) p.data[i] = 0.1 * rng.normal();
      else p.data[i] = 0.3 * rng.normal();
    }
  }
  return { model, arena };
}

function batchOf(rng: Rng, V: number, B: number, T: number): { tokens: Int32Array; targets: Int32Array } {
  const tokens = Int32Array.from({ length: B * T }, () => rng.int(V));
  const targets = Int32Array.from({ length: B * T }, (_, n) => (n % 5 === 3 ? -1 : rng.int(V)));
  return { tokens, targets };
}

const seqOf = (a: Int32Array, b: number, T: number) => Array.from(a.subarray(b * T, (b + 1) * T));

for (const [label, config] of [['llama GQA untied', LLAMA_GQA], ['qwen2 bias tied', QWEN2_TIED], ['llama attention_bias', LLAMA_BIAS]] as const) {
  test(`${label}: parameter names, and log-probs equal the float64 reference forward`, () => {
    const { model } = makeModel(config);
    const names = model.parameters().map((p) => p.name);
    assert.equal(names.includes('lm_head.weight'), !config.tieWordEmbeddings);
    assert.equal(names.includes('model.layers.1.self_attn.k_proj.bias'), config.attentionBias);
    assert.equal(names.includes('model.layers.1.self_attn.o_proj.bias'), config.attentionBias && config.modelType === 'llama');
    assert.ok(names.includes('model.layers.1.mlp.down_proj.weight') && names.includes('model.norm.weight'));
    const B = 2, T = 7;
    const { tokens, targets } = batchOf(new Rng(3), config.vocabSize, B, T);
    const logp = model.forward(tokens, targets, B, T);
    const P = paramsOf(model);
    for (let b = 0; b < B; b++) {
      const expected = referenceLogp(config, P, seqOf(tokens, b, T), seqOf(targets, b, T));
      expected.forEach((e, t) => assert.ok(Math.abs(logp[b * T + t] - e) < 1e-5, `b=${b} t=${t}: ${logp[b * T + t]} vs ${e}`));
    }
    // Entropy from the same forward, against the reference logits.
    const entropy = model.entropy();
    const z = referenceLogits(config, P, seqOf(tokens, 1, T))[4];
    const lse = Math.log(z.reduce((s, zi) => s + Math.exp(zi), 0));
    const H = -z.reduce((s, zi) => s + Math.exp(zi - lse) * (zi - lse), 0);
    assert.ok(Math.abs(entropy[T + 4] - H) < 1e-5, `entropy ${entropy[T + 4]} vs ${H}`);
  });

  test(`${label}: backward matches float64 finite differences on sampled parameters`, () => {
    const { model } = makeModel(config, 2);
    const B = 2, T = 5;
    const rng = new Rng(4);
    const { tokens, targets } = batchOf(rng, config.vocabSize, B, T);
    const dlogp = Float32Array.from({ length: B * T }, () => rng.normal());
    model.zeroGrad();
    model.forward(tokens, targets, B, T);
    model.backward(dlogp);
    const P = paramsOf(model);
    const loss = () => {
      let s = 0;
      for (let b = 0; b < B; b++) referenceLogp(config, P, seqOf(tokens, b, T), seqOf(targets, b, T)).forEach((lp, t) => (s += dlogp[b * T + t] * lp));
      return s;
    };
    const h = 1e-5;
    let checked = 0;
    for (const p of model.parameters()) {
      const x = P.get(p.name)!;
      // Embedding rows of tokens that occur, plus random entries, so the scatter-add is exercised.
      const picks = p.name === 'model.embed_tokens.weight' ? [tokens[0] * config.hiddenSize, tokens[3] * config.hiddenSize + 5, rng.int(x.length)] : [rng.int(x.length), rng.int(x.length)];
      for (const i of picks) {
        const saved = x[i];
        x[i] = saved + h;
        const plus = loss();
        x[i] = saved - h;
        const minus = loss();
        x[i] = saved;
        const numeric = (plus - minus) / (2 * h);
        const err = Math.abs(p.grad[i] - numeric);
        assert.ok(err <= 2e-4 + 2e-3 * Math.abs(numeric), `${p.name}[${i}]: grad ${p.grad[i]} vs numeric ${numeric}`);
        checked++;
      }
    }
    assert.ok(checked >= 20);
  });

  test(`${label}: KV-cache sampling log-probs equal teacher-forced scoring; greedy equals argmax`, () => {
    const { model } = makeModel(config, 5);
    const rng = new Rng(6);
    // One prompt longer than a prefill chunk, so chunked prefill is exercised.
    const prompts = [[1, 2, 3], Array.from({ length: 131 }, () => rng.int(config.vocabSize)), [4, 0, 9, 9, 2]];
    const sampled = generate(model, prompts, { maxNewTokens: 6, temperature: 1, rng: new Rng(7) });
    const scored = scoreSequences(model, prompts.map((p, b) => [...p, ...sampled[b].tokens]), { batchSize: 2 });
    sampled.forEach((r, b) => {
      assert.equal(r.tokens.length, 6);
      assert.equal(r.finishReason, 'length');
      const tail = scored[b].slice(prompts[b].length - 1);
      r.logprobs.forEach((lp, t) => assert.ok(Math.abs(lp - tail[t]) < 2e-5, `seq ${b} token ${t}: ${lp} vs ${tail[t]}`));
      r.samplingLogprobs.forEach((lp, t) => assert.ok(Math.abs(lp - r.logprobs[t]) < 1e-6, 'temperature 1 without filtering samples the model'));
    });

    const greedy = generate(model, prompts, { maxNewTokens: 5, temperature: 0, rng: new Rng(0) });
    greedy.forEach((r, b) => {
      const seq = [...prompts[b], ...r.tokens];
      const T = seq.length - 1;
      model.forward(Int32Array.from(seq.slice(0, T)), new Int32Array(T).fill(-1), 1, T);
      const logits = model.logits();
      const V = config.vocabSize;
      r.tokens.forEach((tok, i) => {
        const row = logits.subarray((prompts[b].length - 1 + i) * V, (prompts[b].length + i) * V);
        assert.equal(tok, row.indexOf(Math.max(...row)), `seq ${b} step ${i}`);
      });
      assert.deepEqual(r.samplingLogprobs, [0, 0, 0, 0, 0]);
    });
  });
}

test('sampling with one Rng per prompt: a sequence does not depend on its batch mates', () => {
  const { model } = makeModel(LLAMA_GQA, 9);
  const opts = { maxNewTokens: 7, temperature: 1, topP: 0.9 };
  const alone = generate(model, [[2, 3]], { ...opts, rngs: [new Rng(21)] });
  const together = generate(model, [[1], [2, 3], [5, 6, 7]], { ...opts, rngs: [new Rng(20), new Rng(21), new Rng(22)] });
  assert.deepEqual(together[1], alone[0]);
  assert.throws(() => generate(model, [[1], [2]], { ...opts, rngs: [new Rng(1)] }), /one Rng per prompt/);
});

test('sampling: same seed gives the same samples; top-k / temperature log-probs match a direct computation', () => {
  const { model } = makeModel(LLAMA_GQA, 8);
  const prompts = [[1], [2, 3, 4], [5, 6]];
  const opts = { maxNewTokens: 8, temperature: 0.7, topK: 3 };
  const a = generate(model, prompts, { ...opts, rng: new Rng(11) });
  const b = generate(model, prompts, { ...opts, rng: new Rng(11) });
  assert.deepEqual(a, b);
  const c = generate(model, prompts, { ...opts, rng: new Rng(12) });
  assert.notDeepEqual(a.map((r) => r.tokens), c.map((r) => r.tokens));

  const V = LLAMA_GQA.vocabSize;
  a.forEach((r, s) => {
    const seq = [...prompts[s], ...r.tokens];
    const T = seq.length - 1;
    model.forward(Int32Array.from(seq.slice(0, T)), new Int32Array(T).fill(-1), 1, T);
    const logits = model.logits();
    r.tokens.forEach((tok, i) => {
      const z = Array.from(logits.subarray((prompts[s].length - 1 + i) * V, (prompts[s].length + i) * V));
      const top = z.map((zi, j) => [zi, j]).sort((x, y) => y[0] - x[0]).slice(0, 3);
      assert.ok(top.some(([, j]) => j === tok), 'sampled token is in the top 3');
      const m = top[0][0];
      const mass = top.reduce((acc, [zi]) => acc + Math.exp((zi - m) / 0.7), 0);
      const expected = (z[tok] - m) / 0.7 - Math.log(mass);
      assert.ok(Math.abs(r.samplingLogprobs[i] - expected) < 1e-5, `${r.samplingLogprobs[i]} vs ${expected}`);
    });
  });
});

test('sampling: stop tokens and stop strings end a sequence with finishReason "stop"', () => {
  const { model } = makeModel(LLAMA_GQA, 9);
  const free = generate(model, [[1, 2]], { maxNewTokens: 12, rng: new Rng(3) })[0];
  const stopAt = free.tokens[4];
  const first = free.tokens.indexOf(stopAt);
  const stopped = generate(model, [[1, 2]], { maxNewTokens: 12, rng: new Rng(3), stopTokens: [stopAt] })[0];
  assert.deepEqual(stopped.tokens, free.tokens.slice(0, first + 1));
  assert.equal(stopped.finishReason, 'stop');

  const decode = (ids: number[]) => ids.map((id) => String.fromCharCode(97 + id)).join('');
  const needle = decode(free.tokens.slice(2, 4));
  const byString = generate(model, [[1, 2]], { maxNewTokens: 12, rng: new Rng(3), stopStrings: [needle], decode })[0];
  assert.ok(decode(byString.tokens).includes(needle) && !decode(byString.tokens.slice(0, -1)).includes(needle));
  assert.equal(byString.finishReason, 'stop');
  assert.throws(() => generate(model, [[1]], { maxNewTokens: 2, rng: new Rng(1), stopStrings: ['x'] }), /decode/);
  assert.throws(() => generate(model, [[1, 99]], { maxNewTokens: 2, rng: new Rng(1) }), /prompts\[0\]\[1\]/);
});

test('scoring with entropy: padding does not change a sequence\'s numbers', () => {
  const { model } = makeModel(QWEN2_TIED, 10);
  const seqs = [[1, 2, 3, 4, 5, 6, 7], [3, 1], [8], [2, 2, 2, 9]];
  const together = scoreSequencesWithEntropy(model, seqs, { batchSize: 4 });
  seqs.forEach((seq, i) => {
    const alone = scoreSequencesWithEntropy(model, [seq]);
    assert.deepEqual(together.logprobs[i], alone.logprobs[0]);
    assert.deepEqual(together.entropies[i], alone.entropies[0]);
    assert.equal(together.logprobs[i].length, Math.max(0, seq.length - 1));
  });
  assert.ok(together.entropies[0].every((h) => h > 0 && h <= Math.log(QWEN2_TIED.vocabSize) + 1e-6));
});

/** SFT loss = -mean logp over valid positions; returns the loss and fills dlogp. */
function sftLoss(logp: Float32Array, targets: Int32Array, dlogp: Float32Array): number {
  let count = 0, sum = 0;
  targets.forEach((t) => (count += t >= 0 ? 1 : 0));
  for (let n = 0; n < targets.length; n++) {
    dlogp[n] = targets[n] >= 0 ? -1 / count : 0;
    if (targets[n] >= 0) sum -= logp[n];
  }
  return sum / count;
}

test('AdamW: one step equals a float64 AdamW; a few steps memorise a sequence; memory stays flat', () => {
  const { model, arena } = makeModel(QWEN2_TIED, 12);
  const opt = new AdamW(model, arena, kernels, { lr: 1e-2, weightDecay: 0.1 });
  const seq = [1, 5, 2, 8, 3, 3, 7, 0, 4];
  const T = seq.length - 1;
  const tokens = Int32Array.from(seq.slice(0, T)), targets = Int32Array.from(seq.slice(1));
  const dlogp = new Float32Array(T);

  model.zeroGrad();
  const firstLoss = sftLoss(model.forward(tokens, targets, 1, T), targets, dlogp);
  model.backward(dlogp);
  const before = model.parameters().map((p) => ({ name: p.name, ndim: p.shape.length, w: Float64Array.from(p.data), g: Float64Array.from(p.grad) }));
  opt.update();
  model.parameters().forEach((p, i) => {
    const { w, g, ndim } = before[i];
    const wd = ndim >= 2 ? 0.1 : 0; // norms and biases are not decayed
    for (let j = 0; j < w.length; j += 7) {
      // Step 1: m̂ = g, v̂ = g², so the update is lr · (g / (|g| + eps) + wd · w).
      const expected = w[j] - 1e-2 * (g[j] / (Math.abs(g[j]) + 1e-8) + wd * w[j]);
      assert.ok(Math.abs(p.data[j] - expected) < 1e-6, `${p.name}[${j}]: ${p.data[j]} vs ${expected}`);
    }
  });

  const used = arena.usedBytes;
  let loss = firstLoss;
  for (let step = 0; step < 40; step++) {
    model.zeroGrad();
    loss = sftLoss(model.forward(tokens, targets, 1, T), targets, dlogp);
    model.backward(dlogp);
    opt.update();
    generate(model, [[1, 5]], { maxNewTokens: 3, rng: new Rng(step) });
    scoreSequences(model, [seq]);
  }
  assert.ok(firstLoss > 1.5 && loss < 0.1, `loss ${firstLoss} -> ${loss}`);
  const afterFirstSample = arena.usedBytes;
  for (let step = 0; step < 3; step++) {
    model.zeroGrad();
    model.forward(tokens, targets, 1, T);
    model.backward(dlogp);
    opt.update();
    generate(model, [[1, 5]], { maxNewTokens: 3, rng: new Rng(step) });
  }
  assert.equal(arena.usedBytes, afterFirstSample, 'no growth across repeated steps of the same shape');
  assert.ok(afterFirstSample >= used);

  // Checkpoint round trip of the optimiser state.
  const saved = opt.state();
  const other = new AdamW(model, arena, kernels, { lr: 1e-2 });
  other.load(saved);
  assert.deepEqual(other.state(), saved);
});

test('clipGradNorm returns the float64 global norm and scales gradients down to maxNorm', () => {
  const { model } = makeModel(LLAMA_GQA, 13);
  const B = 2, T = 4;
  const { tokens, targets } = batchOf(new Rng(1), LLAMA_GQA.vocabSize, B, T);
  model.zeroGrad();
  model.forward(tokens, targets, B, T);
  model.backward(new Float32Array(B * T).fill(1));
  let ss = 0;
  for (const g of model.grads) ss += g * g;
  const norm = Math.sqrt(ss);
  const before = Float64Array.from(model.grads);
  assert.ok(Math.abs(clipGradNorm(kernels, [model.grads], norm / 4) - norm) < 1e-9 * norm);
  let after = 0;
  for (const g of model.grads) after += g * g;
  assert.ok(Math.abs(Math.sqrt(after) - norm / 4) < 1e-5 * norm);
  assert.ok(Math.abs(model.grads[5] - before[5] / 4) <= 1e-6 * Math.abs(before[5]) + 1e-12);
  const unclipped = Float32Array.from(model.grads);
  clipGradNorm(kernels, [model.grads], norm);
  assert.deepEqual(model.grads, unclipped);
});

test('schedules: constant and warmup-cosine hit their hand-worked values', () => {
  assert.equal(constantSchedule()(123), 1);
  const s = warmupCosineSchedule(10, 110, 0.1);
  assert.equal(s(0), 0.1);
  assert.equal(s(9), 1);
  assert.equal(s(10), 1);
  assert.ok(Math.abs(s(60) - 0.55) < 1e-12); // halfway: 0.1 + 0.9 · 0.5
  assert.equal(s(110), 0.1);
  assert.equal(s(500), 0.1);
  assert.throws(() => warmupCosineSchedule(1, 0, 0.1), /warmupCosineSchedule/);
});

test('frozen model: no gradient block (about half the arena bytes), identical log-probs, backward and AdamW refuse', () => {
  const trainable = makeModel(LLAMA_GQA, 8);
  const frozenArena = new Arena(0);
  const frozen = new LlamaModel(LLAMA_GQA, frozenArena, kernels, { trainable: false });
  frozen.weights.set(trainable.model.weights);
  const weightBytes = trainable.model.weights.byteLength;
  assert.equal(trainable.arena.usedBytes - frozenArena.usedBytes, weightBytes, 'the difference is exactly the gradient block');
  const ratio = frozenArena.usedBytes / trainable.arena.usedBytes;
  assert.ok(ratio > 0.5 && ratio < 0.6, `frozen/trainable arena bytes ${ratio}`);
  const { tokens, targets } = batchOf(new Rng(9), LLAMA_GQA.vocabSize, 2, 6);
  const expected = Float32Array.from(trainable.model.forward(tokens, targets, 2, 6));
  assert.deepEqual(frozen.forward(tokens, targets, 2, 6), expected);
  assert.throws(() => frozen.backward(new Float32Array(12)), /frozen/);
  assert.throws(() => new AdamW(frozen, frozenArena, kernels, { lr: 1e-3 }), /frozen/);
});
