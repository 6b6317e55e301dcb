/**
 * AdamW over the model's flat weight and gradient blocks, global-norm gradient clipping, and learning
 * rate schedules. The moments live in the engine arena beside the weights, so one kernel call updates
 * every parameter.
 */
import { inputError } from '../util/errors.js';
import type { Kernels } from './kernels/types.js';
import type { WeightArray } from './bf16.js';
import type { Arena } from './memory.js';

export interface AdamWOptions {
  lr: number;
  beta1?: number; // default 0.9
  beta2?: number; // default 0.999
  eps?: number; // default 1e-8
  /** Decoupled weight decay; applied only to matrices (2-D parameters), not to norms and biases. */
  weightDecay?: number; // default 0
}

/** The parameters that live in one arena segment: flat weights and their gradients, same layout. */
export interface ParamShard {
  segment: number;
  weights: Float32Array;
  grads: Float32Array;
  /** The matrices of a frozen model held in bfloat16 (LlamaModelOptions.bf16Weights); absent otherwise. */
  weights16?: Uint16Array;
}

/** What the optimiser needs of a model: its flat blocks (one per segment) plus the parameter views inside them. */
export interface Trainable {
  readonly shards: readonly ParamShard[];
  parameters(): Array<{ name: string; shape: number[]; data: WeightArray }>;
}

/** Optimiser state for checkpoints: the step counter and copies of both moments. */
export interface AdamWState {
  step: number;
  m: Float32Array;
  v: Float32Array;
}

/**
 * AdamW (Loshchilov & Hutter 2019, "Decoupled Weight Decay Regularization") with bias-corrected moments,
 * matching `torch.optim.AdamW`: p -= lr · (m̂ / (sqrt(v̂) + eps) + wd · p).
 */
export class AdamW {
  lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  /** Updates applied so far; the next update uses step + 1 for bias correction. */
  step = 0;
  /** The moments per shard, in the shard's segment beside its weights. */
  private readonly m: Float32Array[];
  private readonly v: Float32Array[];
  private readonly model: Trainable;
  private readonly kernels: Kernels;

  constructor(model: Trainable, arena: Arena, kernels: Kernels, options: AdamWOptions) {
    this.lr = options.lr;
    this.beta1 = options.beta1 ?? 0.9;
    this.beta2 = options.beta2 ?? 0.999;
    this.eps = options.eps ?? 1e-8;
    this.weightDecay = options.weightDecay ?? 0;
    for (const [key, value, ok] of [
      ['lr', this.lr, this.lr >= 0],
      ['beta1', this.beta1, this.beta1 >= 0 && this.beta1 < 1],
      ['beta2', this.beta2, this.beta2 >= 0 && this.beta2 < 1],
      ['eps', this.eps, this.eps > 0],
      ['weightDecay', this.weightDecay, this.weightDecay >= 0],
    ] as const) {
      if (!ok || !Number.isFinite(value)) throw inputError(`AdamW: ${key}`, `invalid value ${value}`);
    }
    for (const { grads, weights, weights16 } of model.shards) {
      if (grads.length !== weights.length || (weights16?.length ?? 0) > 0) throw inputError('AdamW', `the model has ${grads.length} gradient values for ${weights.length} weights (a frozen model cannot be trained)`);
    }
    this.model = model;
    this.kernels = kernels;
    this.m = model.shards.map((s) => arena.segment(s.segment).allocF32(s.weights.length));
    this.v = model.shards.map((s) => arena.segment(s.segment).allocF32(s.weights.length));
  }

  /** One update of every parameter from the current gradients; `lr` overrides the stored rate (schedules). */
  update(lr: number = this.lr): void {
    this.step += 1;
    const k = this.kernels;
    if (this.weightDecay === 0) {
      this.model.shards.forEach(({ weights, grads }, i) => {
        k.adamw(weights, grads, this.m[i], this.v[i], weights.length, lr, this.beta1, this.beta2, this.eps, 0, this.step);
      });
      return;
    }
    // Per parameter, so that norms and biases are not decayed (the nanoGPT / HF Trainer convention).
    for (const p of this.model.parameters()) {
      if (p.data instanceof Uint16Array) throw new Error(`AdamW: ${p.name} is held in bfloat16 (a frozen model cannot be trained)`);
      const { shard, start } = locate(this.model.shards, p.data);
      const end = start + p.data.length;
      const wd = p.shape.length >= 2 ? this.weightDecay : 0;
      const { grads } = this.model.shards[shard];
      k.adamw(p.data, grads.subarray(start, end), this.m[shard].subarray(start, end), this.v[shard].subarray(start, end), p.data.length, lr, this.beta1, this.beta2, this.eps, wd, this.step);
    }
  }

