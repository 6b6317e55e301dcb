/**
 * Decode-step sampling at Qwen2.5's vocabulary (V = 151,936), batch 8: the kernel path (sampling-rows.ts:
 * samplingMax + samplingWeights threaded over (row, chunk) units, then the draw) against the JS path the
 * sampler used before (two float64 Math.exp passes per row, nucleus selection over float64 weights), same
 * logits, same run. Also counts draws where the two paths pick different tokens from the same seed (the
 * float32-weights precision decision, docs/design.md "Sampling in kernels").
 *
 *   node dist/bench/sampler.js [--batch 8] [--vocab 151936] [--steps 20] [--threads N] [--agree 2000]
 *
 * Logits are N(0, 3^2): peaked, like a trained model's. Times are medians over decode steps.
 */
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { createEngine } from '../src/engine/kernels/index.js';
import { allocSamplingBuffers, SamplingRows, type Draw, type SamplingSettings } from '../src/engine/sampling-rows.js';
import { Rng } from '../src/util/rng.js';

const { values } = parseArgs({
  options: {
    batch: { type: 'string', default: '8' },
    vocab: { type: 'string', default: '151936' },
    steps: { type: 'string', default: '20' },
    threads: { type: 'string' },
    agree: { type: 'string', default: '2000' },
  },
});
const B = Number(values.batch);
const V = Number(values.vocab);
const steps = Number(values.steps);
const agreeDraws = Number(values.agree);
/** Untimed steps per setting before the timed ones. */
const WARMUP = 5;

const SETTINGS: Array<[string, SamplingSettings]> = [
  ['greedy', { temperature: 0, topK: 0, topP: 1 }],
  ['T 1', { temperature: 1, topK: 0, topP: 1 }],
  ['T 0.7', { temperature: 0.7, topK: 0, topP: 1 }],
  ['T 0.7 top-k 50', { temperature: 0.7, topK: 50, topP: 1 }],
  ['T 0.7 top-p 0.95', { temperature: 0.7, topK: 0, topP: 0.95 }],
  ['T 0.7 top-k 50 top-p 0.95', { temperature: 0.7, topK: 50, topP: 0.95 }],
];

// ------------------------------------------------------------------------------------------------
// The previous JS path (src/engine/sampler.ts and nucleus.ts before the kernels), kept here only to
// compare against.

function oldRanksBefore(w: Float64Array, a: number, b: number): boolean {
  return w[a] > w[b] || (w[a] === w[b] && a < b);
}

function oldSelectBest(w: Float64Array, m: number, order: Int32Array): void {
  let size = 0;
  const siftDown = (i: number): void => {
    for (;;) {
      const l = 2 * i + 1, r = l + 1;
      let worst = i;
      if (l < size && oldRanksBefore(w, order[worst], order[l])) worst = l;
      if (r < size && oldRanksBefore(w, order[worst], order[r])) worst = r;
      if (worst === i) return;
      [order[i], order[worst]] = [order[worst], order[i]];
      i = worst;
    }
  };
  for (let j = 0; j < V; j++) {
    if (size < m) {
      let i = size++;
      order[i] = j;
      while (i > 0) {
        const parent = (i - 1) >> 1;
        if (!oldRanksBefore(w, order[parent], order[i])) break;
        [order[i], order[parent]] = [order[parent], order[i]];
        i = parent;
      }
    } else if (oldRanksBefore(w, j, order[0])) {
      order[0] = j;
      siftDown(0);
    }
  }
  for (let end = size - 1; end > 0; end--) {
    [order[0], order[end]] = [order[end], order[0]];
    size = end;
    siftDown(0);
  }
}

function oldNucleusBound(w: Float64Array, target: number): number {
  const mass = new Float64Array(2100);
  const count = new Int32Array(2100);
  for (let j = 0; j < V; j++) {
    if (!(w[j] > 0)) continue;
    const bin = Math.min(2099, Math.max(0, Math.floor(Math.log2(w[j])) + 1075));
    mass[bin] += w[j];
    count[bin]++;
  }
  let m = 0, cumulative = 0;
  for (let bin = 2099; bin >= 0; bin--) {
    m += count[bin];
    cumulative += mass[bin];
    if (cumulative >= target) return m;
  }
  return V;
}

