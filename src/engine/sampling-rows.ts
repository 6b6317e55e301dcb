/**
 * The per-row arithmetic of sampling: softmax, temperature, top-k / top-p and the draw, for B rows of
 * logits at once. The exp passes over the vocabulary (V = 151,936 for Qwen2.5) run in two kernels
 * (`samplingMax`, `samplingWeights`, ./kernels/types.ts), threaded over (row, vocabulary chunk) units;
 * what stays here is O(chunks + chunk) per row (the inverse-CDF walk finds its chunk from the chunk
 * sums) plus the partial selection of ./nucleus.ts when filtering.
 *
 * Precision: weights are float32 exps (the WebAssembly kernel's Cephes expf, ~1e-7 relative), all sums
 * and the walk are float64 over those stored float32 values, so the walk and the total it is scaled by
 * agree. Every step has a fixed order independent of the thread count, so the same seed gives the same
 * tokens on any number of threads (docs/design.md, "Sampling in kernels").
 */
import type { Rng } from '../util/rng.js';
import type { Allocator } from './memory.js';
import type { Kernels } from './kernels/types.js';
import { keptTokens } from './nucleus.js';

/** Vocabulary columns per work unit of the sampling kernels; a constant, so results do not depend on threads. */
export const SAMPLING_CHUNK = 4096;
/** The largest float32: 1 / temperature is capped here so a tiny temperature still gives the max weight 1. */
const F32_MAX = 3.4028234663852886e38;

/** Arena buffers of the sampling pass for up to `batch` rows (allocated with the model's inference state). */
export interface SamplingBuffers {
  logits: Float32Array; // (batch, V) each sequence's next-token logits gathered after its prefill
  weights: Float32Array; // (batch, V) tempered, unnormalised sampling weights (the row max gets 1)
  chunkMax: Float32Array; // (batch, nC) max logit per vocabulary chunk
  sums: Float64Array; // (batch, nC, 2) per chunk: Σ exp(z - max), Σ weights
}

/** Vocabulary chunks per row. */
export function samplingChunks(V: number): number {
  return Math.ceil(V / SAMPLING_CHUNK);
}

export function allocSamplingBuffers(arena: Allocator, batch: number, V: number): SamplingBuffers {
  const nC = samplingChunks(V);
  const sumsBlock = arena.allocF32(batch * nC * 4); // float64 pairs; the arena aligns blocks to 64 bytes
  return {
    logits: arena.allocF32(batch * V),
    weights: arena.allocF32(batch * V),
    chunkMax: arena.allocF32(batch * nC),
    sums: new Float64Array(sumsBlock.buffer, sumsBlock.byteOffset, batch * nC * 2),
  };
}

/** One drawn token: its id, log p at temperature 1 without filtering, log q under the distribution used. */
export interface Draw {
  token: number;
  logprob: number;
  samplingLogprob: number;
}

export interface SamplingSettings {
  /** 0 = greedy (argmax). */
  temperature: number;
  /** 0 = off. */
  topK: number;
  /** 1 = off. */
  topP: number;
}

/** The sampling pass over buffers of the model's inference state, on the model's kernels. */
export class SamplingRows {
  private readonly nC: number;
  private readonly order: Int32Array; // (V) kept token ids, best first, when filtering
  private logits: Float32Array = new Float32Array(0); // rows weighed by the last `weigh`

  constructor(
    private readonly kernels: Kernels,
    /** The buffers; `buffers.logits` is where callers gather prefill logits. */
    readonly buffers: SamplingBuffers,
    private readonly V: number,
  ) {
    this.nC = samplingChunks(V);
    this.order = new Int32Array(V);
  }

  /** Runs both kernels over rows 0..B-1 of `logits` (B, V), a view into engine memory. */
  weigh(logits: Float32Array, B: number, temperature: number): void {
    const { chunkMax, sums, weights } = this.buffers;
    const invTemperature = temperature > 0 ? Math.min(1 / temperature, F32_MAX) : 0;
    this.kernels.samplingMax(chunkMax, logits, B, this.V, SAMPLING_CHUNK);
    this.kernels.samplingWeights(weights, sums, logits, chunkMax, invTemperature, B, this.V, SAMPLING_CHUNK);
    this.logits = logits;
  }