  /**
   * A copy of the state for a checkpoint. The moments are laid out as one shard of the model would hold
   * them (every parameter in `parameters()` order, aligned to 16 floats), so a checkpoint resumes whatever
   * the placement of either run.
   */
  state(): AdamWState {
    if (this.m.length === 1) return { step: this.step, m: this.m[0].slice(), v: this.v[0].slice() };
    const slots = canonicalSlots(this.model);
    const m = new Float32Array(slots.total);
    const v = new Float32Array(slots.total);
    for (const { shard, start, length, at } of slots.parts) {
      m.set(this.m[shard].subarray(start, start + length), at);
      v.set(this.v[shard].subarray(start, start + length), at);
    }
    return { step: this.step, m, v };
  }

  /** Restores a state saved by `state()` (exact resume). */
  load(state: AdamWState): void {
    const slots = this.m.length === 1 ? null : canonicalSlots(this.model);
    const need = slots ? slots.total : this.m[0].length;
    if (state.m.length !== need || state.v.length !== need) {
      throw inputError('optimizer state', `has ${state.m.length}/${state.v.length} moment values, the model needs ${need}`);
    }
    if (!(Number.isInteger(state.step) && state.step >= 0)) throw inputError('optimizer state: step', `invalid value ${state.step}`);
    this.step = state.step;
    if (!slots) {
      this.m[0].set(state.m);
      this.v[0].set(state.v);
      return;
    }
    for (const { shard, start, length, at } of slots.parts) {
      this.m[shard].set(state.m.subarray(at, at + length), start);
      this.v[shard].set(state.v.subarray(at, at + length), start);
    }
  }
}

/** Floats a parameter's slot takes in a flat block (parameters are aligned to 16 floats, 64 bytes). */
const PARAM_ALIGN = 16;

/** Which shard holds the view `data`, and its float offset there. */
function locate(shards: readonly ParamShard[], data: WeightArray): { shard: number; start: number } {
  const shard = shards.findIndex((s) => s.weights.buffer === data.buffer && data.byteOffset >= s.weights.byteOffset && data.byteOffset < s.weights.byteOffset + s.weights.byteLength);
  if (shard < 0) throw new Error('AdamW: a parameter lies outside the model\'s shards');
  return { shard, start: (data.byteOffset - shards[shard].weights.byteOffset) / 4 };
}

/** Each parameter's place in its shard and in the single-shard layout (`at`), and that layout's length. */
function canonicalSlots(model: Trainable): { total: number; parts: Array<{ shard: number; start: number; length: number; at: number }> } {
  let total = 0;
  const parts = model.parameters().map((p) => {
    const { shard, start } = locate(model.shards, p.data);
    const part = { shard, start, length: p.data.length, at: total };
    total += Math.ceil(p.data.length / PARAM_ALIGN) * PARAM_ALIGN;
    return part;
  });
  return { total, parts };
}

/**
 * Scales the gradient blocks in place so that their global L2 norm is at most `maxNorm` (as
 * `torch.nn.utils.clip_grad_norm_`: factor maxNorm / (norm + 1e-6) when norm > maxNorm). Returns the norm
 * before clipping; a non-finite norm is returned without touching the gradients so the caller can skip
 * the step. Blocks are summed in order, so the norm is the same for any thread count.
 */
export function clipGradNorm(kernels: Kernels, grads: readonly Float32Array[], maxNorm: number): number {
  let sum = 0;
  for (const g of grads) sum += kernels.sumSquares(g, g.length);
  const norm = Math.sqrt(sum);
  if (Number.isFinite(norm) && norm > maxNorm) for (const g of grads) kernels.scale(g, maxNorm / (norm + 1e-6), g.length);
  return norm;
}

/** A learning-rate multiplier as a pure function of the 0-based step. */
export type Schedule = (step: number) => number;

/** Multiplier 1 at every step. */
export function constantSchedule(): Schedule {
  return () => 1;
}

/**
 * Linear warmup from 1/warmup to 1 over `warmup` steps, then a half cosine from 1 down to `minRatio` at
 * step `total` (Loshchilov & Hutter 2017, SGDR without restarts); `minRatio` after `total`.
 */
export function warmupCosineSchedule(warmup: number, total: number, minRatio: number): Schedule {
  if (!(warmup >= 0 && total > 0 && minRatio >= 0 && minRatio <= 1)) {
    throw inputError('warmupCosineSchedule', `needs warmup >= 0, total > 0 and 0 <= minRatio <= 1, got ${warmup}, ${total}, ${minRatio}`);
  }
  return (step) => {
    if (step < warmup) return (step + 1) / warmup;
    if (step >= total) return minRatio;
    const progress = (step - warmup) / Math.max(1, total - warmup);
    return minRatio + (1 - minRatio) * 0.5 * (1 + Math.cos(Math.PI * progress));
  };
}
