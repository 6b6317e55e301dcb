/**
 * How many bytes of the engine arena (./memory.ts) a model will take, known from its config before
 * anything is allocated, so that a model that cannot fit is refused up front with the numbers instead
 * of failing half-loaded with "out of engine memory".
 *
 * The count mirrors the allocations of `LlamaModel` (./model.ts: weights, gradients, RoPE tables;
 * ./model-buffers.ts: training activations, the sampling state), `LoraAdapter` (./lora.ts) and `AdamW`
 * (./optim.ts) one buffer at a time, with the arena's 64-byte rounding, so it equals `arena.usedBytes`
 * after the same work (test/cli/bench-model.test.ts checks this; a change to those allocations must
 * change this file).
 */
import { PrlError } from '../util/errors.js';
import type { ModelConfig } from './config.js';
import { LORA_TARGETS, loraBlockFloats, type LoraTarget } from './lora.js';
import { HEAD_CHUNK } from './head.js';
import { ARENA_MAX_BYTES } from './memory.js';
import { parameterSpecs } from './model-layout.js';
import { PREFILL_CHUNK } from './model-buffers.js';
import { samplingChunks } from './sampling-rows.js';

/** What will live in the arena: the model, how it is trained, and the largest batches it runs. */
export interface MemoryPlan {
  config: ModelConfig;
  /** false: a frozen base (inference, or under a LoRA adapter): no gradient block. */
  trainable: boolean;
  /** A LoRA adapter of this rank on `loraTargets` (default all seven); 0 or absent: none. */
  loraRank?: number;
  loraTargets?: readonly LoraTarget[];
  /** AdamW moments over what is trained (the adapter when there is one, else the whole model). */
  optimizer: boolean;
  /** Rows B*T of the largest training/scoring forward; 0 or absent: no training activations. */
  trainRows?: number;
  /** Per-layer activation checkpointing (`LlamaModelOptions.recompute`): one layer's activations kept, not L. */
  recompute?: boolean;
  /** KV caches for `batch` sequences of `maxT` positions (prompt + new tokens - 1); absent: no sampling. */
  sample?: { batch: number; maxT: number };
  /** Bytes already used before the model (the kernel module's data and stack: `arena.usedBytes`). */
  baseBytes?: number;
}

/** Bytes per part; `total` is what `arena.usedBytes` will be after the planned work. */
export interface MemoryEstimate {
  base: number;
  weights: number; // weights + RoPE tables
  gradients: number;
  adapter: number; // LoRA A, B and their gradients
  optimizer: number; // AdamW m and v
  activations: number; // training forward/backward buffers
  sampling: number; // KV caches and decode buffers
  total: number;
}

/** The arena's allocation granularity (memory.ts aligns every buffer to 64 bytes). */
const ALIGN = 64;
const PARAM_ALIGN = 16;

/** Bytes one `allocF32(n)` / `allocI32(n)` takes from the arena. */
function buffer(n: number): number {
  return Math.ceil((n * 4) / ALIGN) * ALIGN;
}

/** Floats in the model's flat weight block (each parameter aligned to 16 floats). */
export function modelBlockFloats(config: ModelConfig): number {
  return parameterSpecs(config).reduce((sum, s) => sum + Math.ceil(s.shape.reduce((a, b) => a * b, 1) / PARAM_ALIGN) * PARAM_ALIGN, 0);
}

export function estimateArenaBytes(plan: MemoryPlan): MemoryEstimate {
  const c = plan.config;
  const r = plan.loraRank ?? 0;
  const targets = r > 0 ? (plan.loraTargets ?? LORA_TARGETS) : [];
  const modelFloats = modelBlockFloats(c);
  const adapterFloats = r > 0 ? loraBlockFloats(c, { rank: r, targets }) : 0;
  const trainedFloats = r > 0 ? adapterFloats : modelFloats;
  if (plan.optimizer && r === 0 && !plan.trainable) throw new PrlError('estimateArenaBytes: an optimizer needs a trainable model or a LoRA adapter');

  const base = plan.baseBytes === undefined ? 0 : Math.ceil(plan.baseBytes / ALIGN) * ALIGN;
  const weights = buffer(modelFloats) + 2 * buffer((c.maxPositionEmbeddings * c.headDim) / 2);
  const gradients = plan.trainable ? buffer(modelFloats) : 0;
  const adapter = r > 0 ? 2 * buffer(adapterFloats) : 0;
  const optimizer = plan.optimizer ? 2 * buffer(trainedFloats) : 0;
  const activations = plan.trainRows ? activationBytes(c, plan.trainRows, r, targets.length, plan.recompute ?? false) : 0;
  const sampling = plan.sample ? samplingBytes(c, plan.sample.batch, plan.sample.maxT, r, targets.length) : 0;
  const total = base + weights + gradients + adapter + optimizer + activations + sampling;
  return { base, weights, gradients, adapter, optimizer, activations, sampling, total };
}

