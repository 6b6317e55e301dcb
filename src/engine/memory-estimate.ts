/**
 * How many bytes of the engine arena (./memory.ts) a model will take, segment by segment, known from its
 * config before anything is allocated: so that the model's layers can be placed over the arena's 4 GiB
 * segments (`planPlacement`), and a model that cannot fit the machine is refused up front with the
 * numbers instead of failing half-loaded with "out of engine memory".
 *
 * The count mirrors the allocations of `LlamaModel` (./model.ts: weights, gradients, RoPE tables;
 * ./model-buffers.ts: training activations, the sampling state), `LoraAdapter` (./lora.ts) and `AdamW`
 * (./optim.ts) one buffer at a time, with the arena's 64-byte rounding, so it equals each segment's
 * `usedBytes` after the same work (test/engine/memory-estimate.test.ts checks this; a change to those
 * allocations must change this file).
 */
import { totalmem } from 'node:os';
import { PrlError } from '../util/errors.js';
import type { ModelConfig } from './config.js';
import { LORA_TARGETS, targetShape, type LoraTarget } from './lora.js';
import { HEAD_CHUNK } from './head.js';
import { ARENA_MAX_BYTES } from './memory.js';
import { isMatrix, parameterSpecs } from './model-layout.js';
import { PREFILL_CHUNK, segmentsInUse } from './model-buffers.js';
import { samplingChunks } from './sampling-rows.js';

/** What will live in the arena: the model, how it is trained, and the largest batches it runs. */
export interface MemoryPlan {
  config: ModelConfig;
  /** false: a frozen base (inference, or under a LoRA adapter): no gradient block. */
  trainable: boolean;
  /** A frozen model's matrices held in bfloat16 (LlamaModelOptions.bf16Weights). */
  bf16Weights?: boolean;
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
  /** Bytes already used in segment 0 before the model (the kernel module's data and stack: `arena.usedBytes`). */
  baseBytes?: number;
  /** Bytes every further segment reserves for the kernel module (`arena.baseBytes`). */
  segmentBaseBytes?: number;
  /** The segment of each layer (LlamaModelOptions.layerSegments); default `planPlacement`'s. */
  layerSegments?: readonly number[];
}

/** Bytes per part over all segments; `total` is what `arena.usedBytes` will be after the planned work. */
export interface MemoryEstimate {
  base: number;
  weights: number; // weights + RoPE tables
  gradients: number;
  adapter: number; // LoRA A, B and their gradients
  optimizer: number; // AdamW m and v
  activations: number; // training forward/backward buffers
  sampling: number; // KV caches and decode buffers
  total: number;
  /** Bytes per segment (each at most ARENA_MAX_BYTES when the placement fits), and the placement counted. */
  segments: number[];
  layerSegments: number[];
}

/** The arena's allocation granularity (memory.ts aligns every buffer to 64 bytes). */
const ALIGN = 64;
const PARAM_ALIGN = 16;

/** Bytes one `allocF32(n)` / `allocI32(n)` takes from the arena. */
function buffer(n: number): number {
  return Math.ceil((n * 4) / ALIGN) * ALIGN;
}

/** Floats in a flat block of these parameter sizes (each aligned to 16 floats). */
function blockFloats(sizes: readonly number[]): number {
  return sizes.reduce((sum, n) => sum + Math.ceil(n / PARAM_ALIGN) * PARAM_ALIGN, 0);
}

/** Floats in the model's flat weight block when it lives in one segment. */
export function modelBlockFloats(config: ModelConfig): number {
  return blockFloats(parameterSpecs(config).map((s) => s.shape.reduce((a, b) => a * b, 1)));
}

/** The layer a parameter belongs to, or -1 (embeddings, final norm, lm_head: segment 0). */
function layerOf(name: string): number {
  const m = /^model\.layers\.(\d+)\./.exec(name);
  return m ? Number(m[1]) : -1;
}

/** One segment's bytes by part. */
type Parts = Omit<MemoryEstimate, 'total' | 'segments' | 'layerSegments'>;

