/**
 * `prl bench`: the speed figures of bench/RESULTS.md on the `bench` preset model:
 * - train-step: one SFT step (forward, backward, AdamW) on a batch of 32 x 64 tokens, median ms;
 * - sample: 32 prompts of 8 tokens, 64 new tokens each with the KV cache, median tokens/s.
 * With `--model DIR` or `--shape NAME` the same two figures on a model of real size (../bench-model.ts).
 */
import type { Command } from 'commander';
import { BENCH_SHAPES, median, round, runModelBench, timeSampling, timeTrainSteps, type ModelBenchSettings } from '../bench-model.js';
import { inputError } from '../../util/errors.js';
import { intFlag } from '../options.js';
import { PRESETS } from '../../engine/config.js';
import { LlamaModel } from '../../engine/model.js';
import { AdamW } from '../../engine/optim.js';
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
  iters?: string;
  model?: string;
  shape?: string;
  layers?: string;
  batch: string;
  seq: string;
  sampleBatch: string;
  prompt: string;
  newTokens: string;
  loraRank: string;
  recompute?: boolean;
  bf16?: boolean;
  trainOnly?: boolean;
  sampleOnly?: boolean;
}

/** Timed repetitions after the warmup: the preset model, and a model of real size (seconds a step). */
const PRESET_ITERS = '10';
const MODEL_ITERS = '3';

export function register(program: Command): void {
  program
    .command('bench')
    .description('time one training step and KV-cache sampling on the bench preset model, a model folder (--model) or a real shape (--shape)')
    .option('--json', 'print one JSON line per figure')
    .option('--threads <n>', 'kernel worker threads', '2')
    .option('--provider <name>', 'kernel provider: wasm, native (matmuls on onnxruntime-node MLAS) or ts', 'wasm')
    .option('--iters <n>', `timed repetitions per figure after the warmup (default ${PRESET_ITERS}; ${MODEL_ITERS} with --model/--shape)`)
    .option('--model <dir>', 'a Hugging Face model folder to time (token ids: no tokenizer needed)')
    .option('--shape <name>', `random weights at a real model's shape: ${Object.keys(BENCH_SHAPES).join(', ')}`)
    .option('--layers <n>', 'with --shape: keep only the first n layers')
    .option('--batch <n>', 'with --model/--shape: training sequences per step', '4')
    .option('--seq <n>', 'with --model/--shape: tokens per training sequence', '256')
    .option('--sample-batch <n>', 'with --model/--shape: sequences sampled together', '8')
    .option('--prompt <n>', 'with --model/--shape: prompt tokens per sampled sequence', '32')
    .option('--new-tokens <n>', 'with --model/--shape: new tokens per sampled sequence', '32')
    .option('--lora-rank <r>', 'with --model/--shape: train a LoRA adapter of rank r on all seven modules over a frozen base (0: full fine-tuning)', '0')
    .option('--recompute', 'with --model/--shape: per-layer activation checkpointing in the training step')
    .option('--bf16', 'with --shape: hold the frozen base (LoRA, --sample-only) in bfloat16, as a BF16 checkpoint is held (a --model folder of BF16 matrices always is)')
    .option('--train-only', 'with --model/--shape: time the training step only')
    .option('--sample-only', 'with --model/--shape: time sampling only (the model is then frozen)')
    .action(async (opts: BenchOptions) => {
      if (opts.model !== undefined || opts.shape !== undefined) return benchModel(opts);
      const iters = intFlag(opts.iters ?? PRESET_ITERS, '--iters');
      const { arena, kernels } = await openEngine(opts.provider, intFlag(opts.threads, '--threads'));
      try {
        const model = new LlamaModel(PRESETS.bench, arena, kernels);
        model.initRandom(new Rng(0));
        const trainMs = median(timeTrainSteps(model, model, new AdamW(model, arena, kernels, { lr: 1e-3 }), { batch: TRAIN_BATCH, seq: TRAIN_T, iters, warmup: 2 }));
        const sampleSeconds = timeSampling(model, { sampleBatch: SAMPLE_BATCH, prompt: PROMPT_LEN, newTokens: NEW_TOKENS, iters });
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

/** `prl bench --model/--shape`: validates the flags, then times on a fresh engine. */
async function benchModel(opts: BenchOptions): Promise<void> {
  if (opts.model !== undefined && opts.shape !== undefined) throw inputError('--model/--shape', 'give one of them, not both');
  if (opts.layers !== undefined && opts.shape === undefined) throw inputError('--layers', 'cuts a --shape model; a --model folder is timed as it is');
  if (opts.trainOnly && opts.sampleOnly) throw inputError('--train-only/--sample-only', 'give at most one of them');
  const settings: ModelBenchSettings = {
    source: opts.model !== undefined ? { dir: opts.model } : { shape: opts.shape!, layers: opts.layers === undefined ? undefined : intFlag(opts.layers, '--layers') },
    batch: intFlag(opts.batch, '--batch'),
    seq: intFlag(opts.seq, '--seq', 2),
    sampleBatch: intFlag(opts.sampleBatch, '--sample-batch'),
    prompt: intFlag(opts.prompt, '--prompt'),
    newTokens: intFlag(opts.newTokens, '--new-tokens'),
    loraRank: intFlag(opts.loraRank, '--lora-rank', 0),
    recompute: opts.recompute === true,
    bf16: opts.bf16 === true,
    train: !opts.sampleOnly,
    sample: !opts.trainOnly,
    iters: intFlag(opts.iters ?? MODEL_ITERS, '--iters'),
  };
  const engine = await openEngine(opts.provider, intFlag(opts.threads, '--threads'));
  try {
    runModelBench(engine, settings, (line) => console.log(opts.json ? JSON.stringify(line) : describeLine(line)));
  } finally {
    await engine.kernels.dispose();
  }
}

/** One figure as a sentence, for the terminal. */
function describeLine(line: Record<string, string | number>): string {
  const what = `${line.model}, ${line.layers} layers, ${Number(line.lora_rank) > 0 ? `LoRA r${line.lora_rank}` : 'full'}, ${line.provider}`;
  if (line.name === 'train-step') return `train-step (${line.batch}x${line.seq} tokens, forward+backward+AdamW, ${what}): ${line.ms} ms, peak RSS ${line.peak_rss_gib} GiB`;
  return `sample (${line.sample_batch} x ${line.prompt}-token prompts, ${line.new_tokens} new tokens, ${what}): ${line.tokens_per_s} tokens/s, peak RSS ${line.peak_rss_gib} GiB`;
}