/** `LlamaModel.ensureActivations(N)`: what one training forward + backward over N rows keeps. */
function activationBytes(c: ModelConfig, N: number, r: number, adaptedTargets: number, recompute: boolean): number {
  const { hiddenSize: C, intermediateSize: I, numAttentionHeads: nH, numKeyValueHeads: nKv, headDim: hd, numHiddenLayers: L, vocabSize: V } = c;
  const perLayer =
    buffer(N * C) * 3 + // ln1, resMid, ln2
    buffer(N) * 2 + // rstd1, rstd2
    buffer(N * nH * hd) * 2 + // q, att
    buffer(N * nKv * hd) * 2 + // k, v
    buffer(N * nH) + // attLse
    buffer(N * I) * 3 + // gate, up, h
    buffer(N * r) * adaptedTargets; // LoRA scale · x Aᵀ per target
  const ids = buffer(N) * 3; // tokens, targets, positions
  const residual = buffer(N * C) * (L + 1);
  // lnf, rstdf; the chunked head's scratch (./head.ts: one chunk of logits, chunk lse, chunk entropy, scale); lse, logp, entropy
  const head = buffer(N * C) + buffer(N) + buffer(N * Math.min(V, HEAD_CHUNK)) + buffer(N) * 3 + buffer(N) * 3;
  const backward =
    buffer(N) + // dlogp
    buffer(N * C) * 2 + // dres, dln
    buffer(N * nH * hd) * 2 + // dq, datt
    buffer(N * nKv * hd) * 2 + // dk, dv
    buffer(N * I) * 3 + // dgate, dup, dh
    buffer(N * r) + // dLora
    buffer(C); // dNormDiscard
  return ids + residual + (recompute ? 1 : L) * perLayer + head + backward;
}

/** `LlamaModel.prepareInference(batch, maxT)`: KV caches and the decode/prefill row buffers. */
function samplingBytes(c: ModelConfig, batch: number, maxT: number, r: number, adaptedTargets: number): number {
  const { hiddenSize: C, intermediateSize: I, numAttentionHeads: nH, numKeyValueHeads: nKv, headDim: hd, numHiddenLayers: L, vocabSize: V } = c;
  const rows = Math.max(batch, PREFILL_CHUNK);
  const caches = 2 * L * buffer(batch * maxT * nKv * hd);
  const rowBuffers =
    buffer(rows) * 2 + // tokens, positions
    buffer(batch) + // pos
    buffer(rows * C) * 2 + // x, ln
    buffer(rows) + // rstd
    buffer(rows * nH * hd) * 2 + // q, att
    buffer(rows * nKv * hd) * 2 + // k, v
    buffer(rows * I) * 3 + // gate, up, h
    (adaptedTargets > 0 ? buffer(rows * r) : 0) + // one LoRA scratch shared by all targets
    buffer(batch * C) + // lastX
    buffer(batch * V) + // logits
    buffer(batch * V) * 2 + // sampling: gathered logits, weights
    buffer(batch * samplingChunks(V)) + // sampling: chunk maxima
    buffer(batch * samplingChunks(V) * 4); // sampling: float64 chunk sums (two per chunk)
  return caches + rowBuffers;
}

/** GiB with two decimals, as the refusal and the bench print them. */
export function gib(bytes: number): string {
  return (bytes / 2 ** 30).toFixed(2);
}

/** "weights 0.51, gradients 0.51, ..." in GiB, the non-zero parts only. */
export function describeEstimate(e: MemoryEstimate): string {
  const parts: Array<[string, number]> = [
    ['weights', e.weights],
    ['gradients', e.gradients],
    ['LoRA adapter', e.adapter],
    ['AdamW state', e.optimizer],
    ['training activations', e.activations],
    ['sampling state', e.sampling],
  ];
  return parts
    .filter(([, bytes]) => bytes > 0)
    .map(([name, bytes]) => `${name} ${gib(bytes)}`)
    .join(', ');
}

/**
 * Refuses a plan that cannot fit the arena, before anything is allocated. `what` names the model and
 * the work ("the qwen2.5-0.5b shape, full fine-tuning at batch 4 x 256"); `hints` are the changes that
 * would make it fit, in the caller's terms (flags, options).
 */
export function assertFits(plan: MemoryPlan, what: string, hints: readonly string[] = []): MemoryEstimate {
  const e = estimateArenaBytes(plan);
  if (e.total <= ARENA_MAX_BYTES) return e;
  const fix = hints.length > 0 ? ` It would fit with: ${hints.join('; ')}.` : '';
  throw new PrlError(
    `${what} needs about ${gib(e.total)} GiB of engine memory (${describeEstimate(e)}), more than the ${gib(ARENA_MAX_BYTES)} GiB ` +
      `that one WebAssembly memory can hold (src/engine/memory.ts).${fix}`,
  );
}

/** Whether a plan fits the arena. */
export function fits(plan: MemoryPlan): boolean {
  return estimateArenaBytes(plan).total <= ARENA_MAX_BYTES;
}

/** The most layers (>= 1) of this plan's config that fit, or 0 when not even one does. */
export function maxLayersThatFit(plan: MemoryPlan): number {
  let best = 0;
  for (let layers = 1; layers <= plan.config.numHiddenLayers; layers++) {
    if (!fits({ ...plan, config: { ...plan.config, numHiddenLayers: layers } })) break;
    best = layers;
  }
  return best;
}