function oldKeptTokens(w: Float64Array, topK: number, topP: number, order: Int32Array): { kept: number; keptMass: number } {
  const limit = topK > 0 ? Math.min(topK, V) : V;
  let total = 0;
  let m: number;
  if (limit < V) {
    m = limit;
    oldSelectBest(w, m, order);
    for (let i = 0; i < m; i++) total += w[order[i]];
  } else {
    for (let j = 0; j < V; j++) total += w[j];
    m = Math.max(1, Math.min(V, oldNucleusBound(w, topP * total)));
    oldSelectBest(w, m, order);
  }
  for (;;) {
    let kept = 0, before = 0;
    while (kept < m && (kept === 0 || before < topP * total)) before += w[order[kept++]];
    if (kept < m || before >= topP * total || m === limit) return { kept, keptMass: before };
    m = Math.min(limit, m * 8);
    oldSelectBest(w, m, order);
  }
}

function oldSampleToken(logits: Float32Array, offset: number, s: SamplingSettings, rng: Rng, probs: Float64Array, order: Int32Array): number {
  let max = -Infinity, argmax = 0;
  for (let j = 0; j < V; j++) if (logits[offset + j] > max) [max, argmax] = [logits[offset + j], j];
  let sumExp = 0;
  for (let j = 0; j < V; j++) sumExp += Math.exp(logits[offset + j] - max);
  if (!(sumExp > 0)) throw new Error('unreachable: keeps the lse pass from being optimised away');
  if (s.temperature === 0) return argmax;
  for (let j = 0; j < V; j++) probs[j] = Math.exp((logits[offset + j] - max) / s.temperature);
  if ((s.topK > 0 && s.topK < V) || s.topP < 1) {
    const { kept, keptMass } = oldKeptTokens(probs, s.topK, s.topP, order);
    let u = rng.next() * keptMass;
    for (let i = 0; i < kept; i++) {
      u -= probs[order[i]];
      if (u < 0 || i === kept - 1) return order[i];
    }
  }
  let total = 0;
  for (let j = 0; j < V; j++) total += probs[j];
  let u = rng.next() * total;
  for (let j = 0; j < V; j++) {
    u -= probs[j];
    if (u < 0) return j;
  }
  return V - 1;
}

// ------------------------------------------------------------------------------------------------

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

const engine = await createEngine(values.threads ? { threads: Number(values.threads) } : {});
try {
  const logits = engine.arena.allocF32(B * V); // (B, V) in engine memory, as forwardCached returns it
  const gen = new Rng(0);
  for (let i = 0; i < B * V; i++) logits[i] = 3 * gen.normal();
  const rows = new SamplingRows(engine.kernels, allocSamplingBuffers(engine.arena, B, V), V);
  const probs = new Float64Array(V);
  const order = new Int32Array(V);
  const out: Draw = { token: 0, logprob: 0, samplingLogprob: 0 };

  console.log(`decode-step sampling, batch ${B}, vocabulary ${V}, median of ${steps} steps; kernels ${engine.kernels.name}; ${cpus()[0]?.model ?? 'unknown CPU'}`);
  for (const [name, s] of SETTINGS) {
    const rng = new Rng(1);
    const oldMs: number[] = [], newMs: number[] = [];
    for (let step = -WARMUP; step < steps; step++) {
      let t = performance.now();
      for (let b = 0; b < B; b++) oldSampleToken(logits, b * V, s, rng, probs, order);
      const oldStep = performance.now() - t;
      t = performance.now();
      rows.weigh(logits, B, s.temperature);
      for (let b = 0; b < B; b++) rows.draw(b, s, rng, out);
      const newStep = performance.now() - t;
      if (step < 0) continue; // warm-up: V8 compiles wasm with a baseline tier first, optimised code later
      oldMs.push(oldStep);
      newMs.push(newStep);
    }
    // Same seed, same logits: how often the float32-weight kernel path picks another token than float64 JS.
    const a = new Rng(7), b = new Rng(7);
    let differ = 0;
    for (let i = 0; i < agreeDraws; i++) {
      const row = i % B;
      if (i % B === 0) rows.weigh(logits, B, s.temperature);
      const old = oldSampleToken(logits, row * V, s, a, probs, order);
      rows.draw(row, s, b, out);
      if (old !== out.token) differ++;
    }
    const [o, n] = [median(oldMs), median(newMs)];
    const agreement = agreeDraws > 0 ? `   tokens differ in ${differ} of ${agreeDraws} draws` : '';
    console.log(`${name.padEnd(26)} JS float64 ${o.toFixed(2).padStart(7)} ms/step   kernels ${n.toFixed(2).padStart(6)} ms/step   ${(o / n).toFixed(1).padStart(5)}x${agreement}`);
  }
} finally {
  await engine.kernels.dispose();
}
