/**
 * AdamW over the model's flat weight and gradient blocks, global-norm gradient clipping, and learning
 * rate schedules. The moments live in the engine arena beside the weights, so one kernel call updates
 * every parameter.
 */
import { inputError } from '../util/errors.js';
import type { Kernels } from './kernels/types.js';
import type { Arena } from './memory.js';

export interface AdamWOptions {
  lr: number;
  beta1?: number; // default 0.9
  beta2?: number; // default 0.999
  eps?: number; // default 1e-8
  /** Decoupled weight decay; applied only to matrices (2-D parameters), not to norms and biases. */
  weightDecay?: number; // default 0
}

/** What the optimiser needs of a model: flat blocks plus the parameter views inside them. */
export interface Trainable {
  readonly weights: Float32Array;
  readonly grads: Float32Array;
  parameters(): Array<{ name: string; shape: number[]; data: Float32Array }>;
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
  private readonly m: Float32Array;
  private readonly v: Float32Array;
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
    if (model.grads.length !== model.weights.length) throw inputError('AdamW', `the model has ${model.grads.length} gradient values for ${model.weights.length} weights (a frozen model cannot be trained)`);
    this.model = model;
    this.kernels = kernels;
    this.m = arena.allocF32(model.weights.length);
    this.v = arena.allocF32(model.weights.length);
  }

  /** One update of every parameter from the current gradients; `lr` overrides the stored rate (schedules). */
  update(lr: number = this.lr): void {
    this.step += 1;
    const { weights, grads } = this.model;
    const k = this.kernels;
    if (this.weightDecay === 0) {
      k.adamw(weights, grads, this.m, this.v, weights.length, lr, this.beta1, this.beta2, this.eps, 0, this.step);
      return;
    }
    // Per parameter, so that norms and biases are not decayed (the nanoGPT / HF Trainer convention).
    const base = weights.byteOffset;
    for (const p of this.model.parameters()) {
      const start = (p.data.byteOffset - base) / 4;
      const end = start + p.data.length;
      const wd = p.shape.length >= 2 ? this.weightDecay : 0;
      k.adamw(p.data, grads.subarray(start, end), this.m.subarray(start, end), this.v.subarray(start, end), p.data.length, lr, this.beta1, this.beta2, this.eps, wd, this.step);
    }
  }

  /** A copy of the state for a checkpoint. */
  state(): AdamWState {
    return { step: this.step, m: this.m.slice(), v: this.v.slice() };
  }

  /** Restores a state saved by `state()` (exact resume). */
  load(state: AdamWState): void {
    if (state.m.length !== this.m.length || state.v.length !== this.v.length) {
      throw inputError('optimizer state', `has ${state.m.length}/${state.v.length} moment values, the model needs ${this.m.length}`);
    }
    if (!(Number.isInteger(state.step) && state.step >= 0)) throw inputError('optimizer state: step', `invalid value ${state.step}`);
    this.step = state.step;
    this.m.set(state.m);
    this.v.set(state.v);
  }
}

/**
 * Scales `grads` in place so that their global L2 norm is at most `maxNorm` (as
 * `torch.nn.utils.clip_grad_norm_`: factor maxNorm / (norm + 1e-6) when norm > maxNorm). Returns the norm
 * before clipping; a non-finite norm is returned without touching the gradients so the caller can skip
 * the step.
 */
export function clipGradNorm(kernels: Kernels, grads: Float32Array, maxNorm: number): number {
  const norm = Math.sqrt(kernels.sumSquares(grads, grads.length));
  if (Number.isFinite(norm) && norm > maxNorm) kernels.scale(grads, maxNorm / (norm + 1e-6), grads.length);
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
