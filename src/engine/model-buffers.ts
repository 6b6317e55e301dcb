/**
 * The buffers of `LlamaModel` (./model.ts): the training activations and the sampling state, each
 * allocated once in the engine arena as one block and reused until a larger shape is needed.
 *
 * The allocation order here is what ./memory-estimate.ts counts buffer by buffer: a change to these
 * allocations must change that file too (its test asserts the estimate equals the arena's usage).
 */
import type { ModelConfig } from './config.js';
import { allocHeadScratch, type HeadScratch } from './head.js';
import type { Arena } from './memory.js';
import type { LoraScratch, LoraTarget } from './lora.js';
import { allocSamplingBuffers, type SamplingBuffers } from './sampling-rows.js';

/** Activations of one layer saved by the training forward for backward; rows N = B*T. */
export interface LayerActivations {
  ln1: Float32Array; // (N, C) input_layernorm output
  rstd1: Float32Array; // (N)
  q: Float32Array; // (N, nHead*headDim) after RoPE
  k: Float32Array; // (N, nKvHead*headDim) after RoPE
  v: Float32Array; // (N, nKvHead*headDim)
  att: Float32Array; // (N, nHead*headDim) attention output before o_proj
  attLse: Float32Array; // (B, nHead, T)
  resMid: Float32Array; // (N, C) residual after the attention block
  ln2: Float32Array; // (N, C) post_attention_layernorm output
  rstd2: Float32Array; // (N)
  gate: Float32Array; // (N, I)
  up: Float32Array; // (N, I)
  h: Float32Array; // (N, I) silu(gate) * up
  lora: LoraScratch; // per adapted target (N, r): scale · x Aᵀ
}

/** All training buffers for up to `rows` = B*T positions; allocated once, reused every step. */
export interface Activations {
  rows: number;
  tokens: Int32Array; // (N)
  targets: Int32Array; // (N)
  positions: Int32Array; // (N) t within its sequence
  residual: Float32Array[]; // L+1 of (N, C): residual[l] is the input of layer l, residual[L] the final one
  layers: LayerActivations[];
  lnf: Float32Array; // (N, C)
  rstdf: Float32Array; // (N)
  head: HeadScratch; // (N, chunk) logits of one vocabulary chunk at a time (./head.ts)
  lse: Float32Array; // (N)
  logp: Float32Array; // (N)
  entropy: Float32Array; // (N)
  // Backward scratch shared by all layers.
  dlogp: Float32Array; // (N)
  dres: Float32Array; // (N, C) gradient of the residual stream
  dln: Float32Array; // (N, C)
  dq: Float32Array; // (N, nHead*headDim)
  dk: Float32Array; // (N, nKvHead*headDim)
  dv: Float32Array; // (N, nKvHead*headDim)
  datt: Float32Array; // (N, nHead*headDim)
  dgate: Float32Array; // (N, I)
  dup: Float32Array; // (N, I)
  dh: Float32Array; // (N, I)
  dLora: Float32Array; // (N, r) adapter scratch
  dNormDiscard: Float32Array; // (C) where a frozen model's RMSNorm weight gradients go
}

/** Sampling state: KV caches for `batch` sequences of up to `maxT` positions, and row buffers. */
export interface InferenceState {
  batch: number;
  maxT: number;
  rows: number; // rows one forwardCached call may process (B*Tq)
  kCache: Float32Array[]; // L of (batch, maxT, nKvHead*headDim)
  vCache: Float32Array[]; // L of (batch, maxT, nKvHead*headDim)
  tokens: Int32Array; // (rows)
  positions: Int32Array; // (rows)
  pos: Int32Array; // (batch)
  x: Float32Array; // (rows, C) residual stream
  ln: Float32Array; // (rows, C)
  rstd: Float32Array; // (rows)
  q: Float32Array; // (rows, nHead*headDim)
  k: Float32Array; // (rows, nKvHead*headDim)
  v: Float32Array; // (rows, nKvHead*headDim)
  att: Float32Array; // (rows, nHead*headDim)
  gate: Float32Array; // (rows, I)
  up: Float32Array; // (rows, I)
  h: Float32Array; // (rows, I)
  lora: LoraScratch; // every adapted target shares one (rows, r) buffer
  lastX: Float32Array; // (batch, C)
  logits: Float32Array; // (batch, V)
  sampling: SamplingBuffers; // the sampler's rows (./sampling-rows.ts)
}

/** Rows per forwardCached call while prefilling a long prompt: bounds the row buffers' memory. */
export const PREFILL_CHUNK = 128;

/** A region at the top of the arena that can be given back when a larger one replaces it. */
export interface ArenaBlock {
  start: number;
  end: number;
}

/**
 * What the LoRA scratch is sized for: the attached adapter's rank and targets, or every target at the
 * reserved rank (`LlamaModel.reserveAdapterScratch`); no targets: no scratch.
 */
