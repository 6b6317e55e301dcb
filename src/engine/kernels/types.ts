/**
 * The kernel interface: every hot loop of the engine goes through one of these calls, so a faster
 * provider (WebAssembly SIMD today, a native addon tomorrow) can replace another without touching
 * the model. All tensors are float32, row-major, and are views into the engine's shared memory
 * (see ../memory.ts) so that WebAssembly kernels and worker threads can address them by offset.
 *
 * Conventions (llm.c style):
 * - N = number of rows (B*T tokens), C = channels. Shapes are given in the doc comment of each call.
 * - Backward calls ACCUMULATE into their gradient outputs (`+=`), because a tensor can receive gradient
 *   from several places (residual stream, tied embeddings). Callers zero gradients once per step.
 * - Determinism: a provider must produce bit-identical results for any thread count. Work is split
 *   over OUTPUT elements (rows or columns); every output element's reduction runs in a fixed order
 *   inside one thread. Reductions to a scalar use fixed-size chunks summed in chunk order.
 */
import type { WeightArray } from '../bf16.js';

export type MatmulLayout = 'nt' | 'nn' | 'tn';

export interface AttentionDims {
  B: number; // batch
  T: number; // sequence length (queries and keys)
  nHead: number; // query heads
  nKvHead: number; // key/value heads; nHead % nKvHead === 0 (grouped-query attention)
  headDim: number;
}

export interface Kernels {
  /** Human-readable provider name, e.g. "wasm-simd-fma x2" (fused multiply-add build), "wasm-simd x2" or "ts". */
  readonly name: string;
  /** Worker threads this provider uses (1 = calling thread only). */
  readonly threads: number;

  /**
   * out (+)= op(a) · op(b), out is (M, N).
   * - 'nt': a (M, K), b (N, K): out = a · bᵀ      (Linear forward: x · Wᵀ)
   * - 'nn': a (M, K), b (K, N): out = a · b       (Linear backward to input: dy · W)
   * - 'tn': a (K, M), b (K, N): out = aᵀ · b      (Linear backward to weight: dyᵀ · x)
   * `accumulate` adds into `out` instead of overwriting it. `b` may hold bfloat16 bits (a Uint16Array, a
   * frozen weight of a bf16 checkpoint): widened exactly as read, so the result is the float32 one's.
   */
  matmul(out: Float32Array, a: Float32Array, b: WeightArray, M: number, N: number, K: number, layout: MatmulLayout, accumulate: boolean): void;

  /** out (N, C) += bias (C) broadcast over rows. */
  addBias(out: Float32Array, bias: Float32Array, N: number, C: number): void;
  /** dbias (C) += column sums of dout (N, C). */
  biasBackward(dbias: Float32Array, dout: Float32Array, N: number, C: number): void;

  /** out = x / rms(x) * w per row; rstd (N) saves 1/rms for backward. x, out (N, C), w (C). */
  rmsnormForward(out: Float32Array, rstd: Float32Array, x: Float32Array, w: Float32Array, N: number, C: number, eps: number): void;
  /** dx (N, C) += ..., dw (C) += ... given dout (N, C) and the saved rstd (N). */
  rmsnormBackward(dx: Float32Array, dw: Float32Array, dout: Float32Array, x: Float32Array, w: Float32Array, rstd: Float32Array, N: number, C: number): void;

  /**
   * Rotary embedding in place, HF "rotate half" convention, on x (N, nHeads, headDim) where row n has
   * position `positions[n]`; cos/sin tables are (maxPos, headDim/2). `inverse` rotates by -theta,
   * which is exactly the backward pass (the rotation is orthogonal).
   */
  rope(x: Float32Array, positions: Int32Array, cos: Float32Array, sin: Float32Array, N: number, nHeads: number, headDim: number, inverse: boolean): void;

  /**
   * Causal self-attention. q, out (B, T, nHead, headDim); k, v (B, T, nKvHead, headDim).
   * lse (B, nHead, T) saves each query row's log-sum-exp of the scaled scores for backward.
   * Scores are scaled by 1/sqrt(headDim).
   */
  attentionForward(out: Float32Array, lse: Float32Array, q: Float32Array, k: Float32Array, v: Float32Array, d: AttentionDims): void;
  /** dq, dk, dv += gradients (same shapes as q, k, v), recomputing probabilities from lse. */
  attentionBackward(dq: Float32Array, dk: Float32Array, dv: Float32Array, dout: Float32Array, out: Float32Array, lse: Float32Array, q: Float32Array, k: Float32Array, v: Float32Array, d: AttentionDims): void;

  /**
   * Attention of new query rows against a KV cache (sampling: prefill and decode).
   * q, out (B, Tq, nHead, headDim); kCache, vCache (B, maxT, nKvHead, headDim), already holding the keys
   * and values of the new rows. Query t of sequence b sits at position pos[b] + t and attends to cache
   * positions 0 .. pos[b] + t. `d.T` is ignored; Tq and maxT are given explicitly.
   */
  attentionCached(out: Float32Array, q: Float32Array, kCache: Float32Array, vCache: Float32Array, pos: Int32Array, Tq: number, maxT: number, d: AttentionDims): void;

