/**
 * `--rollout llamacpp` against prl's own engine, on one model, measured in one run (issue 17). Prints JSON
 * lines:
 * - `sample`: tokens/s of prl's engine (batched, its KV cache) and of llama.cpp with the base as f32, f16
 *   and q8_0 plus a LoRA adapter (as in RL), each with its ratio to prl's engine;
 * - `mismatch`: per quantization, mean |log p_trainer - log p_llama.cpp| over the sampled tokens (the
 *   trainer = prl's engine, f32 weights + the same adapter) and the share of tokens whose truncated
 *   importance weight exp(log p_trainer - log p_engine) exceeds the cap (`--tis-cap`, default 2);
 * - `swap-rss`: resident memory every 10 of `--swaps` adapter swaps with a model reload every `--reload`
 *   swaps (llama.cpp frees adapters only with their model), which must stay flat, and the same without
 *   reloads as the control, which grows by about an adapter per swap.
 *
 * The model is random, qwen2-shaped with a padded vocabulary (the byte-level test tokenizer, so that
 * llama.cpp loads it) and std-0.1 weights so that log-probs vary. About 2 minutes at the defaults on 2 cores.
 *
 *   node --expose-gc dist/bench/llamacpp-rollouts.js [--hidden 512] [--layers 4] [--vocab 32000] [--seqs 8] [--prompt 64]
 *     [--new 128] [--rank 16] [--threads 2] [--swaps 100] [--reload 10] [--gpu off|auto]
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { ModelConfig } from '../src/engine/config.js';
import { initModelFolder, loadModelWeights } from '../src/engine/io.js';
import { createEngine } from '../src/engine/kernels/index.js';
import { LoraAdapter } from '../src/engine/lora.js';
import type { LlamaModel } from '../src/engine/model.js';
import { generate } from '../src/engine/sampler.js';
import { openLlamaCppRollouts } from '../src/train/rollouts/llamacpp.js';
import type { RolloutSample } from '../src/train/rollouts/types.js';
import { Rng } from '../src/util/rng.js';
import { byteLevelTokenizerJson } from '../test/helpers/bpe-tokenizer.js';

const { values } = parseArgs({
  options: {
    hidden: { type: 'string', default: '512' },
    layers: { type: 'string', default: '4' },
    vocab: { type: 'string', default: '32000' },
    seqs: { type: 'string', default: '8' },
    prompt: { type: 'string', default: '64' },
    new: { type: 'string', default: '128' },
    rank: { type: 'string', default: '16' },
    threads: { type: 'string', default: '2' },
    swaps: { type: 'string', default: '100' },
    reload: { type: 'string', default: '10' },
    'tis-cap': { type: 'string', default: '2' },
    gpu: { type: 'string', default: 'off' },
  },
});
const [hidden, layers, vocab, seqs, promptLength, newTokens, rank, threads, swaps, reload, tisCap] = [
  values.hidden, values.layers, values.vocab, values.seqs, values.prompt, values.new, values.rank, values.threads, values.swaps, values.reload, values['tis-cap'],
].map(Number);
const gpu = values.gpu === 'auto' ? 'auto' : 'off';
const print = (row: object): void => console.log(JSON.stringify(row));

const root = mkdtempSync(join(tmpdir(), 'prl-bench-llamacpp-'));
const dir = join(root, 'model');
const { json: tokenizerJson, size: tokenizerSize } = byteLevelTokenizerJson();
const config: ModelConfig = {
  modelType: 'qwen2', vocabSize: Math.max(vocab, tokenizerSize), hiddenSize: hidden, intermediateSize: Math.round((hidden * 8) / 3 / 32) * 32,
  numHiddenLayers: layers, numAttentionHeads: hidden / 64, numKeyValueHeads: Math.max(1, hidden / 256), headDim: 64,
  maxPositionEmbeddings: 1024, rmsNormEps: 1e-6, ropeTheta: 1e6, attentionBias: true, tieWordEmbeddings: true, eosTokenId: tokenizerSize - 1,
};
initModelFolder(dir, config, undefined, 1, 0.1);
writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tokenizerJson));

const engine = await createEngine({ threads });
const { model } = loadModelWeights(dir, engine, { trainable: false });
const rng = new Rng(3);
const prompts = Array.from({ length: seqs }, () => Array.from({ length: promptLength }, () => rng.int(tokenizerSize - 1)));
const adapter = new LoraAdapter(config, engine.arena, { rank });
adapter.initRandom(rng);
for (const p of adapter.parameters()) if (p.name.includes('lora_B')) p.data.forEach((_, i) => (p.data[i] = 0.05 * rng.normal()));
model.attachAdapter(adapter);
print({ name: 'model', ...config, rank, threads, seqs, prompt: promptLength, new: newTokens, gpu });

// prl's engine: the batched sampler, all sequences in lockstep. No stop ids: every sequence makes `new` tokens.
const engineStart = performance.now();
const engineSamples = generate(model, prompts, { maxNewTokens: newTokens, temperature: 1, rng: new Rng(4) });
const engineSeconds = (performance.now() - engineStart) / 1000;
const engineTokens = engineSamples.reduce((n, s) => n + s.tokens.length, 0);
const engineRate = engineTokens / engineSeconds;
print({ name: 'sample', engine: 'prl', tokens: engineTokens, seconds: engineSeconds, tokens_per_s: engineRate, ratio_to_prl: 1 });

/** The trainer's log-probs of each sampled response (prl, f32 + adapter), as the PPO ratio uses them. */
function trainerLogprobs(trainer: LlamaModel, prompt: readonly number[], tokens: readonly number[]): Float32Array {
  const sequence = [...prompt, ...tokens];
  const T = sequence.length - 1;
  return trainer.forward(Int32Array.from(sequence.slice(0, T)), Int32Array.from(sequence.slice(1)), 1, T).slice(prompt.length - 1);
}

