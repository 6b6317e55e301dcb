/**
 * The PAV verifier: the engine's transformer trunk with a scalar head that predicts Q from a prefix
 * (Setlur et al., arXiv 2410.08146, Sec. 4; SPEC.md "PAV: training data and verifier").
 *
 *   Q_hat(prefix) = sigmoid(w · h_last + b),   h_last = final-norm hidden state (C) of the prefix's last token
 *
 * read at the end of each step (and at the last prompt token for V at the prompt). Trained by
 * cross-entropy on the soft Monte Carlo labels, with the two classes (Q_hat < 0.5, >= 0.5) balanced by
 * weights N / (2 N_c). Saved as a model folder plus `value_head.safetensors` (`value_head.weight` (1, C),
 * `value_head.bias` (1)) and a `prl_value_head` entry in config.json.
 */
import { existsSync } from 'node:fs';
import { bestOfKValue, progressAdvantages } from '../algos/index.js';
import { join } from 'node:path';
import type { Engine } from '../engine/kernels/index.js';
import { loadModel, saveModel } from '../engine/io.js';
import type { LlamaModel } from '../engine/model.js';
import { AdamW, clipGradNorm } from '../engine/optim.js';
import { SafetensorsFile, writeSafetensors } from '../engine/safetensors.js';
import type { Tokenizer } from '../engine/tokenizer.js';
import { PrlError } from '../util/errors.js';
import { readJsonFile, writeJsonAtomic } from '../util/fs.js';
import type { Rng } from '../util/rng.js';
import { bestOfKOf, type LabelRecord } from './labels.js';

/** What config.json's `prl_value_head` records. */
export interface VerifierMeta {
  file: string;
  /** What the head predicts: Q of the rollout policy (`q_mc` of the labels). */
  target: string;
  /** The labels' prover: with `bok:K`, Q^BoK is computed from the prediction by the formula. */
  prover: string;
  readout: string;
  task?: string;
  taskOptions?: Record<string, unknown>;
}

export interface Verifier {
  model: LlamaModel;
  /** Head parameters (C + 1): the weight, then the bias; views in the engine arena. */
  head: Float32Array;
  headGrad: Float32Array;
  meta: VerifierMeta;
}

/** One training sequence: token ids (prompt + response), readout positions and their soft labels. */
export interface VerifierExample {
  tokens: number[];
  positions: number[];
  targets: number[];
  /** Group id (the problem) for held-out splits. */
  group: string;
}

/** A verifier over `model` with a fresh head: weight ~ N(0, 0.02²), bias 0. */
export function createVerifier(model: LlamaModel, engine: Engine, rng: Rng, meta: Partial<VerifierMeta> = {}): Verifier {
  const C = model.config.hiddenSize;
  const head = engine.arena.allocF32(C + 1);
  for (let c = 0; c < C; c++) head[c] = 0.02 * rng.normal();
  return { model, head, headGrad: engine.arena.allocF32(C + 1), meta: { file: 'value_head.safetensors', target: 'q_mc', prover: 'policy', readout: 'final-norm hidden state of the last token of each step', ...meta } };
}

/** The head as an optimiser target (AdamW over its own flat block). */
function headTrainable(v: Verifier) {
  const C = v.model.config.hiddenSize;
  return { shards: [{ segment: 0, weights: v.head, grads: v.headGrad }], parameters: () => [{ name: 'value_head.weight', shape: [1, C], data: v.head.subarray(0, C) }, { name: 'value_head.bias', shape: [1], data: v.head.subarray(C) }] };
}

/** Pads sequences into one (B, T) batch (padding after the end does not reach earlier positions: causal). */
function padBatch(sequences: readonly (readonly number[])[]): { tokens: Int32Array; B: number; T: number } {
  const B = sequences.length;
  const T = Math.max(1, ...sequences.map((s) => s.length));
  const tokens = new Int32Array(B * T);
  sequences.forEach((s, b) => tokens.set(s, b * T));
  return { tokens, B, T };
}

/** Head logits z = w · h + b at each readout of each sequence (B examples; one forward). */
function headLogits(v: Verifier, hidden: Float32Array, T: number, positions: readonly (readonly number[])[]): number[][] {
  const C = v.model.config.hiddenSize;
  return positions.map((ps, b) =>
    ps.map((t) => {
      let z = v.head[C];
      const row = (b * T + t) * C;
      for (let c = 0; c < C; c++) z += v.head[c] * hidden[row + c];
      return z;
    }),
  );
}

export function sigmoid(z: number): number {
  return z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z));
}

/** Q_hat at the readout positions of each sequence, in batches of `batchSize`. */
export function verifierPredict(v: Verifier, sequences: readonly (readonly number[])[], positions: readonly (readonly number[])[], batchSize = 16): number[][] {
  const out: number[][] = [];
  for (let start = 0; start < sequences.length; start += batchSize) {
    const { tokens, B, T } = padBatch(sequences.slice(start, start + batchSize));
    const hidden = v.model.forwardHidden(tokens, B, T);
    for (const zs of headLogits(v, hidden, T, positions.slice(start, start + batchSize))) out.push(zs.map(sigmoid));
  }
  return out;
}

