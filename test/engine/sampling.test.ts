// The sampler's kernels (samplingMax, samplingWeights) against float64 loops written here and against the
// plain-TS provider, bit-identical on 1, 2 and 3 threads; and SamplingRows' draws against the distribution
// they should follow: empirical frequencies vs softmax(logits / T) restricted to top-k / top-p
// (chi-square), reported log-probs vs a float64 computation, greedy vs argmax.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { FallbackKernels } from '../../src/engine/kernels/fallback.js';
import { createEngine, type Engine } from '../../src/engine/kernels/index.js';
import type { Kernels } from '../../src/engine/kernels/types.js';
import { Arena } from '../../src/engine/memory.js';
import { LlamaModel } from '../../src/engine/model.js';
import { generate } from '../../src/engine/sampler.js';
import { allocSamplingBuffers, SAMPLING_CHUNK, SamplingRows, type Draw, type SamplingSettings } from '../../src/engine/sampling-rows.js';
import { Rng } from '../../src/util/rng.js';
import { TINY_LLAMA_GQA } from '../helpers/llama-f64.js';

let engines: Engine[] = []; // 1, 2 and 3 threads
before(async () => {
  engines = [await createEngine({ threads: 1 }), await createEngine({ threads: 2 }), await createEngine({ threads: 3 })];
});
after(async () => {
  for (const e of engines) await e.kernels.dispose();
});

function logitsIn(arena: Arena, values: ArrayLike<number>): Float32Array {
  const t = arena.allocF32(values.length);
  t.set(values);
  return t;
}

function randomLogits(rng: Rng, n: number, scale: number): Float32Array {
  return Float32Array.from({ length: n }, () => scale * rng.normal());
}

/** Runs both kernels on `k` over logits (N, V) in chunks of `chunk`; returns copies of the outputs. */
function runKernels(k: Kernels, arena: Arena, z: Float32Array, N: number, V: number, chunk: number, invT: number) {
  const nC = Math.ceil(V / chunk);
  const logits = logitsIn(arena, z);
  const chunkMax = arena.allocF32(N * nC), weights = arena.allocF32(N * V);
  const block = arena.allocF32(N * nC * 4);
  const sums = new Float64Array(block.buffer, block.byteOffset, N * nC * 2);
  k.samplingMax(chunkMax, logits, N, V, chunk);
  k.samplingWeights(weights, sums, logits, chunkMax, invT, N, V, chunk);
  return { chunkMax: Array.from(chunkMax), weights: Array.from(weights), sums: Array.from(sums) };
}

test('samplingMax / samplingWeights: float64 and the plain-TS provider, partial chunks, -Infinity logits', () => {
  const N = 3, V = 1031, chunk = 64; // 17 chunks, the last of 7 (not a multiple of 4)
  const nC = Math.ceil(V / chunk);
  const rng = new Rng(1);
  const z = randomLogits(rng, N * V, 4);
  z[V + 700] = 30; // one dominant logit
  z[5] = -Infinity; // masked: weight exactly 0
  z[2 * V + 1030] = -Infinity;
  for (const invT of [1, 1 / 0.7, 3, 0.25, 0]) {
    const wasm = runKernels(engines[1].kernels, engines[1].arena, z, N, V, chunk, invT);
    const ts = runKernels(new FallbackKernels(), new Arena(0), z, N, V, chunk, invT);
    for (const [name, r] of [['wasm', wasm], ['ts', ts]] as const) {
      for (let n = 0; n < N; n++) {
        const row = Array.from(z.subarray(n * V, (n + 1) * V));
        const m = Math.max(...row);
        for (let c = 0; c < nC; c++) {
          const cols = row.slice(c * chunk, (c + 1) * chunk);
          assert.equal(r.chunkMax[n * nC + c], Math.max(...cols), `${name} chunkMax[${n}, ${c}]`);
          const sumExp = cols.reduce((s, x) => s + Math.exp(x - m), 0);
          const got = r.sums[(n * nC + c) * 2];
          assert.ok(Math.abs(got - sumExp) <= 5e-6 * sumExp + 1e-30, `${name} invT ${invT} Σexp[${n}, ${c}] ${got} vs ${sumExp}`);
          let stored = 0;
          for (let j = c * chunk; j < Math.min(V, (c + 1) * chunk); j++) {
            if (invT === 0) continue;
            const x = (row[j] - m) * invT;
            const want = Math.exp(x);
            const w = r.weights[n * V + j];
            // float32 rounding of z - m and of the product: relative error ~6e-8 |x| in exp(x), plus exp's own.
            if (x < -87.3366) assert.equal(w, 0, `${name} weights[${n}, ${j}] below the floor`);
            else assert.ok(Math.abs(w - want) <= (3e-7 + 1.5e-7 * Math.abs(x)) * want, `${name} invT ${invT} weights[${n}, ${j}] ${w} vs ${want}`);
            stored += w;
          }
          // The weight sum is the float64 sum of the stored float32 weights (what the draw walks).
          assert.ok(Math.abs(r.sums[(n * nC + c) * 2 + 1] - stored) <= 1e-12 * stored, `${name} Σweights[${n}, ${c}]`);
        }
      }
    }
  }
});

