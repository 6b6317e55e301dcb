// The 152k vocabulary and activation checkpointing at the Qwen2.5-0.5B shape (hidden 896, intermediate
// 4864, 14 / 2 heads of 64, vocab 151,936, tied embeddings, q/k/v bias; random weights), peers measured in
// the same run on the same engine:
// 1. The LM head alone over N rows, forward + backward: the chunked head (src/engine/head.ts) against the
//    full-logits head it replaced (one (N, V) matmul, logSoftmaxGather, logSoftmaxGatherBackward in place,
//    two matmuls), with the scratch each needs.
// 2. A training step (forward + backward) of an L-layer model with `recompute` false and true: time and
//    the arena bytes of its activation buffers.
// Prints JSON lines. Run alone (it loads every core): node dist/bench/vocab.js [--layers 2] [--batch 4]
// [--seq 256] [--threads N] [--reps 3] [--chunk 1024: vocabulary rows per head chunk] [--head-only]
import { parseArgs } from 'node:util';
import type { ModelConfig } from '../src/engine/config.js';
import { allocHeadScratch, HEAD_CHUNK, headBackward, headForward } from '../src/engine/head.js';
import { createEngine, type Engine } from '../src/engine/kernels/index.js';
import { LlamaModel } from '../src/engine/model.js';
import { Rng } from '../src/util/rng.js';

const { values } = parseArgs({ options: { layers: { type: 'string', default: '2' }, batch: { type: 'string', default: '4' }, seq: { type: 'string', default: '256' }, threads: { type: 'string' }, reps: { type: 'string', default: '3' }, chunk: { type: 'string', default: String(HEAD_CHUNK) }, 'head-only': { type: 'boolean', default: false } } });
const L = Number(values.layers), B = Number(values.batch), T = Number(values.seq), REPS = Number(values.reps);
const N = B * T;
const QWEN_05B: ModelConfig = {
  modelType: 'qwen2',
  vocabSize: 151936,
  hiddenSize: 896,
  intermediateSize: 4864,
  numHiddenLayers: L,
  numAttentionHeads: 14,
  numKeyValueHeads: 2,
  headDim: 64,
  maxPositionEmbeddings: 4096,
  rmsNormEps: 1e-6,
  ropeTheta: 1000000,
  attentionBias: true,
  tieWordEmbeddings: true,
};

/** Median wall milliseconds of `REPS` calls after one warm-up. */
function medianMs(fn: () => void): number {
  fn();
  const times: number[] = [];
  for (let r = 0; r < REPS; r++) {
    const t0 = performance.now();
    fn();
    times.push(performance.now() - t0);
  }
  return times.sort((a, b) => a - b)[Math.floor(times.length / 2)];
}

function fill(x: Float32Array, rng: Rng, scale: number): void {
  for (let i = 0; i < x.length; i++) x[i] = scale * rng.normal();
}

function benchHead(e: Engine): void {
  const { vocabSize: V, hiddenSize: C } = QWEN_05B;
  const k = e.kernels, arena = e.arena, rng = new Rng(1);
  const mark = arena.mark();
  const hidden = arena.allocF32(N * C), W = arena.allocF32(V * C), dW = arena.allocF32(V * C), dh = arena.allocF32(N * C);
  fill(hidden, rng, 1);
  fill(W, rng, 0.02);
  const targets = arena.allocI32(N);
  for (let n = 0; n < N; n++) targets[n] = rng.int(V);
  const dlogp = arena.allocF32(N).fill(-1 / N), logp = arena.allocF32(N), lse = arena.allocF32(N), entropy = arena.allocF32(N);

  const s = allocHeadScratch(arena, N, V, Number(values.chunk));
  const chunked = medianMs(() => {
    headForward(k, s, { logp, lse, entropy }, hidden, W, targets, N, V, C);
    headBackward(k, s, dh, dW, dlogp, hidden, W, lse, targets, N, V, C);
  });
  console.log(JSON.stringify({ name: 'head-chunked', N, V, chunk: s.chunk, ms: chunked, scratchBytes: s.logits.byteLength, threads: k.threads }));

  const logits = arena.allocF32(N * V);
  const full = medianMs(() => {
    k.matmul(logits, hidden, W, N, V, C, 'nt', false);
    k.logSoftmaxGather(logp, lse, logits, targets, N, V);
    k.logSoftmaxGatherBackward(logits, dlogp, logits, lse, targets, N, V);
    k.matmul(dh, logits, W, N, C, V, 'nn', false);
    k.matmul(dW, logits, hidden, V, C, N, 'tn', true);
  });
  console.log(JSON.stringify({ name: 'head-full-logits', N, V, ms: full, scratchBytes: logits.byteLength, threads: k.threads, chunkedOverFull: chunked / full }));
  arena.release(mark);
}

function benchStep(e: Engine, recompute: boolean): void {
  const arena = e.arena, rng = new Rng(2);
  const mark = arena.mark();
  const model = new LlamaModel(QWEN_05B, arena, e.kernels, { recompute });
  model.initRandom(rng);
  const tokens = Int32Array.from({ length: N }, () => rng.int(QWEN_05B.vocabSize));
  const targets = Int32Array.from({ length: N }, () => rng.int(QWEN_05B.vocabSize));
  const dlogp = new Float32Array(N).fill(-1 / N);
  const beforeActivations = arena.mark();
  model.forward(tokens, targets, B, T);
  const activationBytes = arena.mark() - beforeActivations;
  model.backward(dlogp);
  const ms = medianMs(() => {
    model.forward(tokens, targets, B, T);
    model.backward(dlogp);
  });
  console.log(JSON.stringify({ name: 'train-step', layers: L, B, T, recompute, ms, activationBytes, rssBytes: process.memoryUsage().rss, threads: e.kernels.threads }));
  arena.release(mark);
}

const engine = await createEngine(values.threads ? { threads: Number(values.threads) } : {});
try {
  benchHead(engine);
  if (!values['head-only']) {
    benchStep(engine, false);
    benchStep(engine, true);
  }
} finally {
  await engine.kernels.dispose();
}