/** The bytes `plan` puts in `segment` when layers sit in `layerSegments`. */
function segmentParts(plan: MemoryPlan, layerSegments: readonly number[], segment: number): Parts {
  const c = plan.config;
  const r = plan.loraRank ?? 0;
  const targets = r > 0 ? (plan.loraTargets ?? LORA_TARGETS) : [];
  const own = layerSegments.flatMap((s, l) => (s === segment ? [l] : []));
  const here = parameterSpecs(c).filter((p) => (layerOf(p.name) < 0 ? 0 : layerSegments[layerOf(p.name)]) === segment);
  const size = (p: { shape: number[] }) => p.shape.reduce((a, b) => a * b, 1);
  const narrow = plan.bf16Weights ? here.filter(isMatrix) : []; // bfloat16, 64-byte slots of 32 values
  const modelFloats = blockFloats(here.filter((p) => !narrow.includes(p)).map(size));
  const bf16Bytes = plan.bf16Weights ? Math.ceil((narrow.reduce((sum, p) => sum + Math.ceil(size(p) / 32) * 32, 0) * 2) / ALIGN) * ALIGN : 0;
  const pairSizes = targets.flatMap((t) => {
    const [out, inDim] = targetShape(c, t);
    return [r * inDim, out * r];
  });
  const adapterFloats = own.length > 0 ? blockFloats(own.flatMap(() => pairSizes)) : 0;
  const hasAdapterShard = r > 0 && own.length > 0;
  const trainedFloats = r > 0 ? adapterFloats : modelFloats;
  const hasTrainedShard = r > 0 ? hasAdapterShard : true;
  const base = segment === 0 ? (plan.baseBytes === undefined ? 0 : Math.ceil(plan.baseBytes / ALIGN) * ALIGN) : Math.ceil((plan.segmentBaseBytes ?? 0) / ALIGN) * ALIGN;
  return {
    base,
    weights: buffer(modelFloats) + bf16Bytes + 2 * buffer((c.maxPositionEmbeddings * c.headDim) / 2),
    gradients: plan.trainable ? buffer(modelFloats) : 0,
    adapter: hasAdapterShard ? 2 * buffer(adapterFloats) : 0,
    optimizer: plan.optimizer && hasTrainedShard ? 2 * buffer(trainedFloats) : 0,
    activations: plan.trainRows ? activationBytes(c, plan.trainRows, r, targets.length, plan.recompute ?? false, layerSegments, segment, own) : 0,
    sampling: plan.sample ? samplingBytes(c, plan.sample.batch, plan.sample.maxT, r, targets.length, segment, own.length) : 0,
  };
}

const sumParts = (p: Parts): number => p.base + p.weights + p.gradients + p.adapter + p.optimizer + p.activations + p.sampling;

export function estimateArenaBytes(plan: MemoryPlan): MemoryEstimate {
  if (plan.optimizer && (plan.loraRank ?? 0) === 0 && !plan.trainable) throw new PrlError('estimateArenaBytes: an optimizer needs a trainable model or a LoRA adapter');
  const layerSegments = [...(plan.layerSegments ?? planPlacement(plan))];
  const e: MemoryEstimate = { base: 0, weights: 0, gradients: 0, adapter: 0, optimizer: 0, activations: 0, sampling: 0, total: 0, segments: [], layerSegments };
  for (const segment of segmentsInUse(layerSegments)) {
    const p = segmentParts(plan, layerSegments, segment);
    for (const key of ['base', 'weights', 'gradients', 'adapter', 'optimizer', 'activations', 'sampling'] as const) e[key] += p[key];
    e.segments[segment] = sumParts(p);
    e.total += e.segments[segment];
  }
  return e;
}

/**
 * The segment of each layer: consecutive layers fill a segment while it stays within one memory (4 GiB,
 * counting everything the plan puts there), then the next segment opens. Segment 0 also holds the
 * embeddings, final norm, lm_head and the head's buffers. A model within one memory gets all zeros, as
 * before segments existed. When even one layer cannot fit a segment the placement still spreads the
 * layers one per segment; `assertFits` then refuses it.
 */
export function planPlacement(plan: MemoryPlan): number[] {
  const L = plan.config.numHiddenLayers;
  const placement: number[] = [];
  let segment = 0;
  for (let l = 0; l < L; l++) {
    // Try layer l in the current segment, the layers after it in the next one.
    const candidate = [...placement, ...new Array<number>(L - l).fill(segment)].map((s, i) => (i > l ? segment + 1 : s));
    const fitsHere = sumParts(segmentParts(plan, candidate, segment)) <= ARENA_MAX_BYTES;
    // A segment's first layer stays even when it does not fit (assertFits refuses that); segment 0 may hold none.
    const alone = l > 0 ? placement[l - 1] !== segment : segment > 0;
    if (!fitsHere && !alone) segment++;
    placement.push(segment);
  }
  return placement;
}

/**
 * `LlamaModel.ensureActivations(N)` in one segment: what one training forward + backward over N rows keeps
 * there (mirrors allocActivations, ./model-buffers.ts).
 */
function activationBytes(c: ModelConfig, N: number, r: number, adaptedTargets: number, recompute: boolean, layerSegments: readonly number[], segment: number, own: readonly number[]): number {
  const { hiddenSize: C, intermediateSize: I, numAttentionHeads: nH, numKeyValueHeads: nKv, headDim: hd, vocabSize: V } = c;
  const perLayer =
    buffer(N * C) * 3 + // ln1, resMid, ln2
    buffer(N) * 2 + // rstd1, rstd2
    buffer(N * nH * hd) * 2 + // q, att
    buffer(N * nKv * hd) * 2 + // k, v
    buffer(N * nH) + // attLse
    buffer(N * I) * 3 + // gate, up, h
    buffer(N * r) * adaptedTargets; // LoRA scale · x Aᵀ per target
  const saved = (recompute ? Math.min(own.length, 1) : own.length) * perLayer;
  const residual = buffer(N * C) * (own.length + (segment === 0 ? 1 : 0));
  const backward =
    buffer(N * C) * 2 + // dres, dln
    buffer(N * nH * hd) * 2 + // dq, datt
    buffer(N * nKv * hd) * 2 + // dk, dv
    buffer(N * I) * 3 + // dgate, dup, dh
    buffer(N * r) + // dLora
    buffer(C); // dNormDiscard
  const handoff = own.some((l) => (layerSegments[l + 1] ?? 0) !== segment) ? buffer(N * C) : 0;
  // Segment 0: tokens, targets, positions; lnf, rstdf; the chunked head's scratch (./head.ts: one chunk of
  // logits, chunk lse, chunk entropy, scale); lse, logp, entropy, dlogp. Other segments: a copy of positions.
  const ids = segment === 0 ? buffer(N) * 3 + buffer(N * C) + buffer(N) + buffer(N * Math.min(V, HEAD_CHUNK)) + buffer(N) * 3 + buffer(N) * 4 : buffer(N);
  return ids + residual + saved + backward + handoff;
}

