/**
 * Pre-packed constant weights on the native provider (issue 15 item 2): a matmul whose B is marked
 * constant (`kernels.markConstant`) runs on a session holding B as an initializer that onnxruntime packed
 * once at load, against today's per-call path (B copied out of the shared memory and packed by MLAS on
 * every call). Prints JSON lines:
 *
 * - `matmul`: ms per call of both paths, in one process on the same tensors, timed alternately, at the
 *   Qwen2.5-0.5B projection shapes (C 896, I 4864, q/o 896, k/v 128) for M = 1..8 decode rows (where
 *   the per-call path is wasm), 16..128 prefill rows and 1024 training rows, the first packed call (which
 *   packs B), and how many output floats differ between the paths and by how much. 'gate dx' ('nn') is
 *   not pre-packed by the provider (see PACKED_LAYOUTS in native.ts): its two columns show that.
 * - `sample`: tokens/s of `generate` (8 random prompts of 32 ids, 32 new ids, temperature 1) on two
 *   frozen 0.5B-shaped models cut to --sample-layers layers, one marked with `markFrozenWeights` and one
 *   not, in one engine, timed in turns after a first (packing) run each.
 * - `memory`: one child process per path, which builds a 0.5B-shaped layer stack (--layers) of weights
 *   and runs every projection once forward (nt) and, with --backward, once backward to the input (nn),
 *   then reports RSS and peak RSS (VmHWM), and for the packed path the RSS per byte of marked weight.
 *
 *   node --expose-gc dist/bench/native-prepack.js [--threads 2] [--layers 4] [--backward] [--sample-layers 2] [--quick]
 *
 * Run it alone on the machine: both paths are timed in turns, but other load still skews both.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { timeSampling } from '../src/cli/bench-model.js';
import type { ModelConfig } from '../src/engine/config.js';
import { markFrozenWeights } from '../src/engine/io.js';
import { createEngine, type Engine } from '../src/engine/kernels/index.js';
import { LlamaModel } from '../src/engine/model.js';
import { Rng } from '../src/util/rng.js';
import { MIN_NATIVE_ROWS } from '../src/engine/kernels/native.js';
import type { MatmulLayout } from '../src/engine/kernels/types.js';

const { values } = parseArgs({
  options: {
    threads: { type: 'string', default: '2' },
    layers: { type: 'string', default: '4' },
    backward: { type: 'boolean', default: false },
    'sample-layers': { type: 'string', default: '2' },
    quick: { type: 'boolean', default: false },
    // Internal: run one memory measurement ('percall' or 'packed') and print its JSON line.
    'memory-child': { type: 'string' },
  },
});
const threads = Number(values.threads);
const layers = Number(values.layers);

const C = 896, I = 4864, Q = 896, KV = 128;
/** The projections of one 0.5B layer as (out, in): forward is nt with N = out, K = in. */
const PROJECTIONS: Array<{ what: string; out: number; inDim: number }> = [
  { what: 'q', out: Q, inDim: C },
  { what: 'k', out: KV, inDim: C },
  { what: 'v', out: KV, inDim: C },
  { what: 'o', out: C, inDim: Q },
  { what: 'gate', out: I, inDim: C },
  { what: 'up', out: I, inDim: C },
  { what: 'down', out: C, inDim: I },
];

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const peakRssMib = (): number => Number(/VmHWM:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? NaN) / 1024;
const rssMib = (): number => process.memoryUsage().rss / 2 ** 20;
const gc = (globalThis as { gc?: () => void }).gc;

function fill(t: Float32Array, phase: number): void {
  for (let i = 0; i < t.length; i++) t[i] = Math.sin(i * 0.37 + phase) * 0.5;
}

