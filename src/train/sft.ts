/**
 * Supervised fine-tuning: maximise log p(response | prompt) over response tokens (token-mean). It is
 * the warm start before RL, and RAFT's update (SFT on the correct samples only).
 */
import { join } from 'node:path';
import { createEngine, type Engine } from '../engine/kernels/index.js';
import { LlamaModel } from '../engine/model.js';
import { AdamW, clipGradNorm, constantSchedule, warmupCosineSchedule, type Schedule } from '../engine/optim.js';
import { PRESETS } from '../engine/config.js';
import { loadModel, saveModel } from '../engine/io.js';
import { savePeftAdapter } from '../engine/peft.js';
import { getTask } from '../tasks/index.js';
import { PrlError } from '../util/errors.js';
import { createProgress, formatDuration } from '../util/progress.js';
import { Rng } from '../util/rng.js';
import { packBatch, type PackedBatch } from './batch.js';
import { createCodec, taskTokenizer } from '../tasks/codec.js';
import type { SftConfig } from './config.js';
import { DataOrder } from './data-order.js';
import { trainedParameters, type TrainedParameters } from './lora-training.js';
import { RunFolder } from './run-folder.js';

export interface SupervisedStepResult {
  /** Mean negative log-likelihood per response token. */
  loss: number;
  gradNorm: number;
  tokens: number;
}

/**
 * One optimiser step of token-mean cross-entropy on the response tokens of `batch`. Throws when the
 * loss or the gradient norm is not finite, before the weights are touched.
 */
export function supervisedStep(model: LlamaModel, trained: TrainedParameters, optimizer: AdamW, engine: Engine, batch: PackedBatch, lr: number, maxGradNorm: number): SupervisedStepResult {
  trained.zeroGrad();
  const logp = model.forward(batch.tokens, batch.targets, batch.B, batch.T);
  let count = 0;
  let sum = 0;
  for (let i = 0; i < batch.targets.length; i++) {
    if (batch.targets[i] >= 0) {
      count++;
      sum += logp[i];
    }
  }
  if (count === 0) return { loss: 0, gradNorm: 0, tokens: 0 };
  const dlogp = new Float32Array(batch.targets.length);
  for (let i = 0; i < dlogp.length; i++) if (batch.targets[i] >= 0) dlogp[i] = -1 / count;
  model.backward(dlogp);
  const gradNorm = clipGradNorm(engine.kernels, trained.shards.map((s) => s.grads), maxGradNorm);
  const loss = -sum / count;
  if (!Number.isFinite(loss) || !Number.isFinite(gradNorm)) throw new PrlError(`non-finite loss (${loss}) or gradient norm (${gradNorm}); the update was skipped`);
  optimizer.update(lr);
  return { loss, gradNorm, tokens: count };
}

export function learningRateSchedule(kind: 'constant' | 'cosine', warmup: number, total: number): Schedule {
  return kind === 'constant' ? constantSchedule() : warmupCosineSchedule(warmup, total, 0.1);
}

export interface SftSummary {
  steps: number;
  finalLoss: number;
  /** The trained model folder (full fine-tuning), or */
  modelDir?: string;
  /** the trained adapter, a PEFT folder (LoRA). */
  adapterDir?: string;
  seconds: number;
}

/**
 * `prl sft`: trains a model (a fresh one of `preset`, or `model`) on the task's supervised corpus and
 * writes DIR/model (a Hugging Face-layout folder; with LoRA, DIR/adapter, a PEFT folder), DIR/metrics.jsonl
 * and DIR/config.json.
 */
export async function runSft(config: SftConfig, outDir: string, options: { quiet?: boolean } = {}): Promise<SftSummary> {
  const engine = await createEngine({ threads: config.threads, provider: config.provider });
  try {
    const task = getTask(config.task, config.taskOptions);
    const run = new RunFolder(outDir);
    run.writeJson('config.json', config);
    const rng = new Rng(config.seed);
    let model: LlamaModel;
    let tokenizer;
    const trainable = config.loraRank === 0;
    if (config.model) {
      // Placement of a model past one 4 GiB memory: the step's sequences at up to 512 tokens.
      const work = { optimizer: true, loraRank: config.loraRank, trainRows: config.batchSize * 512 };
      ({ model, tokenizer } = loadModel(config.model, engine, { trainable, recompute: config.recompute, work }));
    } else {
      tokenizer = taskTokenizer(task);
      model = new LlamaModel({ ...PRESETS[config.preset], vocabSize: tokenizer.vocabSize }, engine.arena, engine.kernels, { trainable, recompute: config.recompute });
      model.initRandom(rng.fork());
    }
    // The adapter's initialisation has a stream of its own, so full fine-tuning draws what it always drew.
    const trained = trainedParameters(model, engine, config, new Rng(config.seed).fork());
    const codec = createCodec(task, tokenizer);
    const examples = codec.sftExamples(config.examples, rng.fork());
    const order = new DataOrder(examples.length, config.seed);
    const optimizer = new AdamW(trained, engine.arena, engine.kernels, { lr: config.lr, weightDecay: config.weightDecay });
    const schedule = learningRateSchedule(config.lrSchedule, config.warmupSteps, config.steps);
    const progress = createProgress(process.stderr, 25, options.quiet === true);
    const started = performance.now();
    let loss = NaN;
    for (let step = 1; step <= config.steps; step++) {
      const picked = order.next(config.batchSize).map((i) => examples[i]);
      const batch = packBatch(picked.map((e) => e.prompt), picked.map((e) => e.response));
      const lr = config.lr * schedule(step - 1);
      const result = supervisedStep(model, trained, optimizer, engine, batch, lr, config.maxGradNorm);
      loss = result.loss;
      run.appendRow('metrics.jsonl', { step, loss: result.loss, grad_norm: result.gradNorm, lr, tokens: result.tokens });
      const elapsed = (performance.now() - started) / 1000;
      progress.update(`sft step ${step}/${config.steps}  loss ${loss.toFixed(4)}  ETA ${formatDuration((elapsed / step) * (config.steps - step))}`);
      if (step % config.checkpointEvery === 0 || step === config.steps) {
        if (trained.adapter) savePeftAdapter(join(outDir, 'adapter'), trained.adapter, { baseModel: config.model });
        else saveModel(join(outDir, 'model'), model, tokenizer);
      }
    }
    progress.done();
    const saved = trained.adapter ? { adapterDir: join(outDir, 'adapter') } : { modelDir: join(outDir, 'model') };
    const summary = { steps: config.steps, finalLoss: loss, ...saved, seconds: (performance.now() - started) / 1000 };
    run.writeJson('summary.json', summary);
    return summary;
  } finally {
    await engine.kernels.dispose();
  }
}
