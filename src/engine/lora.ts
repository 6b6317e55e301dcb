/**
 * LoRA adapters (Hu et al. 2021, "LoRA: Low-Rank Adaptation of Large Language Models") on the linear
 * layers of a `LlamaModel`: y = W x + b + scale · B (A x), with A (r, in), B (out, r) and
 * scale = alpha / r (rsLoRA, Kalajdzievski 2023: alpha / sqrt(r)).
 *
 * The adapter owns two flat blocks (weights, grads) laid out like the model's, so `AdamW` and
 * `clipGradNorm` run over it unchanged while the base model stays frozen. Initialisation follows PEFT:
 * A ~ kaiming_uniform(a = sqrt(5)) = U(-1/sqrt(in), 1/sqrt(in)), B = 0, so a fresh adapter leaves the
 * base's outputs exactly unchanged.
 */
import { inputError } from '../util/errors.js';
import type { Rng } from '../util/rng.js';
import type { ModelConfig } from './config.js';
import type { Kernels } from './kernels/types.js';
import type { Arena } from './memory.js';
import type { ParamShard } from './optim.js';

export const LORA_TARGETS = ['q', 'k', 'v', 'o', 'gate', 'up', 'down'] as const;
export type LoraTarget = (typeof LORA_TARGETS)[number];

/** HF module path of each target inside `model.layers.N` (PEFT's `target_modules` are the last part). */
export const LORA_MODULES: Record<LoraTarget, string> = {
  q: 'self_attn.q_proj',
  k: 'self_attn.k_proj',
  v: 'self_attn.v_proj',
  o: 'self_attn.o_proj',
  gate: 'mlp.gate_proj',
  up: 'mlp.up_proj',
  down: 'mlp.down_proj',
};

export interface LoraOptions {
  rank: number;
  /** Default 2 · rank (scale 2, or 2 · sqrt(rank) with rsLoRA). */
  alpha?: number;
  /** rsLoRA: scale = alpha / sqrt(rank) instead of alpha / rank. */
  rslora?: boolean;
  /** Default all seven. */
  targets?: readonly LoraTarget[];
}

export interface LoraConfig {
  rank: number;
  alpha: number;
  rslora: boolean;
  targets: LoraTarget[]; // in LORA_TARGETS order
}

/** One adapted linear layer: views into the adapter's weight and gradient blocks. */
export interface LoraPair {
  inDim: number;
  outDim: number;
  a: Float32Array; // (r, in)
  b: Float32Array; // (out, r)
  dA: Float32Array; // (r, in)
  dB: Float32Array; // (out, r)
}

/** Per target, a (rows, r) buffer holding scale · x Aᵀ (the forward saves it for the backward). */
export type LoraScratch = Partial<Record<LoraTarget, Float32Array>>;

/** Shape (out, in) of a target's base weight in a model of this config. */
export function targetShape(config: ModelConfig, target: LoraTarget): [number, number] {
  const { hiddenSize: C, intermediateSize: I, numAttentionHeads: nH, numKeyValueHeads: nKv, headDim: hd } = config;
  switch (target) {
    case 'q':
      return [nH * hd, C];
    case 'k':
    case 'v':
      return [nKv * hd, C];
    case 'o':
      return [C, nH * hd];
    case 'gate':
    case 'up':
      return [I, C];
    case 'down':
      return [C, I];
  }
}

export function resolveLoraConfig(options: LoraOptions): LoraConfig {
  const { rank } = options;
  if (!(Number.isInteger(rank) && rank > 0)) throw inputError('LoRA rank', `must be a positive integer, got ${rank}`);
  const alpha = options.alpha ?? 2 * rank;
  if (!(Number.isFinite(alpha) && alpha > 0)) throw inputError('LoRA alpha', `must be a positive number, got ${alpha}`);
  const wanted = options.targets ?? LORA_TARGETS;
  for (const t of wanted) if (!LORA_TARGETS.includes(t)) throw inputError('LoRA targets', `unknown target ${JSON.stringify(t)}; expected some of ${LORA_TARGETS.join(', ')}`);
  const targets = LORA_TARGETS.filter((t) => wanted.includes(t));
  if (targets.length === 0) throw inputError('LoRA targets', 'must name at least one module');
  return { rank, alpha, rslora: options.rslora ?? false, targets };
}

/** Parameters are aligned to 16 floats inside the flat blocks, as the model's are. */
const PARAM_ALIGN = 16;

function alignedFloats(sizes: readonly number[]): number {
  return sizes.reduce((sum, n) => sum + Math.ceil(n / PARAM_ALIGN) * PARAM_ALIGN, 0);
}