test('samplingMax / samplingWeights: bit-identical on 1, 2 and 3 threads, also for a single row', () => {
  const V = 40003, chunk = 1024; // big enough that a single row runs on the pool
  for (const N of [1, 5]) {
    const z = randomLogits(new Rng(2), N * V, 3);
    for (const invT of [1, 1 / 0.7]) {
      const results = engines.map((e) => {
        const before = (e.kernels as { parallelCalls?: number }).parallelCalls ?? 0;
        const r = runKernels(e.kernels, e.arena, z, N, V, chunk, invT);
        return { ...r, parallel: ((e.kernels as { parallelCalls?: number }).parallelCalls ?? 0) - before };
      });
      assert.equal(results[2].parallel, 2, `N ${N}: both calls ran on the thread pool`);
      for (const r of results.slice(1)) {
        assert.deepEqual(r.chunkMax, results[0].chunkMax);
        assert.deepEqual(r.weights, results[0].weights);
        assert.deepEqual(r.sums, results[0].sums);
      }
    }
  }
});

/** The distribution a draw should follow, in float64: softmax(z / T) over the kept set, 0 elsewhere. */
function expectedDistribution(z: ArrayLike<number>, s: SamplingSettings): Float64Array {
  const V = z.length;
  const m = Math.max(...Array.from(z));
  const w = Float64Array.from(z, (x) => Math.exp((x - m) / s.temperature));
  const order = Array.from({ length: V }, (_, j) => j).sort((a, b) => w[b] - w[a] || a - b);
  const limit = s.topK > 0 ? Math.min(s.topK, V) : V;
  let total = 0;
  for (let i = 0; i < limit; i++) total += w[order[i]];
  let kept = 0;
  let before = 0;
  while (kept < limit && (kept === 0 || before < s.topP * total)) before += w[order[kept++]];
  const p = new Float64Array(V);
  for (let i = 0; i < kept; i++) p[order[i]] = w[order[i]] / before;
  return p;
}

/** Pearson's chi-square of counts against probabilities p (n draws); cells with expected < 5 are pooled. */
function chiSquare(counts: ArrayLike<number>, p: ArrayLike<number>, n: number): { chi2: number; df: number } {
  let chi2 = 0, cells = 0, pooledCount = 0, pooledExpected = 0;
  for (let j = 0; j < p.length; j++) {
    const e = n * p[j];
    if (e >= 5) {
      chi2 += (counts[j] - e) ** 2 / e;
      cells++;
    } else {
      pooledCount += counts[j];
      pooledExpected += e;
    }
  }
  if (pooledExpected >= 5) {
    chi2 += (pooledCount - pooledExpected) ** 2 / pooledExpected;
    cells++;
  } else assert.ok(pooledCount <= 3 * pooledExpected + 10, `rare cells: ${pooledCount} draws vs ${pooledExpected} expected`);
  return { chi2, df: cells - 1 };
}

test('SamplingRows: draws follow softmax(z / T) restricted to top-k / top-p; log-probs match float64', () => {
  const e = engines[1];
  const V = 2 * SAMPLING_CHUNK + 807; // three chunks, the last partial: the chunk walk crosses chunks
  const rng = new Rng(3);
  const z = randomLogits(rng, 2 * V, 2.5);
  const rows = new SamplingRows(e.kernels, allocSamplingBuffers(e.arena, 2, V), V);
  const logits = logitsIn(e.arena, z);
  const cases: SamplingSettings[] = [
    { temperature: 1, topK: 0, topP: 1 },
    { temperature: 0.7, topK: 0, topP: 1 },
    { temperature: 1.3, topK: 20, topP: 1 },
    { temperature: 0.8, topK: 0, topP: 0.9 },
    { temperature: 1, topK: 50, topP: 0.8 },
  ];
  const draws = 8000;
  const out: Draw = { token: 0, logprob: 0, samplingLogprob: 0 };
  for (const s of cases) {
    rows.weigh(logits, 2, s.temperature);
    for (let b = 0; b < 2; b++) {
      const row = Array.from(z.subarray(b * V, (b + 1) * V));
      const p = expectedDistribution(row, s);
      const m = Math.max(...row);
      const lse = m + Math.log(row.reduce((acc, x) => acc + Math.exp(x - m), 0));
      const counts = new Float64Array(V);
      const draw = new Rng(100 + b);
      for (let i = 0; i < draws; i++) {
        rows.draw(b, s, draw, out);
        counts[out.token]++;
        if (i < 200) {
          assert.ok(p[out.token] > 0, `drew token ${out.token} outside the kept set`);
          assert.ok(Math.abs(out.logprob - (row[out.token] - lse)) < 1e-5, `logprob ${out.logprob} vs ${row[out.token] - lse}`);
          assert.ok(Math.abs(out.samplingLogprob - Math.log(p[out.token])) < 1e-5, `samplingLogprob ${out.samplingLogprob} vs ${Math.log(p[out.token])}`);
        }
      }
      const { chi2, df } = chiSquare(counts, p, draws);
      // Mean df, sd sqrt(2 df): a bound 5 sd above the mean (fixed seeds, so not flaky, yet a biased
      // sampler, e.g. one that skips a chunk or mis-scales the temperature, lands far above it).
      assert.ok(df >= 5, `${JSON.stringify(s)}: only ${df} degrees of freedom`);
      assert.ok(chi2 < df + 5 * Math.sqrt(2 * df), `${JSON.stringify(s)} row ${b}: chi2 ${chi2.toFixed(1)} with ${df} df`);
    }
  }
});