/**
 * Weighted binary cross-entropy with soft labels y: L = sum_i w_i [softplus(z_i) - y_i z_i] / sum_i w_i
 * (= -y log p - (1-y) log(1-p) with p = sigmoid(z)), w_i the class weight of y_i. Runs forward and
 * backward, ACCUMULATING gradients into the trunk's and the head's grads; returns L.
 */
export function verifierLossAndBackward(v: Verifier, batch: readonly VerifierExample[], classWeight: (y: number) => number): number {
  const C = v.model.config.hiddenSize;
  const { tokens, B, T } = padBatch(batch.map((e) => e.tokens));
  const hidden = v.model.forwardHidden(tokens, B, T);
  const logits = headLogits(v, hidden, T, batch.map((e) => e.positions));
  let weightSum = 0;
  batch.forEach((e) => e.targets.forEach((y) => (weightSum += classWeight(y))));
  if (weightSum === 0) return 0;
  let loss = 0;
  const dhidden = new Float32Array(B * T * C);
  batch.forEach((e, b) =>
    e.positions.forEach((t, i) => {
      const z = logits[b][i];
      const y = e.targets[i];
      const w = classWeight(y) / weightSum;
      loss += w * (Math.max(z, 0) + Math.log1p(Math.exp(-Math.abs(z))) - y * z);
      const dz = w * (sigmoid(z) - y); // (B*T) sparse
      const row = (b * T + t) * C;
      for (let c = 0; c < C; c++) {
        dhidden[row + c] += dz * v.head[c];
        v.headGrad[c] += dz * hidden[row + c];
      }
      v.headGrad[C] += dz;
    }),
  );
  v.model.backwardHidden(dhidden);
  return loss;
}

/** Balanced class weights N / (2 N_c) over the classes y < 0.5 and y >= 0.5 (a missing class weighs 0). */
export function balancedClassWeights(targets: readonly number[]): (y: number) => number {
  const high = targets.filter((y) => y >= 0.5).length;
  const low = targets.length - high;
  const wHigh = high === 0 ? 0 : targets.length / (2 * high);
  const wLow = low === 0 ? 0 : targets.length / (2 * low);
  return (y) => (y >= 0.5 ? wHigh : wLow);
}

/** Reliability of predictions against soft labels: equal-width bins, ECE = sum_b (n_b / N) |mean p_b - mean y_b|. */
export function calibration(predictions: readonly number[], labels: readonly number[], bins = 10): { ece: number; table: Array<{ bin: string; count: number; predicted: number; observed: number }> } {
  const sums = Array.from({ length: bins }, () => ({ count: 0, p: 0, y: 0 }));
  predictions.forEach((p, i) => {
    const s = sums[Math.min(bins - 1, Math.floor(p * bins))];
    s.count++;
    s.p += p;
    s.y += labels[i];
  });
  let ece = 0;
  const table = sums.flatMap((s, b) => {
    if (s.count === 0) return [];
    ece += (s.count / predictions.length) * Math.abs(s.p / s.count - s.y / s.count);
    return [{ bin: `${(b / bins).toFixed(1)}-${((b + 1) / bins).toFixed(1)}`, count: s.count, predicted: s.p / s.count, observed: s.y / s.count }];
  });
  return { ece, table };
}

export interface VerifierTrainOptions {
  steps: number;
  batchSize: number;
  lr: number;
  /** Linear warmup steps, then cosine decay to 10% (the paper: warmup then cosine). */
  warmupSteps: number;
  maxGradNorm: number;
  rng: Rng;
  onStep?: (step: number, loss: number) => void;
}

/** Trains trunk and head with AdamW on shuffled mini-batches; returns the last step's loss. */
export function trainVerifier(v: Verifier, engine: Engine, examples: readonly VerifierExample[], options: VerifierTrainOptions): number {
  if (examples.length === 0) throw new PrlError('verifier train: no labelled prefixes');
  const classWeight = balancedClassWeights(examples.flatMap((e) => e.targets));
  const trunkOpt = new AdamW(v.model, engine.arena, engine.kernels, { lr: options.lr });
  const headOpt = new AdamW(headTrainable(v), engine.arena, engine.kernels, { lr: options.lr });
  const order = examples.map((_, i) => i);
  let cursor = order.length;
  let loss = NaN;
  for (let step = 1; step <= options.steps; step++) {
    const batch: VerifierExample[] = [];
    while (batch.length < Math.min(options.batchSize, examples.length)) {
      if (cursor >= order.length) {
        options.rng.shuffle(order);
        cursor = 0;
      }
      batch.push(examples[order[cursor++]]);
    }
    v.model.zeroGrad();
    v.headGrad.fill(0);
    loss = verifierLossAndBackward(v, batch, classWeight);
    const progress = step <= options.warmupSteps ? step / Math.max(1, options.warmupSteps) : 0.1 + 0.45 * (1 + Math.cos((Math.PI * (step - options.warmupSteps)) / Math.max(1, options.steps - options.warmupSteps)));
    const lr = options.lr * progress;
    const norm = clipGradNorm(engine.kernels, v.model.shards.map((s) => s.grads), options.maxGradNorm);
    clipGradNorm(engine.kernels, [v.headGrad], options.maxGradNorm);
    if (!Number.isFinite(loss) || !Number.isFinite(norm)) throw new PrlError(`verifier train: step ${step}: non-finite loss (${loss}) or gradient norm (${norm})`);
    trunkOpt.update(lr);
    headOpt.update(lr);
    options.onStep?.(step, loss);
  }
  return loss;
}