  /**
   * Draws row b of the last `weigh` (same temperature) into `out`. Ties (greedy, ranking) go to the lower
   * token id. Top-k / top-p keep what ./nucleus.ts keeps; the draw walks the kept tokens best first.
   */
  draw(b: number, s: SamplingSettings, rng: Rng, out: Draw): void {
    const { V, nC } = this;
    const { chunkMax, sums } = this.buffers;
    const row = b * V;
    let max = -Infinity;
    for (let c = 0; c < nC; c++) max = Math.max(max, chunkMax[b * nC + c]);
    let sumExp = 0;
    let total = 0; // Σ weights, in chunk order
    for (let c = 0; c < nC; c++) {
      sumExp += sums[(b * nC + c) * 2];
      total += sums[(b * nC + c) * 2 + 1];
    }
    const lse = max + Math.log(sumExp);

    if (s.temperature === 0) {
      out.token = this.argmax(b, max);
      out.logprob = this.logits[row + out.token] - lse;
      out.samplingLogprob = 0;
      return;
    }
    const weights = this.buffers.weights.subarray(row, row + V);
    let token: number;
    let keptMass: number;
    if ((s.topK > 0 && s.topK < V) || s.topP < 1) {
      const kept = keptTokens(weights, V, s.topK, s.topP, this.order, total);
      keptMass = kept.keptMass;
      token = this.order[0];
      let u = rng.next() * keptMass;
      for (let i = 0; i < kept.kept; i++) {
        const id = this.order[i];
        if (!(weights[id] > 0)) break; // kept zero weights (top-k above the positive count) come last
        token = id; // if rounding leaves u >= 0 at the end: the last kept token with weight
        u -= weights[id];
        if (u < 0) break;
      }
    } else {
      keptMass = total;
      token = this.walk(b, weights, rng.next() * total);
    }
    out.token = token;
    out.logprob = this.logits[row + token] - lse;
    out.samplingLogprob = Math.log(weights[token] / keptMass);
  }

  /** The first token of row b whose logit equals the row max: the first chunk holding it, then its column. */
  private argmax(b: number, max: number): number {
    const { V, nC } = this;
    let c = 0;
    while (c < nC - 1 && this.buffers.chunkMax[b * nC + c] !== max) c++;
    const row = b * V;
    const end = Math.min(V, (c + 1) * SAMPLING_CHUNK);
    for (let j = c * SAMPLING_CHUNK; j < end; j++) if (this.logits[row + j] === max) return j;
    return c * SAMPLING_CHUNK; // only for NaN logits
  }

  /**
   * Inverse CDF over the whole vocabulary in id order: skip whole chunks by their weight sums, then walk
   * the chunk that holds u. Rounding can leave u a few ulps past a chunk's last positive weight; that
   * token is then taken (never a zero-weight one).
   */
  private walk(b: number, weights: Float32Array, u: number): number {
    const { V, nC } = this;
    const sums = this.buffers.sums;
    let c = 0;
    while (c < nC - 1 && !(u < sums[(b * nC + c) * 2 + 1])) {
      u -= sums[(b * nC + c) * 2 + 1];
      c++;
    }
    let last = -1;
    const end = Math.min(V, (c + 1) * SAMPLING_CHUNK);
    for (let j = c * SAMPLING_CHUNK; j < end; j++) {
      if (!(weights[j] > 0)) continue;
      last = j;
      u -= weights[j];
      if (u < 0) return j;
    }
    if (last >= 0) return last;
    // The chunk reached was all zeros (rounding past the last chunk with mass): the last positive weight.
    for (let j = c * SAMPLING_CHUNK - 1; j >= 0; j--) if (weights[j] > 0) return j;
    return 0;
  }
}