/**
 * Floats in each of an adapter's two blocks (weights, grads) for a model of this config: what
 * `new LoraAdapter(model, arena, options)` takes from the arena, known before allocating (a server
 * picks a slot for an adapter by it).
 */
export function loraBlockFloats(model: ModelConfig, options: LoraOptions): number {
  const { rank: r, targets } = resolveLoraConfig(options);
  const sizes: number[] = [];
  for (let l = 0; l < model.numHiddenLayers; l++) {
    for (const t of targets) {
      const [out, inDim] = targetShape(model, t);
      sizes.push(r * inDim, out * r);
    }
  }
  return alignedFloats(sizes);
}

export class LoraAdapter {
  readonly config: LoraConfig;
  readonly scale: number;
  /**
   * A then B of every adapted layer, flat, in `parameters()` order, with their gradients: one shard per
   * arena segment holding the model's layers (`layerSegments`), so each pair sits beside its layer.
   */
  readonly shards: readonly ParamShard[];
  /** The segment of each layer's pairs (the model's placement it was built for). */
  readonly layerSegments: readonly number[];
  /** layers[l][target]: the pair on that layer's module, absent when the target is not adapted. */
  readonly layers: Array<Partial<Record<LoraTarget, LoraPair>>>;
  private readonly params: Array<{ name: string; shape: number[]; data: Float32Array; grad: Float32Array }>;

  /** `layerSegments`: the model's (LlamaModel.layerSegments); default every layer in segment 0. */
  constructor(model: ModelConfig, arena: Arena, options: LoraOptions, layerSegments?: readonly number[]) {
    this.config = resolveLoraConfig(options);
    const { rank: r, alpha, rslora, targets } = this.config;
    this.scale = rslora ? alpha / Math.sqrt(r) : alpha / r;
    const L = model.numHiddenLayers;
    const segments = layerSegments ?? new Array<number>(L).fill(0);
    if (segments.length !== L) throw inputError('LoRA adapter', `has placement for ${segments.length} layers, the model ${L}`);
    this.layerSegments = [...segments];
    const specs: Array<{ name: string; shape: number[]; layer: number }> = [];
    for (let l = 0; l < L; l++) {
      for (const t of targets) {
        const [out, inDim] = targetShape(model, t);
        specs.push({ name: loraName(l, t, 'A'), shape: [r, inDim], layer: l }, { name: loraName(l, t, 'B'), shape: [out, r], layer: l });
      }
    }
    const views = new Map<string, { data: Float32Array; grad: Float32Array }>();
    const shards: ParamShard[] = [];
    for (const segment of [...new Set(segments)].sort((a, b) => a - b)) {
      const own = specs.filter((spec) => segments[spec.layer] === segment);
      const sizes = own.map((spec) => spec.shape[0] * spec.shape[1]);
      const mem = arena.segment(segment);
      const total = alignedFloats(sizes);
      const shard: ParamShard = { segment, weights: mem.allocF32(total), grads: mem.allocF32(total) };
      shards.push(shard);
      let offset = 0;
      own.forEach((spec, i) => {
        views.set(spec.name, { data: shard.weights.subarray(offset, offset + sizes[i]), grad: shard.grads.subarray(offset, offset + sizes[i]) });
        offset += Math.ceil(sizes[i] / PARAM_ALIGN) * PARAM_ALIGN;
      });
    }
    this.shards = shards;
    this.params = specs.map((spec) => ({ name: spec.name, shape: spec.shape, ...views.get(spec.name)! }));
    this.layers = [];
    let p = 0;
    for (let l = 0; l < L; l++) {
      const layer: Partial<Record<LoraTarget, LoraPair>> = {};
      for (const t of targets) {
        const [A, B] = [this.params[p++], this.params[p++]];
        layer[t] = { inDim: A.shape[1], outDim: B.shape[0], a: A.data, b: B.data, dA: A.grad, dB: B.grad };
      }
      this.layers.push(layer);
    }
  }

  /** The flat weights of an adapter held in one segment (tests, tools); one over several has `shards`. */
  get weights(): Float32Array {
    return this.singleShard('weights').weights;
  }

  /** The flat gradients of an adapter held in one segment. */
  get grads(): Float32Array {
    return this.singleShard('grads').grads;
  }

  private singleShard(what: string): ParamShard {
    if (this.shards.length !== 1) throw new Error(`LoraAdapter.${what}: the adapter spans ${this.shards.length} arena segments; use its shards`);
    return this.shards[0];
  }