test('SamplingRows: greedy takes the first maximal logit; same seed, same tokens on 1, 2 and 3 threads; no zero-weight draws', () => {
  const V = SAMPLING_CHUNK + 100, B = 3;
  const z = randomLogits(new Rng(4), B * V, 3);
  z[V + SAMPLING_CHUNK + 5] = 50; // row 1: the max in the second chunk, tied with a later column
  z[V + SAMPLING_CHUNK + 60] = 50;
  z[2 * V] = -Infinity;
  const settings: SamplingSettings[] = [
    { temperature: 0.9, topK: 0, topP: 1 },
    { temperature: 0.6, topK: 40, topP: 0.95 },
    { temperature: 1, topK: 0, topP: 0.5 },
    { temperature: 0.01, topK: 100, topP: 1 }, // fewer positive weights than k: zero weights are kept, never drawn
  ];
  const tokensOn = (e: Engine): number[] => {
    const rows = new SamplingRows(e.kernels, allocSamplingBuffers(e.arena, B, V), V);
    const logits = logitsIn(e.arena, z);
    const out: Draw = { token: 0, logprob: 0, samplingLogprob: 0 };
    rows.weigh(logits, B, 0);
    for (let b = 0; b < B; b++) {
      rows.draw(b, { temperature: 0, topK: 0, topP: 1 }, new Rng(0), out);
      const row = Array.from(z.subarray(b * V, (b + 1) * V));
      assert.equal(out.token, row.indexOf(Math.max(...row)), `greedy row ${b}`);
      assert.equal(out.samplingLogprob, 0);
    }
    const tokens: number[] = [];
    for (const s of settings) {
      rows.weigh(logits, B, s.temperature);
      const rng = new Rng(5);
      for (let i = 0; i < 300; i++) {
        rows.draw(i % B, s, rng, out);
        assert.ok(Number.isFinite(out.samplingLogprob), `${JSON.stringify(s)}: drew token ${out.token} of weight 0`);
        tokens.push(out.token, out.logprob, out.samplingLogprob);
      }
    }
    return tokens;
  };
  const [one, two, three] = engines.map(tokensOn);
  assert.deepEqual(two, one);
  assert.deepEqual(three, one);
});

test('generate on the WebAssembly kernels: same seed, same completions and log-probs on 1, 2 and 3 threads', () => {
  // A vocabulary of two sampling chunks (the second partial), head size a multiple of 4 for the wasm kernels.
  const config = { ...TINY_LLAMA_GQA, vocabSize: SAMPLING_CHUNK + 903, headDim: 8 };
  const prompts = [[1, 2, 3], [4000, 7], [9]];
  const runs = engines.map((e) => {
    const model = new LlamaModel(config, e.arena, e.kernels, { trainable: false });
    const rng = new Rng(6);
    for (const p of model.parameters()) for (let i = 0; i < p.data.length; i++) p.data[i] = p.name.endsWith('norm.weight') ? 1 : 0.5 * rng.normal();
    return [
      generate(model, prompts, { maxNewTokens: 6, temperature: 0.8, topP: 0.9, rng: new Rng(1) }),
      generate(model, prompts, { maxNewTokens: 6, temperature: 1, rng: new Rng(2) }),
      generate(model, prompts, { maxNewTokens: 6, temperature: 0, rng: new Rng(3) }),
    ];
  });
  assert.deepEqual(runs[1], runs[0]);
  assert.deepEqual(runs[2], runs[0]);
  const tokens = runs[0][1].flatMap((r) => r.tokens);
  assert.ok(tokens.some((t) => t >= SAMPLING_CHUNK) && tokens.some((t) => t < SAMPLING_CHUNK), 'draws from both chunks');
});