/** `LlamaModel.prepareInference(batch, maxT)` in one segment: its layers' KV caches and its row buffers. */
function samplingBytes(c: ModelConfig, batch: number, maxT: number, r: number, adaptedTargets: number, segment: number, ownLayers: number): number {
  const { hiddenSize: C, intermediateSize: I, numAttentionHeads: nH, numKeyValueHeads: nKv, headDim: hd, vocabSize: V } = c;
  const rows = Math.max(batch, PREFILL_CHUNK);
  const caches = 2 * ownLayers * buffer(batch * maxT * nKv * hd);
  const rowBuffers =
    buffer(rows) + // positions
    buffer(batch) + // pos
    buffer(rows * C) * 2 + // x, ln
    buffer(rows) + // rstd
    buffer(rows * nH * hd) * 2 + // q, att
    buffer(rows * nKv * hd) * 2 + // k, v
    buffer(rows * I) * 3 + // gate, up, h
    (adaptedTargets > 0 ? buffer(rows * r) : 0); // one LoRA scratch shared by all targets
  const nC = samplingChunks(V);
  // Segment 0: tokens, lastX, logits; the sampler's gathered logits and weights, chunk maxima, float64 chunk sums.
  const head = segment === 0 ? buffer(rows) + buffer(batch * C) + buffer(batch * V) + buffer(batch * V) * 2 + buffer(batch * nC) + buffer(batch * nC * 4) : 0;
  return caches + rowBuffers + head;
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
 * The most engine memory a plan may take: env PRL_MEMORY_LIMIT_GIB when set, else the machine's memory
 * (os.totalmem). The arena's segments together may hold up to this much.
 */
export function memoryLimitBytes(): number {
  const env = process.env.PRL_MEMORY_LIMIT_GIB;
  if (env !== undefined && env !== '') {
    const gibs = Number(env);
    if (!(gibs > 0)) throw new PrlError(`environment variable PRL_MEMORY_LIMIT_GIB: ${JSON.stringify(env)} is not a positive number of GiB`);
    return gibs * 2 ** 30;
  }
  return totalmem();
}

/** Why a plan does not fit (the first reason), or null when it does. */
function misfit(e: MemoryEstimate, limit: number): string | null {
  if (e.total > limit) return `more than the ${gib(limit)} GiB ${process.env.PRL_MEMORY_LIMIT_GIB ? 'of PRL_MEMORY_LIMIT_GIB' : 'this machine has'}`;
  const over = e.segments.findIndex((bytes) => bytes > ARENA_MAX_BYTES);
  if (over >= 0) return `and its segment ${over} alone needs ${gib(e.segments[over])} GiB, more than the ${gib(ARENA_MAX_BYTES)} GiB one WebAssembly memory can hold (src/engine/memory.ts)`;
  return null;
}

/**
 * Refuses a plan that cannot fit, before anything is allocated: past `limit` in all, or with a layer that
 * does not fit one segment. `what` names the model and the work ("the qwen2.5-0.5b shape, full
 * fine-tuning at batch 4 x 256"); `hints` are the changes that would make it fit, in the caller's terms.
 */
export function assertFits(plan: MemoryPlan, what: string, hints: readonly string[] = [], limit = memoryLimitBytes()): MemoryEstimate {
  const e = estimateArenaBytes(plan);
  const reason = misfit(e, limit);
  if (reason === null) return e;
  const fix = hints.length > 0 ? ` It would fit with: ${hints.join('; ')}.` : '';
  throw new PrlError(`${what} needs about ${gib(e.total)} GiB of engine memory (${describeEstimate(e)}), ${reason}.${fix}`);
}

/** Whether a plan fits. */
export function fits(plan: MemoryPlan, limit = memoryLimitBytes()): boolean {
  return misfit(estimateArenaBytes(plan), limit) === null;
}

/** The most layers (>= 1) of this plan's config that fit, or 0 when not even one does. */
export function maxLayersThatFit(plan: MemoryPlan, limit = memoryLimitBytes()): number {
  let best = 0;
  for (let layers = 1; layers <= plan.config.numHiddenLayers; layers++) {
    if (!fits({ ...plan, config: { ...plan.config, numHiddenLayers: layers }, layerSegments: undefined }, limit)) break;
    best = layers;
  }
  return best;
}