  /** A and B of every adapted module, named `model.layers.N.<module>.lora_A.weight` (PEFT's names less `base_model.model.`). */
  parameters(): Array<{ name: string; shape: number[]; data: Float32Array; grad: Float32Array }> {
    return this.params;
  }

  /** PEFT's initialisation: A ~ U(-1/sqrt(in), 1/sqrt(in)) (kaiming_uniform with a = sqrt(5)), B = 0. */
  initRandom(rng: Rng): void {
    for (const layer of this.layers) {
      for (const t of this.config.targets) {
        const pair = layer[t]!;
        const bound = 1 / Math.sqrt(pair.inDim);
        for (let i = 0; i < pair.a.length; i++) pair.a[i] = bound * (2 * rng.next() - 1);
        pair.b.fill(0);
      }
    }
  }

  zeroGrad(): void {
    for (const shard of this.shards) shard.grads.fill(0);
  }
}

/** Copies every A and B of `from` into `to` by name (same config; the placements may differ). */
export function copyAdapterWeights(from: LoraAdapter, to: LoraAdapter): void {
  const source = new Map(from.parameters().map((p) => [p.name, p.data]));
  for (const p of to.parameters()) {
    const data = source.get(p.name);
    if (!data || data.length !== p.data.length) throw inputError(`LoRA adapter: ${p.name}`, 'is missing from the adapter being copied, or has another shape');
    p.data.set(data);
  }
}

export function loraName(layer: number, target: LoraTarget, matrix: 'A' | 'B'): string {
  return `model.layers.${layer}.${LORA_MODULES[target]}.lora_${matrix}.weight`;
}

/** y (R, out) += u · Bᵀ with u (R, r) = scale · x Aᵀ kept for `loraBackward`; x (R, in). */
export function loraForward(k: Kernels, pair: LoraPair, scale: number, y: Float32Array, x: Float32Array, u: Float32Array, R: number): void {
  const r = pair.a.length / pair.inDim;
  k.matmul(u, x, pair.a, R, r, pair.inDim, 'nt', false); // (R, r)
  k.scale(u, scale, R * r);
  k.matmul(y, u, pair.b, R, pair.outDim, r, 'nt', true); // (R, out)
}

/**
 * Backward of `loraForward` given dy (R, out): dB += dyᵀ u, du = scale · dy B, dA += duᵀ x, and
 * dx (R, in) += du A (on top of the base layer's share, already in dx). `du` is (R, r) scratch.
 */
export function loraBackward(k: Kernels, pair: LoraPair, scale: number, dx: Float32Array, dy: Float32Array, x: Float32Array, u: Float32Array, du: Float32Array, R: number): void {
  const r = pair.a.length / pair.inDim;
  k.matmul(pair.dB, dy, u, pair.outDim, r, R, 'tn', true); // dB (out, r)
  k.matmul(du, dy, pair.b, R, r, pair.outDim, 'nn', false); // (R, r)
  k.scale(du, scale, R * r);
  k.matmul(pair.dA, du, x, r, pair.inDim, R, 'tn', true); // dA (r, in)
  k.matmul(dx, du, pair.a, R, pair.inDim, r, 'nn', true); // dx (R, in)
}

/**
 * W += scale · B A for every adapted module of `base` (weights by HF name, e.g. a model's
 * `parameters()`), the product summed in float64: the merged model then computes what base + adapter do.
 */
export function mergeAdapter(adapter: LoraAdapter, base: ReadonlyArray<{ name: string; data: Float32Array | Uint16Array }>): void {
  const byName = new Map(base.map((p) => [p.name, p.data]));
  const r = adapter.config.rank;
  adapter.layers.forEach((layer, l) => {
    for (const t of adapter.config.targets) {
      const pair = layer[t]!;
      const name = `model.layers.${l}.${LORA_MODULES[t]}.weight`;
      const W = byName.get(name);
      if (!W || W.length !== pair.outDim * pair.inDim) throw inputError(`merge: ${name}`, `missing or not of shape (${pair.outDim}, ${pair.inDim})`);
      if (W instanceof Uint16Array) throw inputError(`merge: ${name}`, 'is held in bfloat16; merge into a float32 model');
      for (let o = 0; o < pair.outDim; o++) {
        for (let i = 0; i < pair.inDim; i++) {
          let sum = 0;
          for (let j = 0; j < r; j++) sum += pair.b[o * r + j] * pair.a[j * pair.inDim + i];
          W[o * pair.inDim + i] += adapter.scale * sum;
        }
      }
    }
  });
}
