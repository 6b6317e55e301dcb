/**
 * Top-k / top-p filtering at a 152k vocabulary (Qwen2.5's 151,936): the bounded selection of
 * engine/nucleus.ts against a full sort of the vocabulary (what the sampler did before), same weights, same
 * run. Weights are exp of N(0, 3^2) logits, a peaked distribution like a trained model's.
 *
 *   node dist/bench/nucleus.js [--vocab 151936] [--iters 20]
 */
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { keptTokens } from '../src/engine/nucleus.js';
import { Rng } from '../src/util/rng.js';

const { values } = parseArgs({ options: { vocab: { type: 'string', default: '151936' }, iters: { type: 'string', default: '20' } } });
const V = Number(values.vocab);
const iters = Number(values.iters);
const rng = new Rng(0);
const weights = Float32Array.from({ length: V }, () => Math.exp(3 * rng.normal()));
const order = new Int32Array(V);
const total = weights.reduce((s, w) => s + w, 0);

function fullSort(topK: number, topP: number): number {
  for (let j = 0; j < V; j++) order[j] = j;
  order.sort((a, b) => weights[b] - weights[a] || a - b);
  const limit = topK > 0 ? Math.min(topK, V) : V;
  let total = 0;
  for (let i = 0; i < limit; i++) total += weights[order[i]];
  let kept = 0;
  let before = 0;
  while (kept < limit && (kept === 0 || before < topP * total)) before += weights[order[kept++]];
  return kept;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function time(fn: () => number): { ms: number; kept: number } {
  let kept = fn(); // warm up
  const ms: number[] = [];
  for (let i = 0; i < iters; i++) {
    const t = performance.now();
    kept = fn();
    ms.push(performance.now() - t);
  }
  return { ms: median(ms), kept };
}

console.log(`vocabulary ${V}, median of ${iters}, ${cpus()[0]?.model ?? 'unknown CPU'}`);
for (const [topK, topP] of [[50, 1], [0, 0.95], [50, 0.95], [0, 0.999]] as const) {
  const sorted = time(() => fullSort(topK, topP));
  const selected = time(() => keptTokens(weights, V, topK, topP, order, total).kept);
  if (sorted.kept !== selected.kept) throw new Error(`kept ${selected.kept} vs full sort ${sorted.kept}`);
  console.log(`topK ${topK} topP ${topP}: kept ${selected.kept}; full sort ${sorted.ms.toFixed(2)} ms, selection ${selected.ms.toFixed(2)} ms, ${(sorted.ms / selected.ms).toFixed(1)}x faster`);
}