for (const quant of ['f32', 'f16', 'q8_0'] as const) {
  const rollouts = await openLlamaCppRollouts(
    { quant, gpu, reloadEvery: reload, threads },
    { runName: 'bench', syncDir: join(root, `sync-${quant}`), modelDir: dir, threads, log: () => {} },
  );
  try {
    await rollouts.publish({ version: 1, model, adapter });
    const start = performance.now();
    const samples: RolloutSample[][] = await rollouts.sample({ step: 0, prompts, n: 1, maxNewTokens: newTokens, temperature: 1, topP: 1, stopIds: [], seed: 5 });
    const seconds = (performance.now() - start) / 1000;
    const tokens = samples.flat().reduce((n, s) => n + s.tokens.length, 0);
    print({ name: 'sample', engine: `llamacpp-${quant}`, tokens, seconds, tokens_per_s: tokens / seconds, ratio_to_prl: tokens / seconds / engineRate });
    let sumDiff = 0, capped = 0, count = 0;
    samples.forEach((group, p) => {
      const s = group[0];
      const trainer = trainerLogprobs(model, prompts[p], s.tokens);
      for (let i = 0; i < s.tokens.length; i++, count++) {
        sumDiff += Math.abs(trainer[i] - s.logprobs[i]);
        if (tisCap > 0 && Math.exp(trainer[i] - s.logprobs[i]) > tisCap) capped++;
      }
    });
    print({ name: 'mismatch', engine: `llamacpp-${quant}`, tokens: count, rollout_logprob_diff: sumDiff / count, tis_capped_frac: capped / count, tis_cap: tisCap });

  } finally {
    await rollouts.close();
  }
}
/**
 * Memory over many swaps on the q8_0 base: a new adapter file per version, the model reloaded every
 * `reloadEvery` swaps. Run with the bench's K and, as the control, never (K > swaps).
 */
async function swapRss(reloadEvery: number): Promise<void> {
  const rollouts = await openLlamaCppRollouts(
    { quant: 'q8_0', gpu, reloadEvery, threads },
    { runName: 'bench', syncDir: join(root, `sync-swaps-${reloadEvery}`), modelDir: dir, threads, log: () => {} },
  );
  try {
    // With --expose-gc, JS garbage is collected before each reading, so what grows is llama.cpp's.
    const gc = (globalThis as { gc?: () => void }).gc;
    const rss: number[] = [];
    const heap: number[] = [];
    const start = performance.now();
    for (let swap = 1; swap <= swaps; swap++) {
      for (const p of adapter.parameters()) if (p.name.includes('lora_B')) p.data[swap % p.data.length] += 1e-3;
      await rollouts.publish({ version: swap, model, adapter });
      if (swap % 10 === 0) {
        gc?.();
        const usage = process.memoryUsage();
        rss.push(usage.rss / 2 ** 20);
        heap.push((usage.heapUsed + usage.arrayBuffers) / 2 ** 20);
      }
    }
    const msPerSwap = (performance.now() - start) / swaps;
    print({
      name: 'swap-rss', engine: 'llamacpp-q8_0', swaps, reload_every: reloadEvery > swaps ? 'never' : reloadEvery, gc: gc !== undefined,
      rss_mib: rss.map((m) => Math.round(m)), js_heap_mib: heap.map((m) => Math.round(m)), last_over_first: rss.at(-1)! / rss[0], ms_per_swap: msPerSwap,
    });
  } finally {
    await rollouts.close();
  }
}
await swapRss(reload);
await swapRss(swaps + 1);
rmSync(root, { recursive: true, force: true });