/** Saves the trunk as a model folder plus value_head.safetensors and config.json's `prl_value_head`. */
export function saveVerifier(dir: string, v: Verifier, tokenizer: Tokenizer): void {
  const C = v.model.config.hiddenSize;
  saveModel(dir, v.model, tokenizer);
  writeSafetensors(join(dir, v.meta.file), [
    { name: 'value_head.weight', shape: [1, C], data: v.head.subarray(0, C) },
    { name: 'value_head.bias', shape: [1], data: v.head.subarray(C) },
  ]);
  const config = readJsonFile(join(dir, 'config.json')) as Record<string, unknown>;
  writeJsonAtomic(join(dir, 'config.json'), { ...config, prl_value_head: v.meta });
}

/** Loads a folder written by `saveVerifier`; errors name the file when the head is missing. */
export function loadVerifier(dir: string, engine: Engine): { verifier: Verifier; tokenizer: Tokenizer } {
  const configPath = join(dir, 'config.json');
  const config = readJsonFile(configPath) as Record<string, unknown>;
  const meta = config.prl_value_head as VerifierMeta | undefined;
  if (!meta || typeof meta.file !== 'string') throw new PrlError(`${configPath}: no prl_value_head entry (not a verifier folder; train one with prl verifier train)`);
  const headPath = join(dir, meta.file);
  if (!existsSync(headPath)) throw new PrlError(`${headPath}: missing (the verifier's value head)`);
  const { model, tokenizer } = loadModel(dir, engine, { trainable: false });
  const C = model.config.hiddenSize;
  const head = engine.arena.allocF32(C + 1);
  const file = new SafetensorsFile(headPath);
  try {
    for (const [name, size, offset] of [['value_head.weight', C, 0], ['value_head.bias', 1, C]] as const) {
      const entry = file.entry(name);
      if (!entry || entry.shape.reduce((a, b) => a * b, 1) !== size) throw new PrlError(`${headPath}: tensor ${name} is missing or not of ${size} values`);
      file.read(name, head.subarray(offset, offset + size));
    }
  } finally {
    file.close();
  }
  return { verifier: { model, head, headGrad: engine.arena.allocF32(C + 1), meta }, tokenizer };
}

/** Prompt ids as the codecs build them: BOS (when the tokenizer has one), then the prompt's text. */
export function promptIds(tokenizer: Tokenizer, prompt: string): number[] {
  const ids = tokenizer.encode(prompt).ids;
  return tokenizer.bosId === undefined ? ids : [tokenizer.bosId, ...ids];
}

/** Label records (`prl label`) as training examples: V at the last prompt token, Q_hat^pi at each step end. */
export function examplesFromLabels(records: readonly LabelRecord[], tokenizer: Tokenizer): VerifierExample[] {
  return records
    .filter((r) => r.steps.length > 0)
    .map((r) => {
      const prompt = promptIds(tokenizer, r.prompt);
      const P = prompt.length;
      return { tokens: [...prompt, ...r.response_ids], positions: [P - 1, ...r.step_ends.map((e) => P + e)], targets: [r.v0_mc, ...r.q_mc], group: r.problem };
    });
}

/**
 * A text trace (prompt and steps) as ids and readouts: each step is encoded on its own, so every step
 * boundary falls on a token boundary. Readout 0 is the last prompt token (V at the prompt).
 */
export function traceReadouts(tokenizer: Tokenizer, prompt: string, steps: readonly string[]): { tokens: number[]; positions: number[] } {
  const tokens = promptIds(tokenizer, prompt);
  const positions = [tokens.length - 1];
  for (const step of steps) {
    tokens.push(...tokenizer.encode(step).ids);
    positions.push(tokens.length - 1);
  }
  return { tokens, positions };
}

/**
 * PAV scores of a trace from the verifier's predictions [V0, Q_1..Q_H] of Q^pi: the prover's Q (the
 * BoK formula when the labels' prover was bok:K) and the progress A^mu_h = Q^mu_h - Q^mu_{h-1}.
 */
export function pavScores(v: Verifier, predictions: readonly number[]): { qPi: number[]; q: number[]; advantages: number[] } {
  const k = bestOfKOf(v.meta.prover);
  const mu = predictions.map((q) => (k === null ? q : bestOfKValue(q, k)));
  return { qPi: predictions.slice(1), q: mu.slice(1), advantages: Array.from(progressAdvantages(mu.slice(1), mu[0])) };
}