  /** out = silu(gate) * up, elementwise over n values. */
  swigluForward(out: Float32Array, gate: Float32Array, up: Float32Array, n: number): void;
  /** dgate, dup += gradients of swiglu given dout. */
  swigluBackward(dgate: Float32Array, dup: Float32Array, dout: Float32Array, gate: Float32Array, up: Float32Array, n: number): void;

  /**
   * Per row n: lse[n] = logsumexp(logits[n, :]), logp[n] = logits[n, targets[n]] - lse[n].
   * logits (N, V). A target < 0 means "no target": logp[n] = 0 (lse is still written).
   */
  logSoftmaxGather(logp: Float32Array, lse: Float32Array, logits: Float32Array, targets: Int32Array, N: number, V: number): void;
  /**
   * dlogits (N, V) = dlogp[n] * (onehot(target) - softmax(logits[n])), OVERWRITING dlogits
   * (the logits buffer may be passed as dlogits to save memory). Rows with target < 0 get zeros.
   */
  logSoftmaxGatherBackward(dlogits: Float32Array, dlogp: Float32Array, logits: Float32Array, lse: Float32Array, targets: Int32Array, N: number, V: number): void;

  /**
   * Per row n of logits (N, V): lse[n] = logsumexp(logits[n, :]) and entropy[n] = -Σ_j p_j log p_j (nats)
   * of p = softmax(logits[n, :]), from one exponential per element (no target, no logits written).
   */
  softmaxEntropy(entropy: Float32Array, lse: Float32Array, logits: Float32Array, N: number, V: number): void;
  /**
   * weights[n, j] = scale[n] * exp(logits[n, j] - lse[n]), OVERWRITING weights (which may alias logits):
   * softmax probabilities given the row's lse, scaled per row (e.g. by -dlogp for a log-prob gradient).
   */
  softmaxWeights(weights: Float32Array, logits: Float32Array, lse: Float32Array, scale: Float32Array, N: number, V: number): void;

  /** Sum of squares of x in float64 with fixed chunking (for the global gradient norm). */
  sumSquares(x: Float32Array, n: number): number;
  /** x *= s in place. */
  scale(x: Float32Array, s: number, n: number): void;
  /** out = a + b elementwise (out may alias a). */
  add(out: Float32Array, a: Float32Array, b: Float32Array, n: number): void;

  /**
   * One AdamW update with decoupled weight decay (Loshchilov & Hutter), bias-corrected moments:
   * m = b1 m + (1-b1) g; v = b2 v + (1-b2) g²; p -= lr * (m̂ / (sqrt(v̂) + eps) + wd * p).
   * `step` is 1-based.
   */
  adamw(p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, n: number, lr: number, beta1: number, beta2: number, eps: number, weightDecay: number, step: number): void;

  /** Releases worker threads; the provider is unusable afterwards. */
  dispose(): Promise<void>;

  /**
   * Sampling, first pass: chunkMax (N, nC) = the max of each vocabulary chunk of logits (N, V), chunk c
   * covering columns c*chunk .. min(V, (c+1)*chunk) - 1, nC = ceil(V / chunk). Work splits over
   * (row, chunk) units, so a single row spreads over the threads too.
   */
  samplingMax(chunkMax: Float32Array, logits: Float32Array, N: number, V: number, chunk: number): void;
  /**
   * Sampling, second pass. Per unit (row r, chunk c), with m = max of chunkMax[r, :] and x = z - m:
   * sums[(r*nC + c)*2] = Σ exp(x) over the chunk (the temperature-1 normaliser), and when
   * invTemperature > 0: weights (N, V) = exp(x * invTemperature) (unnormalised, the row max gets 1) with
   * sums[(r*nC + c)*2 + 1] = Σ of the stored float32 weights. Sums are float64, in a fixed order inside
   * the chunk. exp(y) is exactly 0 for y < -87.3365 (the float32 exp's floor), so -Infinity logits get
   * weight 0. invTemperature = 0 (greedy) writes no weights and leaves the weight sums at 0.
   */
  samplingWeights(weights: Float32Array, sums: Float64Array, logits: Float32Array, chunkMax: Float32Array, invTemperature: number, N: number, V: number, chunk: number): void;

  /**
   * Optional hint: the values of `w` (a weight, float32 or bfloat16, or a block of weights) will not
   * change until `unmarkConstant(w)`, so a provider may prepare a matmul's B that lies inside `w` once
   * instead of per call (the native provider pre-packs it; the wasm and ts
   * providers ignore the hint). A marked tensor must not be written: unmark it first (LoRA merge,
   * weight reload, a model disposed). A matmul's B is recognised as constant by its buffer and byte
   * range, so pass views of the same allocation.
   */
  markConstant?(w: WeightArray): void;
  /** Optional: withdraws `markConstant(w)` (same buffer and range) and frees what the provider prepared. */
  unmarkConstant?(w: WeightArray): void;
}