/** Median ms per call of each closure, timed in turns (batches of >= ~50 ms each, 5 rounds). */
function msPerCall(fns: Record<string, () => void>): Record<string, number> {
  const names = Object.keys(fns);
  for (const n of names) fns[n]();
  const reps: Record<string, number> = {};
  for (const n of names) {
    reps[n] = 1;
    for (;;) {
      const t0 = performance.now();
      for (let i = 0; i < reps[n]; i++) fns[n]();
      if (performance.now() - t0 > 50) break;
      reps[n] *= 2;
    }
  }
  const samples: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
  for (let round = 0; round < 5; round++) {
    for (const n of names) {
      const t0 = performance.now();
      for (let i = 0; i < reps[n]; i++) fns[n]();
      samples[n].push((performance.now() - t0) / reps[n]);
    }
  }
  return Object.fromEntries(names.map((n) => [n, median(samples[n])]));
}

/** Both paths at one shape: b is copied into a second tensor that is marked constant. */
function benchShape(engine: Engine, what: string, layout: MatmulLayout, M: number, N: number, K: number): void {
  const { arena, kernels } = engine;
  const mark = arena.mark();
  const a = arena.allocF32(M * K), bPerCall = arena.allocF32(N * K), bPacked = arena.allocF32(N * K);
  const outPerCall = arena.allocF32(M * N), outPacked = arena.allocF32(M * N);
  fill(a, 1);
  fill(bPerCall, 2);
  bPacked.set(bPerCall);
  kernels.markConstant!(bPacked);
  const t0 = performance.now();
  kernels.matmul(outPacked, a, bPacked, M, N, K, layout, false); // packs B
  const firstMs = performance.now() - t0;
  const ms = msPerCall({
    percall: () => kernels.matmul(outPerCall, a, bPerCall, M, N, K, layout, false),
    packed: () => kernels.matmul(outPacked, a, bPacked, M, N, K, layout, false),
  });
  let differing = 0, maxAbs = 0, maxOut = 0;
  for (let i = 0; i < M * N; i++) {
    if (outPerCall[i] !== outPacked[i]) differing++;
    maxAbs = Math.max(maxAbs, Math.abs(outPerCall[i] - outPacked[i]));
    maxOut = Math.max(maxOut, Math.abs(outPerCall[i]));
  }
  kernels.unmarkConstant!(bPacked);
  arena.release(mark);
  console.log(JSON.stringify({
    name: 'matmul', what, layout, M, N, K, threads, percall_on: M < MIN_NATIVE_ROWS ? 'wasm' : 'mlas',
    ms_percall: +ms.percall.toFixed(3), ms_packed: +ms.packed.toFixed(3), ms_first_packed: +firstMs.toFixed(1), packed_speedup: +(ms.percall / ms.packed).toFixed(2),
    gflops_packed: +((2 * M * N * K) / ms.packed / 1e6).toFixed(1), differing_outputs: differing / (M * N), max_abs_diff: maxAbs, max_abs_out: +maxOut.toFixed(2),
  }));
}

/** Sampling tokens/s of a frozen 0.5B-shaped model with and without its weights marked constant. */
function benchSampling(engine: Engine): void {
  const config: ModelConfig = {
    modelType: 'qwen2', vocabSize: values.quick ? 32000 : 151936, hiddenSize: C, intermediateSize: I,
    numHiddenLayers: Number(values['sample-layers']), numAttentionHeads: 14, numKeyValueHeads: 2, headDim: 64,
    maxPositionEmbeddings: 32768, rmsNormEps: 1e-6, ropeTheta: 1000000, attentionBias: true, tieWordEmbeddings: true,
  };
  const models = { percall: new LlamaModel(config, engine.arena, engine.kernels, { trainable: false }), packed: new LlamaModel(config, engine.arena, engine.kernels, { trainable: false }) };
  models.percall.initRandom(new Rng(0));
  models.packed.weights.set(models.percall.weights);
  markFrozenWeights(engine.kernels, models.packed);
  const s = { sampleBatch: 8, prompt: 32, newTokens: 32, iters: 1 };
  const firstRunS: Record<string, number> = {};
  for (const [name, model] of Object.entries(models)) {
    const t0 = performance.now();
    timeSampling(model, { ...s, iters: 0 }); // the warmup run alone: sessions and, for packed, packing
    firstRunS[name] = (performance.now() - t0) / 1000;
  }
  const seconds: Record<string, number[]> = { percall: [], packed: [] };
  for (let round = 0; round < 3; round++) for (const [name, model] of Object.entries(models)) seconds[name].push(...timeSampling(model, s));
  const tokensPerS = (name: string) => (s.sampleBatch * s.newTokens) / median(seconds[name]);
  console.log(JSON.stringify({
    name: 'sample', layers: config.numHiddenLayers, vocab: config.vocabSize, batch: s.sampleBatch, prompt: s.prompt, new_tokens: s.newTokens, threads,
    tokens_per_s_percall: +tokensPerS('percall').toFixed(1), tokens_per_s_packed: +tokensPerS('packed').toFixed(1), packed_speedup: +(tokensPerS('packed') / tokensPerS('percall')).toFixed(2),
    first_run_s_percall: +firstRunS.percall.toFixed(2), first_run_s_packed: +firstRunS.packed.toFixed(2),
  }));
}

