/**
 * The native provider (matmuls on onnxruntime-node's MLAS) against the WebAssembly provider, measured in
 * one run on the same threads: matmul GFLOP/s at the Qwen2.5-0.5B shapes (forward, dx and dW of the MLP
 * and attention projections), then the median time of a full training step (forward, backward, AdamW) of
 * a 0.5B-shaped model cut to --layers layers on a (batch, seq) batch of random tokens. Prints JSON lines.
 *
 *   node dist/bench/native.js [--threads 2] [--layers 4] [--batch 4] [--seq 256] [--iters 3]
 *   node dist/bench/native.js --quick      # a small shape for a smoke run (vocab 32k, 2 layers, 2x128)
 *
 * Run it alone on the machine: the two providers are timed alternately, but other load still skews both.
 */
import { parseArgs } from 'node:util';
import type { ModelConfig } from '../src/engine/config.js';
import { createEngine, type Engine } from '../src/engine/kernels/index.js';
import type { MatmulLayout } from '../src/engine/kernels/types.js';
import { LlamaModel } from '../src/engine/model.js';
import { AdamW } from '../src/engine/optim.js';
import { Rng } from '../src/util/rng.js';

const { values } = parseArgs({
  options: {
    threads: { type: 'string', default: '2' },
    layers: { type: 'string', default: '4' },
    batch: { type: 'string', default: '4' },
    seq: { type: 'string', default: '256' },
    iters: { type: 'string', default: '3' },
    quick: { type: 'boolean', default: false },
  },
});
const quick = values.quick;
const threads = Number(values.threads);
const layers = quick ? 2 : Number(values.layers);
const B = quick ? 2 : Number(values.batch), T = quick ? 128 : Number(values.seq);
const iters = Number(values.iters);

// Qwen2.5-0.5B (config.json of the HF release), random weights.
const QWEN05B: ModelConfig = {
  modelType: 'qwen2',
  vocabSize: quick ? 32000 : 151936,
  hiddenSize: 896,
  intermediateSize: 4864,
  numHiddenLayers: layers,
  numAttentionHeads: 14,
  numKeyValueHeads: 2,
  headDim: 64,
  maxPositionEmbeddings: 32768,
  rmsNormEps: 1e-6,
  ropeTheta: 1000000,
  attentionBias: true,
  tieWordEmbeddings: true,
};

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Median seconds per call over 5 batches of calls, each batch at least ~100 ms. */
function secondsPerCall(fn: () => void): number {
  fn();
  let reps = 1;
  for (;;) {
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) fn();
    if (performance.now() - t0 > 100) break;
    reps *= 2;
  }
  const batches: number[] = [];
  for (let b = 0; b < 5; b++) {
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) fn();
    batches.push((performance.now() - t0) / 1000 / reps);
  }
  return median(batches);
}

const ROWS = 1024, C = 896, I = 4864;
const MATMULS: Array<{ what: string; layout: MatmulLayout; M: number; N: number; K: number }> = [
  { what: 'gate/up fwd', layout: 'nt', M: ROWS, N: I, K: C },
  { what: 'down fwd', layout: 'nt', M: ROWS, N: C, K: I },
  { what: 'q/o fwd', layout: 'nt', M: ROWS, N: C, K: C },
  { what: 'gate/up dx', layout: 'nn', M: ROWS, N: C, K: I },
  { what: 'gate/up dW', layout: 'tn', M: I, N: C, K: ROWS },
];

function benchMatmuls(engines: Record<string, Engine>): void {
  for (const { what, layout, M, N, K } of MATMULS) {
    const gflops: Record<string, number> = {};
    for (const [name, { arena, kernels }] of Object.entries(engines)) {
      const mark = arena.mark();
      const a = arena.allocF32(M * K), b = arena.allocF32(N * K), out = arena.allocF32(M * N);
      for (let i = 0; i < a.length; i++) a[i] = Math.sin(i * 0.37) * 0.5;
      for (let i = 0; i < b.length; i++) b[i] = Math.cos(i * 0.11) * 0.5;
      gflops[name] = (2 * M * N * K) / secondsPerCall(() => kernels.matmul(out, a, b, M, N, K, layout, true)) / 1e9;
      arena.release(mark);
    }
    console.log(JSON.stringify({ name: 'matmul', what, layout, M, N, K, threads, gflops_wasm: +gflops.wasm.toFixed(1), gflops_native: +gflops.native.toFixed(1), speedup: +(gflops.native / gflops.wasm).toFixed(2) }));
  }
}

/** A training step closure on `engine` with the same random weights and batch for every provider. */
function trainStep(engine: Engine): () => void {
  const rng = new Rng(0);
  const model = new LlamaModel(QWEN05B, engine.arena, engine.kernels);
  model.initRandom(rng);
  const opt = new AdamW(model, engine.arena, engine.kernels, { lr: 1e-5 });
  const N = B * T;
  const tokens = Int32Array.from({ length: N }, () => rng.int(QWEN05B.vocabSize));
  const targets = Int32Array.from({ length: N }, () => rng.int(QWEN05B.vocabSize));
  const dlogp = new Float32Array(N).fill(-1 / N);
  return () => {
    model.zeroGrad();
    model.forward(tokens, targets, B, T);
    model.backward(dlogp);
    opt.update();
  };
}

const engines = {
  wasm: await createEngine({ provider: 'wasm', threads }),
  native: await createEngine({ provider: 'native', threads }),
};
console.log(JSON.stringify({ name: 'providers', wasm: engines.wasm.kernels.name, native: engines.native.kernels.name }));
benchMatmuls(engines);

// One model per engine (each engine has its own 4 GiB memory); the steps alternate so that outside load
// falls on both alike. The first step of each allocates activations and builds sessions: not timed.
const steps = { wasm: trainStep(engines.wasm), native: trainStep(engines.native) };
steps.wasm();
steps.native();
const ms: Record<string, number[]> = { wasm: [], native: [] };
for (let i = 0; i < iters; i++) {
  for (const name of ['wasm', 'native'] as const) {
    const t0 = performance.now();
    steps[name]();
    ms[name].push(performance.now() - t0);
  }
}
const [wasmMs, nativeMs] = [median(ms.wasm), median(ms.native)];
console.log(JSON.stringify({
  name: 'train-step', layers, batch: `${B}x${T}`, vocab: QWEN05B.vocabSize, threads,
  ms_wasm: +wasmMs.toFixed(0), ms_native: +nativeMs.toFixed(0), native_over_wasm: +(nativeMs / wasmMs).toFixed(2),
  rss_gib: +(process.memoryUsage().rss / 2 ** 30).toFixed(2),
}));
await engines.wasm.kernels.dispose();
await engines.native.kernels.dispose();
