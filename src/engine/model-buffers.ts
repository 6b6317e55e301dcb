/**
 * The buffers of `LlamaModel` (./model.ts): the training activations and the sampling state, each
 * allocated once in the engine arena as one block and reused until a larger shape is needed.
 *
 * The allocation order here is what ./memory-estimate.ts counts buffer by buffer: a change to these
 * allocations must change that file too (its test asserts the estimate equals the arena's usage).
 */
import type { ModelConfig } from './config.js';
import { allocHeadScratch, type HeadScratch } from './head.js';
import type { Allocator, Arena } from './memory.js';
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

/** Backward scratch shared by the layers of one segment (and the head, in segment 0). */
export interface BackwardScratch {
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

/** What layer l reads and writes, all in the layer's segment. */
export interface LayerBuffers {
  input: Float32Array; // (N, C) residual[l]
  output: Float32Array; // (N, C) residual[l+1], or a hand-off copied there when that lives in another segment
  positions: Int32Array; // (N) t within its sequence
  saved: LayerActivations;
  d: BackwardScratch;
}

/** All training buffers for up to `rows` = B*T positions; allocated once, reused every step. */
export interface Activations {
  rows: number;
  tokens: Int32Array; // (N)
  targets: Int32Array; // (N)
  positions: Int32Array; // (N) t within its sequence; copied into other segments' `positions` per forward
  residual: Float32Array[]; // L+1 of (N, C): residual[l] is the input of layer l, residual[L] the final one
  layers: LayerBuffers[];
  lnf: Float32Array; // (N, C)
  rstdf: Float32Array; // (N)
  head: HeadScratch; // (N, chunk) logits of one vocabulary chunk at a time (./head.ts)
  lse: Float32Array; // (N)
  logp: Float32Array; // (N)
  entropy: Float32Array; // (N)
  dlogp: Float32Array; // (N)
  /** Segment 0's backward scratch: the head's and the first layers'. */
  d: BackwardScratch;
}

/** The per-layer row buffers of the sampling path, one set per segment. */
export interface RowBuffers {
  positions: Int32Array; // (rows) position of each row
  pos: Int32Array; // (batch) first new position of each sequence
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
}

/** Sampling state: KV caches for `batch` sequences of up to `maxT` positions, and row buffers. */
export interface InferenceState {
  batch: number;
  maxT: number;
  rows: number; // rows one forwardCached call may process (B*Tq)
  kCache: Float32Array[]; // L of (batch, maxT, nKvHead*headDim), each in its layer's segment
  vCache: Float32Array[]; // L of (batch, maxT, nKvHead*headDim)
  tokens: Int32Array; // (rows)
  /** Row buffers of layer l's segment; `head` is segment 0's (the final norm and lm_head). */
  layerRows: RowBuffers[];
  head: RowBuffers;
  lastX: Float32Array; // (batch, C)
  logits: Float32Array; // (batch, V)
  sampling: SamplingBuffers; // the sampler's rows (./sampling-rows.ts)
}

/** Rows per forwardCached call while prefilling a long prompt: bounds the row buffers' memory. */
export const PREFILL_CHUNK = 128;

/** Regions at the top of the segments (start and end offset per segment) given back when a larger one replaces them. */
export interface ArenaBlock {
  starts: number[];
  ends: number[];
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
 * Starts (re)allocating a buffer block over `segments`. Where the previous block is still the last thing
 * in a segment it is given back first, so growing to a larger shape reuses its space; otherwise the old
 * block stays allocated (other owners allocated after it) and the new one goes on top.
 */
export function beginBlock(arena: Arena, previous: ArenaBlock | null, segments: readonly number[]): ArenaBlock {
  const starts: number[] = [];
  for (const i of segments) {
    const mem = arena.segment(i);
    if (previous && previous.ends[i] !== undefined && mem.mark() === previous.ends[i]) mem.release(previous.starts[i]);
    starts[i] = mem.mark();
  }
  return { starts, ends: [...starts] };
}

/** Records where the block ends in each of its segments. */
export function endBlock(arena: Arena, block: ArenaBlock): void {
  block.starts.forEach((_, i) => {
    block.ends[i] = arena.segment(i).mark();
  });
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

/** The segments in use, ascending: 0 (embeddings, head) and every layer's. */
export function segmentsInUse(layerSegments: readonly number[]): number[] {
  return [...new Set([0, ...layerSegments])].sort((a, b) => a - b);
}

/**
 * The training buffers for up to N = B*T rows. Segment by segment (ascending), in this order: segment 0's
 * ids; the residual inputs of the segment's layers (segment 0 also the final residual[L]); its layers'
 * saved activations (one set shared by them under `recompute`); segment 0's head buffers; the segment's
 * backward scratch; a hand-off buffer when one of its layers outputs into another segment; other segments'
 * copy of the positions. ./memory-estimate.ts counts the same.
 */
export function allocActivations(arena: Arena, config: ModelConfig, N: number, recompute: boolean, lora: LoraScratchPlan, layerSegments: readonly number[]): Activations {
  const { hiddenSize: C, intermediateSize: I, numAttentionHeads: nH, numKeyValueHeads: nKv, headDim: hd, numHiddenLayers: L, vocabSize: V } = config;
  const residual: Float32Array[] = new Array<Float32Array>(L + 1);
  const layers: LayerBuffers[] = new Array<LayerBuffers>(L);
  let head: Omit<Activations, 'rows' | 'residual' | 'layers' | 'd'> | null = null;
  let d0: BackwardScratch | null = null;
  for (const segment of segmentsInUse(layerSegments)) {
    const mem = arena.segment(segment);
    const f32 = (n: number) => mem.allocF32(n);
    const ids = segment === 0 ? { tokens: mem.allocI32(N), targets: mem.allocI32(N), positions: mem.allocI32(N) } : null;
    const own = layerSegments.flatMap((s, l) => (s === segment ? [l] : []));
    for (const l of own) residual[l] = f32(N * C);
    if (segment === 0) residual[L] = f32(N * C);
    const makeSaved = (): LayerActivations => ({
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
    });
    const shared = recompute && own.length > 0 ? makeSaved() : null;
    const saved = own.map(() => shared ?? makeSaved());
    if (ids) {
      head = { ...ids, lnf: f32(N * C), rstdf: f32(N), head: allocHeadScratch(mem, N, V), lse: f32(N), logp: f32(N), entropy: f32(N), dlogp: f32(N) };
    }
    const d: BackwardScratch = {
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
    if (segment === 0) d0 = d;
    const handsOff = (l: number) => (layerSegments[l + 1] ?? 0) !== segment; // residual[L] is in segment 0
    const handoff = own.some(handsOff) ? f32(N * C) : null;
    const positions = ids ? ids.positions : mem.allocI32(N);
    own.forEach((l, i) => {
      layers[l] = { input: residual[l], output: handoff!, positions, saved: saved[i], d };
    });
  }
  // A layer whose successor is in its own segment writes residual[l+1] directly (allocated by now).
  for (let l = 0; l < L; l++) if ((layerSegments[l + 1] ?? 0) === layerSegments[l]) layers[l].output = residual[l + 1];
  return { rows: N, residual, layers, d: d0!, ...head! };
}

/** Row buffers for `rows` rows in one segment. */
function allocRowBuffers(mem: Allocator, config: ModelConfig, batch: number, rows: number, lora: LoraScratchPlan): RowBuffers {
  const { hiddenSize: C, intermediateSize: I, numAttentionHeads: nH, numKeyValueHeads: nKv, headDim: hd } = config;
  return {
    positions: mem.allocI32(rows),
    pos: mem.allocI32(batch),
    x: mem.allocF32(rows * C),
    ln: mem.allocF32(rows * C),
    rstd: mem.allocF32(rows),
    q: mem.allocF32(rows * nH * hd),
    k: mem.allocF32(rows * nKv * hd),
    v: mem.allocF32(rows * nKv * hd),
    att: mem.allocF32(rows * nH * hd),
    gate: mem.allocF32(rows * I),
    up: mem.allocF32(rows * I),
    h: mem.allocF32(rows * I),
    lora: loraScratch(lora, () => mem.allocF32(rows * lora.rank), true),
  };
}

/**
 * The sampling state: KV caches for `batch` sequences of `maxT` positions and the row buffers. Segment
 * by segment (ascending): its layers' K then V caches, its row buffers; segment 0 then the ids, lastX,
 * logits and the sampler's buffers. ./memory-estimate.ts counts the same.
 */
export function allocInferenceState(arena: Arena, config: ModelConfig, batch: number, maxT: number, lora: LoraScratchPlan, layerSegments: readonly number[]): InferenceState {
  const { hiddenSize: C, numKeyValueHeads: nKv, headDim: hd, numHiddenLayers: L, vocabSize: V } = config;
  const rows = Math.max(batch, PREFILL_CHUNK);
  const kCache: Float32Array[] = new Array<Float32Array>(L);
  const vCache: Float32Array[] = new Array<Float32Array>(L);
  const layerRows: RowBuffers[] = new Array<RowBuffers>(L);
  let rest: Pick<InferenceState, 'tokens' | 'head' | 'lastX' | 'logits' | 'sampling'> | null = null;
  for (const segment of segmentsInUse(layerSegments)) {
    const mem = arena.segment(segment);
    const own = layerSegments.flatMap((s, l) => (s === segment ? [l] : []));
    for (const l of own) kCache[l] = mem.allocF32(batch * maxT * nKv * hd);
    for (const l of own) vCache[l] = mem.allocF32(batch * maxT * nKv * hd);
    const buffers = allocRowBuffers(mem, config, batch, rows, lora);
    for (const l of own) layerRows[l] = buffers;
    // The sampler's buffers sit with the logits: a kernel call reads one memory.
    if (segment === 0) rest = { tokens: mem.allocI32(rows), head: buffers, lastX: mem.allocF32(batch * C), logits: mem.allocF32(batch * V), sampling: allocSamplingBuffers(mem, batch, V) };
  }
  return { batch, maxT, rows, kCache, vCache, layerRows, ...rest! };
}