/** Child: weights of `layers` layers, every projection run once (nt, and nn with --backward) at 128 rows. */
async function memoryChild(path: 'percall' | 'packed'): Promise<void> {
  const engine = await createEngine({ provider: 'native', threads });
  const { arena, kernels } = engine;
  const M = 128;
  const weights = PROJECTIONS.flatMap((p) => Array.from({ length: layers }, () => p)).map((p) => ({ ...p, w: arena.allocF32(p.out * p.inDim) }));
  const weightBytes = weights.reduce((s, p) => s + p.w.byteLength, 0);
  for (const [i, p] of weights.entries()) fill(p.w, i);
  const x = arena.allocF32(M * I), y = arena.allocF32(M * I);
  fill(x, 0.5);
  gc?.();
  const before = rssMib();
  if (path === 'packed') for (const p of weights) kernels.markConstant!(p.w);
  for (const p of weights) {
    kernels.matmul(y, x, p.w, M, p.out, p.inDim, 'nt', false);
    if (values.backward) kernels.matmul(x, y, p.w, M, p.inDim, p.out, 'nn', false);
  }
  gc?.();
  const after = rssMib();
  console.log(JSON.stringify({
    name: 'memory', path, layers, backward: values.backward, threads, weight_mib: +(weightBytes / 2 ** 20).toFixed(1),
    rss_mib: +after.toFixed(0), peak_rss_mib: +peakRssMib().toFixed(0), rss_added_mib: +(after - before).toFixed(0),
    rss_added_per_weight_byte: +((after - before) * 2 ** 20 / weightBytes).toFixed(2), gc: gc !== undefined,
  }));
  await kernels.dispose();
}

if (values['memory-child'] !== undefined) {
  await memoryChild(values['memory-child'] as 'percall' | 'packed');
} else {
  const engine = await createEngine({ provider: 'native', threads });
  if (!engine.kernels.markConstant) throw new Error('the native provider did not load (is onnxruntime-node installed?)');
  console.log(JSON.stringify({ name: 'provider', kernels: engine.kernels.name }));
  const rows = values.quick ? [1, 8, 16, 128] : [1, 4, 8, 16, 32, 64, 128, 1024];
  const shapes = values.quick ? PROJECTIONS.filter((p) => p.what === 'q' || p.what === 'gate') : PROJECTIONS.filter((p) => p.what !== 'v' && p.what !== 'up');
  for (const M of rows) {
    for (const p of shapes) benchShape(engine, `${p.what} fwd`, 'nt', M, p.out, p.inDim);
    // Backward to the input through a frozen weight (LoRA training): dy (M, out) · W (out, in).
    benchShape(engine, 'gate dx', 'nn', M, C, I);
  }
  benchSampling(engine);
  await engine.kernels.dispose();
  const self = fileURLToPath(import.meta.url);
  for (const path of ['percall', 'packed']) {
    const args = ['--expose-gc', self, '--memory-child', path, '--threads', String(threads), '--layers', String(values.quick ? 1 : layers)];
    if (values.backward) args.push('--backward');
    process.stdout.write(execFileSync(process.execPath, args, { encoding: 'utf8' }));
  }
}
