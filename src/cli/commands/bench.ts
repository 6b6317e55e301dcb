/**
 * `prl bench`: the speed figures of bench/RESULTS.md on the `bench` preset model:
 * - train-step: one SFT step (forward, backward, AdamW) on a batch of 32 x 64 tokens, median ms;
 * - sample: 32 prompts of 8 tokens, 64 new tokens each with the KV cache, median tokens/s.
 */
import type { Command } from 'commander';
import { intFlag } from '../options.js';
import { PRESETS } from '../../engine/config.js';
import { LlamaModel } from '../../engine/model.js';
import { AdamW } from '../../engine/optim.js';
import { generate } from '../../engine/sampler.js';
import { Rng } from '../../util/rng.js';
import { openEngine } from '../engine.js';

const TRAIN_BATCH = 32;
const TRAIN_T = 64;
const SAMPLE_BATCH = 32;
const PROMPT_LEN = 8;
const NEW_TOKENS = 64;

interface BenchOptions {
  json?: boolean;
  threads: string;
  provider: string;
  iters: string;
}

export function register(program: Command): void {
  program
    .command('bench')
    .description('time one training step and KV-cache sampling on the bench preset model')
    .option('--json', 'print one JSON line per figure')
    .option('--threads <n>', 'kernel worker threads', '2')
    .option('--provider <name>', 'kernel provider: wasm, native (matmuls on onnxruntime-node MLAS) or ts', 'wasm')
    .option('--iters <n>', 'timed repetitions per figure (after warmup)', '10')
    .action(async (opts: BenchOptions) => {
      const iters = intFlag(opts.iters, '--iters');
      const { arena, kernels } = await openEngine(opts.provider, intFlag(opts.threads, '--threads'));
      try {
        const model = new LlamaModel(PRESETS.bench, arena, kernels);
        model.initRandom(new Rng(0));
        const trainMs = median(timeTrainSteps(model, new AdamW(model, arena, kernels, { lr: 1e-3 }), iters));
        const sampleSeconds = timeSampling(model, iters);
        const tokensPerS = median(sampleSeconds.map((s) => (SAMPLE_BATCH * NEW_TOKENS) / s));
        const meta = { provider: kernels.name, threads: kernels.threads };
        if (opts.json) {
          console.log(JSON.stringify({ name: 'train-step', ms: round(trainMs), ...meta }));
          console.log(JSON.stringify({ name: 'sample', tokens_per_s: round(tokensPerS), ...meta }));
        } else {
          console.log(`kernels: ${kernels.name} (${kernels.threads} thread${kernels.threads > 1 ? 's' : ''}), model: bench preset, ${model.numParameters} parameters`);
          console.log(`train-step (${TRAIN_BATCH}x${TRAIN_T} tokens, forward+backward+AdamW): ${trainMs.toFixed(1)} ms (median of ${iters})`);
          console.log(`sample (${SAMPLE_BATCH} x ${PROMPT_LEN}-token prompts, ${NEW_TOKENS} new tokens): ${tokensPerS.toFixed(0)} tokens/s (median of ${iters})`);
        }
      } finally {
        await kernels.dispose();
      }
    });
}

/** Milliseconds of each timed SFT step, after two warmup steps. */
function timeTrainSteps(model: LlamaModel, opt: AdamW, iters: number): number[] {
  const rng = new Rng(1);
  const N = TRAIN_BATCH * TRAIN_T;
  const V = model.config.vocabSize;
  const tokens = Int32Array.from({ length: N }, () => rng.int(V));
  const targets = Int32Array.from({ length: N }, (_, n) => ((n + 1) % TRAIN_T === 0 ? -1 : tokens[n + 1]));
  const dlogp = Float32Array.from(targets, (t) => (t >= 0 ? -1 / (TRAIN_BATCH * (TRAIN_T - 1)) : 0));
  const times: number[] = [];
  for (let i = 0; i < iters + 2; i++) {
    const start = performance.now();
    model.zeroGrad();
    model.forward(tokens, targets, TRAIN_BATCH, TRAIN_T);
    model.backward(dlogp);
    opt.update();
    if (i >= 2) times.push(performance.now() - start);
  }
  return times;
}

/** Seconds of each timed sampling run, after one warmup run. */
function timeSampling(model: LlamaModel, iters: number): number[] {
  const rng = new Rng(2);
  const prompts = Array.from({ length: SAMPLE_BATCH }, () => Array.from({ length: PROMPT_LEN }, () => rng.int(model.config.vocabSize)));
  const times: number[] = [];
  for (let i = 0; i < iters + 1; i++) {
    const start = performance.now();
    generate(model, prompts, { maxNewTokens: NEW_TOKENS, temperature: 1, rng: new Rng(i) });
    if (i >= 1) times.push((performance.now() - start) / 1000);
  }
  return times;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}
