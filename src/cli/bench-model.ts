/**
 * `prl bench --model DIR | --shape NAME`: one training step and KV-cache sampling on a model of real
 * size, on token ids (no tokenizer). The same figures as bench/torch_model.py measures in PyTorch, so
 * bench/model.sh can put them side by side:
 * - train-step: zero grads, forward + backward of the mean next-token NLL on (batch, seq) random ids,
 *   AdamW (with --lora-rank: a frozen base, only the adapter trained), median ms after one warmup;
 * - sample: `sample-batch` random prompts of `prompt` ids, `new-tokens` new ids each at temperature 1,
 *   median tokens/s after one warmup.
 * Each line also carries the process's peak RSS so far and the arena segments (4 GiB memories) the
 * model spans. A plan that cannot fit is refused before any weight is allocated (engine/memory-estimate.ts).
 */
import type { ModelConfig } from '../engine/config.js';
import { loadModelFolder, type ModelFolder } from '../engine/checkpoint.js';
import type { Engine } from '../engine/kernels/index.js';
import { LoraAdapter } from '../engine/lora.js';
import { assertFits, estimateArenaBytes, fits, gib, maxLayersThatFit, type MemoryPlan } from '../engine/memory-estimate.js';
import { LlamaModel } from '../engine/model.js';
import { AdamW, type Trainable } from '../engine/optim.js';
import { generate } from '../engine/sampler.js';
import { inputError } from '../util/errors.js';
import { Rng } from '../util/rng.js';

/** Real model shapes with random weights: Qwen2.5 0.5B and 1.5B (their config.json's sizes). */
export const BENCH_SHAPES: Record<string, ModelConfig> = {
  'qwen2.5-0.5b': qwen2Shape({ hidden: 896, intermediate: 4864, layers: 24, heads: 14, kvHeads: 2 }),
  'qwen2.5-1.5b': qwen2Shape({ hidden: 1536, intermediate: 8960, layers: 28, heads: 12, kvHeads: 2 }),
};

function qwen2Shape(s: { hidden: number; intermediate: number; layers: number; heads: number; kvHeads: number }): ModelConfig {
  return {
    modelType: 'qwen2',
    vocabSize: 151936,
    hiddenSize: s.hidden,
    intermediateSize: s.intermediate,
    numHiddenLayers: s.layers,
    numAttentionHeads: s.heads,
    numKeyValueHeads: s.kvHeads,
    headDim: s.hidden / s.heads,
    maxPositionEmbeddings: 32768,
    rmsNormEps: 1e-6,
    ropeTheta: 1000000,
    attentionBias: true,
    tieWordEmbeddings: true,
  };
}

export interface ModelBenchSettings {
  /** Where the model comes from: a folder (its weights) or a named shape (random weights). */
  source: { dir: string } | { shape: string; layers?: number };
  batch: number;
  seq: number;
  sampleBatch: number;
  prompt: number;
  newTokens: number;
  /** 0: full fine-tuning; > 0: a LoRA adapter of this rank on all seven targets over a frozen base. */
  loraRank: number;
  /** Per-layer activation checkpointing in the training step (`--recompute`). */
  recompute: boolean;
  /**
   * Hold a frozen base's matrices in bfloat16 (`--bf16`, for a --shape: as a bf16 checkpoint would be
   * held; a --model folder of BF16 matrices is held so whenever it is frozen, as `loadModel` does).
   */
  bf16: boolean;
  train: boolean;
  sample: boolean;
  iters: number;
}

/** One JSON line of the bench output. */
export type BenchLine = Record<string, string | number>;

/** The config of a named shape, cut to `layers` when given. */
export function shapeConfig(shape: string, layers?: number): ModelConfig {
  const config = BENCH_SHAPES[shape];
  if (!config) throw inputError('--shape', `unknown shape ${JSON.stringify(shape)}; expected one of ${Object.keys(BENCH_SHAPES).join(', ')}`);
  if (layers !== undefined && layers > config.numHiddenLayers) throw inputError('--layers', `${shape} has ${config.numHiddenLayers} layers, got ${layers}`);
  return { ...config, numHiddenLayers: layers ?? config.numHiddenLayers };
}