export interface LoraScratchPlan {
  rank: number;
  targets: readonly LoraTarget[] | undefined;
}

/**
 * Starts (re)allocating a buffer block. When the previous block is still the last thing in the arena
 * it is given back first, so growing to a larger shape reuses its space; otherwise the old block stays
 * allocated (other owners allocated after it) and the new one goes on top.
 */
export function beginBlock(arena: Arena, previous: ArenaBlock | null): ArenaBlock {
  if (previous && arena.mark() === previous.end) arena.release(previous.start);
  const start = arena.mark();
  return { start, end: start };
}

/** Adapter scratch per adapted target: its own buffer each, or (`shared`) one for all. */
function loraScratch(plan: LoraScratchPlan, alloc: () => Float32Array, shared: boolean): LoraScratch {
  const scratch: LoraScratch = {};
  const targets = plan.targets;
  if (!targets) return scratch;
  const one = shared ? alloc() : null;
  for (const t of targets) scratch[t] = one ?? alloc();
  return scratch;
}

/** L layers' activation sets: L distinct ones, or under `recompute` one shared by every layer. */
function layerActivations(L: number, recompute: boolean, make: () => LayerActivations): LayerActivations[] {
  if (!recompute) return Array.from({ length: L }, make);
  const shared = make();
  return Array.from({ length: L }, () => shared);
}

/** The training buffers for up to N = B*T rows, allocated in this order from the top of the arena. */
export function allocActivations(arena: Arena, config: ModelConfig, N: number, recompute: boolean, lora: LoraScratchPlan): Activations {
  const { hiddenSize: C, intermediateSize: I, numAttentionHeads: nH, numKeyValueHeads: nKv, headDim: hd, numHiddenLayers: L, vocabSize: V } = config;
  const f32 = (n: number) => arena.allocF32(n);
  return {
    rows: N,
    tokens: arena.allocI32(N),
    targets: arena.allocI32(N),
    positions: arena.allocI32(N),
    residual: Array.from({ length: L + 1 }, () => f32(N * C)),
    layers: layerActivations(L, recompute, () => ({
      ln1: f32(N * C),
      rstd1: f32(N),
      q: f32(N * nH * hd),
      k: f32(N * nKv * hd),
      v: f32(N * nKv * hd),
      att: f32(N * nH * hd),
      attLse: f32(N * nH),
      resMid: f32(N * C),
      ln2: f32(N * C),
      rstd2: f32(N),
      gate: f32(N * I),
      up: f32(N * I),
      h: f32(N * I),
      lora: loraScratch(lora, () => f32(N * lora.rank), false),
    })),
    lnf: f32(N * C),
    rstdf: f32(N),
    head: allocHeadScratch(arena, N, V),
    lse: f32(N),
    logp: f32(N),
    entropy: f32(N),
    dlogp: f32(N),
    dres: f32(N * C),
    dln: f32(N * C),
    dq: f32(N * nH * hd),
    dk: f32(N * nKv * hd),
    dv: f32(N * nKv * hd),
    datt: f32(N * nH * hd),
    dgate: f32(N * I),
    dup: f32(N * I),
    dh: f32(N * I),
    dLora: f32(N * lora.rank),
    dNormDiscard: f32(C),
  };
}

/** The sampling state: KV caches for `batch` sequences of `maxT` positions and the row buffers. */
export function allocInferenceState(arena: Arena, config: ModelConfig, batch: number, maxT: number, lora: LoraScratchPlan): InferenceState {
  const { hiddenSize: C, intermediateSize: I, numAttentionHeads: nH, numKeyValueHeads: nKv, headDim: hd, numHiddenLayers: L, vocabSize: V } = config;
  const rows = Math.max(batch, PREFILL_CHUNK);
  const cache = () => Array.from({ length: L }, () => arena.allocF32(batch * maxT * nKv * hd));
  return {
    batch,
    maxT,
    rows,
    kCache: cache(),
    vCache: cache(),
    tokens: arena.allocI32(rows),
    positions: arena.allocI32(rows),
    pos: arena.allocI32(batch),
    x: arena.allocF32(rows * C),
    ln: arena.allocF32(rows * C),
    rstd: arena.allocF32(rows),
    q: arena.allocF32(rows * nH * hd),
    k: arena.allocF32(rows * nKv * hd),
    v: arena.allocF32(rows * nKv * hd),
    att: arena.allocF32(rows * nH * hd),
    gate: arena.allocF32(rows * I),
    up: arena.allocF32(rows * I),
    h: arena.allocF32(rows * I),
    lora: loraScratch(lora, () => arena.allocF32(rows * lora.rank), true),
    lastX: arena.allocF32(batch * C),
    logits: arena.allocF32(batch * V),
    sampling: allocSamplingBuffers(arena, batch, V),
  };
}