/** What the bench will put in the arena, for the estimate. */
export function benchPlan(config: ModelConfig, s: ModelBenchSettings, baseBytes: number, segmentBaseBytes = 0): MemoryPlan {
  const trainable = s.train && s.loraRank === 0;
  return {
    config,
    trainable,
    bf16Weights: s.bf16 && !trainable,
    loraRank: s.loraRank,
    recompute: s.recompute,
    optimizer: s.train,
    trainRows: s.train ? s.batch * s.seq : 0,
    sample: s.sample ? { batch: s.sampleBatch, maxT: s.prompt + s.newTokens - 1 } : undefined,
    baseBytes,
    segmentBaseBytes,
  };
}

/** Runs the bench on an opened engine; returns the JSON lines (train-step and/or sample). */
export function runModelBench(engine: Engine, s: ModelBenchSettings, onLine: (line: BenchLine) => void): void {
  const folder: ModelFolder | null = 'dir' in s.source ? loadModelFolder(s.source.dir) : null;
  try {
    const config = folder ? folder.config : shapeConfig((s.source as { shape: string }).shape, (s.source as { layers?: number }).layers);
    const label = 'dir' in s.source ? s.source.dir : s.source.shape;
    const plan = benchPlan(config, { ...s, bf16: s.bf16 || (folder?.storesBf16Matrices() ?? false) }, engine.arena.usedBytes, engine.arena.baseBytes);
    const estimate = assertFits(plan, describePlan(label, config, s), fitHints(plan, s));
    if (config.maxPositionEmbeddings < Math.max(s.seq, s.prompt + s.newTokens)) {
      throw inputError('--seq/--prompt/--new-tokens', `need ${Math.max(s.seq, s.prompt + s.newTokens)} positions, the model has max_position_embeddings = ${config.maxPositionEmbeddings}`);
    }

    const model = new LlamaModel(config, engine.arena, engine.kernels, { trainable: plan.trainable, recompute: s.recompute, layerSegments: estimate.layerSegments, bf16Weights: plan.bf16Weights });
    if (folder) folder.fillTensors(model.parameters());
    else model.initRandom(new Rng(0));
    let trained: Trainable & { zeroGrad(): void } = model;
    if (s.loraRank > 0) {
      const adapter = new LoraAdapter(config, engine.arena, { rank: s.loraRank }, model.layerSegments);
      adapter.initRandom(new Rng(3));
      model.attachAdapter(adapter);
      trained = adapter;
    }

    const meta: BenchLine = {
      model: label,
      layers: config.numHiddenLayers,
      hidden: config.hiddenSize,
      vocab: config.vocabSize,
      lora_rank: s.loraRank,
      recompute: s.recompute ? 1 : 0,
      bf16: plan.bf16Weights ? 1 : 0,
      threads: engine.kernels.threads,
      provider: engine.kernels.name,
      segments: estimate.segments.length,
    };
    if (s.train) {
      const opt = new AdamW(trained, engine.arena, engine.kernels, { lr: 1e-5 });
      const ms = median(timeTrainSteps(model, trained, opt, s));
      onLine({
        name: 'train-step',
        ms: round(ms),
        batch: s.batch,
        seq: s.seq,
        peak_rss_gib: peakRssGib(),
        arena_gib: round(engine.arena.usedBytes / 2 ** 30),
        estimate_gib: round(estimate.total / 2 ** 30),
        trainable_params: trained.shards.reduce((n, s) => n + s.weights.length, 0),
        ...meta,
      });
    }
    if (s.sample) {
      const seconds = timeSampling(model, s);
      onLine({
        name: 'sample',
        tokens_per_s: round(median(seconds.map((t) => (s.sampleBatch * s.newTokens) / t))),
        sample_batch: s.sampleBatch,
        prompt: s.prompt,
        new_tokens: s.newTokens,
        peak_rss_gib: peakRssGib(),
        arena_gib: round(engine.arena.usedBytes / 2 ** 30),
        estimate_gib: round(estimate.total / 2 ** 30),
        ...meta,
      });
    }
  } finally {
    folder?.close();
  }
}

/** "the qwen2.5-0.5b shape (24 layers), full fine-tuning at batch 4 x 256 and sampling 8 x (32 + 32)". */
function describePlan(label: string, config: ModelConfig, s: ModelBenchSettings): string {
  const model = 'dir' in s.source ? `${label} (${config.numHiddenLayers} layers)` : `the ${label} shape (${config.numHiddenLayers} layers)`;
  const work: string[] = [];
  if (s.train) work.push(`${s.loraRank > 0 ? `LoRA r${s.loraRank} training` : 'full fine-tuning'} at batch ${s.batch} x ${s.seq}`);
  if (s.sample) work.push(`sampling ${s.sampleBatch} x (${s.prompt} + ${s.newTokens}) tokens`);
  return `${model}, ${work.join(' and ')},`;
}

/** The flag changes that would make a refused plan fit, each with its estimate. */
function fitHints(plan: MemoryPlan, s: ModelBenchSettings): string[] {
  const hints: string[] = [];
  const estimateOf = (p: MemoryPlan) => `about ${gib(estimateArenaBytes(p).total)} GiB`;
  if ('shape' in s.source) {
    const layers = maxLayersThatFit(plan);
    if (layers > 0) hints.push(`--layers ${layers} or fewer`);
  }
  if (s.train) {
    // The largest batch that fits, as it is and with a rank-16 adapter over a frozen base.
    const variants: Array<[string, MemoryPlan]> = [['', plan]];
    if (s.loraRank === 0) variants.push(['--lora-rank 16', { ...plan, trainable: false, loraRank: 16 }]);
    for (const [flag, variant] of variants) {
      const batch = largestFittingBatch(variant, s);
      if (batch === 0 || (batch === s.batch && flag === '')) continue;
      const fitted = { ...variant, trainRows: batch * s.seq };
      hints.push(`${[flag, batch < s.batch ? `--batch ${batch}` : ''].filter(Boolean).join(' ')} (${estimateOf(fitted)})`);
    }
  }
  if (s.train && s.sample) {
    const sampleOnly = { ...plan, trainable: false, loraRank: 0, optimizer: false, trainRows: 0 };
    if (fits(sampleOnly)) hints.push(`--sample-only (${estimateOf(sampleOnly)})`);
  }
  return hints;
}

/** The largest training batch (<= the one asked for) at which `plan` fits; 0 when none does. */
function largestFittingBatch(plan: MemoryPlan, s: ModelBenchSettings): number {
  for (let batch = s.batch; batch >= 1; batch--) if (fits({ ...plan, trainRows: batch * s.seq })) return batch;
  return 0;
}

/** Milliseconds of each timed training step (mean NLL on random ids), after `warmup` untimed steps (default 1). */
export function timeTrainSteps(model: LlamaModel, trained: { zeroGrad(): void }, opt: AdamW, s: { batch: number; seq: number; iters: number; warmup?: number }): number[] {
  const rng = new Rng(1);
  const { batch: B, seq: T } = s;
  const V = model.config.vocabSize;
  const tokens = Int32Array.from({ length: B * T }, () => rng.int(V));
  const targets = Int32Array.from({ length: B * T }, (_, n) => ((n + 1) % T === 0 ? -1 : tokens[n + 1]));
  const dlogp = Float32Array.from(targets, (t) => (t >= 0 ? -1 / (B * (T - 1)) : 0)); // mean NLL
  const times: number[] = [];
  const warmup = s.warmup ?? 1;
  for (let i = 0; i < s.iters + warmup; i++) {
    const start = performance.now();
    trained.zeroGrad();
    model.forward(tokens, targets, B, T);
    model.backward(dlogp);
    opt.update();
    if (i >= warmup) times.push(performance.now() - start);
  }
  return times;
}

/** Seconds of each timed sampling run (random prompts, temperature 1), after one warmup run. */
export function timeSampling(model: LlamaModel, s: { sampleBatch: number; prompt: number; newTokens: number; iters: number }): number[] {
  const rng = new Rng(2);
  const V = model.config.vocabSize;
  const prompts = Array.from({ length: s.sampleBatch }, () => Array.from({ length: s.prompt }, () => rng.int(V)));
  const times: number[] = [];
  for (let i = 0; i < s.iters + 1; i++) {
    const start = performance.now();
    // No stop tokens: every sequence makes exactly newTokens tokens.
    generate(model, prompts, { maxNewTokens: s.newTokens, temperature: 1, rng: new Rng(10 + i) });
    if (i >= 1) times.push((performance.now() - start) / 1000);
  }
  return times;
}

/** Peak resident set of this process so far, GiB (Linux ru_maxrss is in KiB). */
function peakRssGib(): number {
  return round(process.resourceUsage().maxRSS / 2 ** 20);
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

export function round(x: number): number {
  return Math.round(x * 100) / 100;
}
