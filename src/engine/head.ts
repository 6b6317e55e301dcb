/**
 * The LM head over the vocabulary in chunks: log-probs of the targets, log-sum-exp, entropy, and the
 * backward of the log-probs, without ever holding the (N, V) logits. With Qwen's 151,936-token vocabulary
 * the full logits take 622 MB per 1,024 positions; here only (N, HEAD_CHUNK) exist at a time.
 *
 * Forward, per chunk of vocabulary rows W_c (Vc, C): logits_c = h · W_cᵀ (N, Vc), then the kernel gives
 * each row's chunk lse_c and entropy H_c, merged online (float64) into the running lse and entropy:
 *   L' = logaddexp(L, lse_c),  a = exp(L - L'),  b = exp(lse_c - L'),
 *   H' = a H + b H_c - a log a - b log b            (entropy of a two-part mixture).
 * Backward recomputes logits_c and turns it in place into d logits_c = -dlogp (softmax) + dlogp onehot,
 * then d h += d logits_c · W_c and d W_c += d logits_cᵀ · h, chunk by chunk.
 */
import type { WeightArray } from './bf16.js';
import type { Kernels } from './kernels/types.js';
import type { Allocator } from './memory.js';

/** Vocabulary rows per chunk: (N, HEAD_CHUNK) floats of scratch, large enough to keep matmuls efficient. */
export const HEAD_CHUNK = 1024;

/** Arena scratch of the chunked head for up to N rows. */
export interface HeadScratch {
  chunk: number; // vocabulary rows per chunk: min(V, HEAD_CHUNK)
  logits: Float32Array; // (N, chunk) one chunk's logits, then its d logits
  chunkLse: Float32Array; // (N)
  chunkEntropy: Float32Array; // (N)
  scale: Float32Array; // (N) -dlogp, 0 on rows without a target
}

/** Scratch for N rows; `chunkRows` (default HEAD_CHUNK) vocabulary rows per chunk. */
export function allocHeadScratch(arena: Allocator, N: number, V: number, chunkRows = HEAD_CHUNK): HeadScratch {
  const chunk = Math.min(V, chunkRows);
  return { chunk, logits: arena.allocF32(N * chunk), chunkLse: arena.allocF32(N), chunkEntropy: arena.allocF32(N), scale: arena.allocF32(N) };
}

/** The outputs of `headForward`, each (N): written, not accumulated. */
export interface HeadOutputs {
  logp: Float32Array; // log p(target); 0 where target < 0
  lse: Float32Array; // log-sum-exp of the logits
  entropy: Float32Array; // entropy (nats) of softmax(logits)
}

/** x log x with 0 log 0 = 0. */
const xlogx = (x: number): number => (x > 0 ? x * Math.log(x) : 0);

/** Log-probs, lse and entropy of logits = hidden (N, C) · Wᵀ, W (V, C), chunk by chunk. */
export function headForward(k: Kernels, s: HeadScratch, out: HeadOutputs, hidden: Float32Array, W: WeightArray, targets: Int32Array, N: number, V: number, C: number): void {
  const runLse = new Float64Array(N).fill(-Infinity);
  const runEntropy = new Float64Array(N);
  const targetLogit = new Float64Array(N);
  for (let v0 = 0; v0 < V; v0 += s.chunk) {
    const Vc = Math.min(s.chunk, V - v0);
    k.matmul(s.logits, hidden, W.subarray(v0 * C, (v0 + Vc) * C), N, Vc, C, 'nt', false); // (N, Vc)
    k.softmaxEntropy(s.chunkEntropy, s.chunkLse, s.logits, N, Vc);
    for (let n = 0; n < N; n++) {
      const t = targets[n] - v0;
      if (t >= 0 && t < Vc) targetLogit[n] = s.logits[n * Vc + t];
      const lc = s.chunkLse[n];
      const L = runLse[n];
      const merged = Math.max(L, lc) + Math.log1p(Math.exp(-Math.abs(L - lc)));
      const a = Math.exp(L - merged);
      const b = Math.exp(lc - merged);
      runEntropy[n] = a * runEntropy[n] + b * s.chunkEntropy[n] - xlogx(a) - xlogx(b);
      runLse[n] = merged;
    }
  }
  for (let n = 0; n < N; n++) {
    out.lse[n] = runLse[n];
    out.entropy[n] = runEntropy[n];
    out.logp[n] = targets[n] < 0 ? 0 : targetLogit[n] - runLse[n];
  }
}

/**
 * Backward of `headForward`'s log-probs given dlogp (N) and the forward's lse (N): dhidden (N, C) is
 * OVERWRITTEN with dlogp-weighted d logp / d hidden; dW (V, C), when given, ACCUMULATES.
 */
export function headBackward(k: Kernels, s: HeadScratch, dhidden: Float32Array, dW: Float32Array | null, dlogp: Float32Array, hidden: Float32Array, W: WeightArray, lse: Float32Array, targets: Int32Array, N: number, V: number, C: number): void {
  for (let n = 0; n < N; n++) s.scale[n] = targets[n] < 0 ? 0 : -dlogp[n];
  for (let v0 = 0; v0 < V; v0 += s.chunk) {
    const Vc = Math.min(s.chunk, V - v0);
    const Wc = W.subarray(v0 * C, (v0 + Vc) * C);
    k.matmul(s.logits, hidden, Wc, N, Vc, C, 'nt', false); // logits_c (N, Vc)
    k.softmaxWeights(s.logits, s.logits, lse, s.scale, N, Vc); // -dlogp · softmax, in place
    for (let n = 0; n < N; n++) {
      const t = targets[n] - v0;
      if (targets[n] >= 0 && t >= 0 && t < Vc) s.logits[n * Vc + t] += dlogp[n]; // + dlogp · onehot
    }
    k.matmul(dhidden, s.logits, Wc, N, C, Vc, 'nn', v0 > 0); // d hidden (+)= d logits_c · W_c
    if (dW) k.matmul(dW.subarray(v0 * C, (v0 + Vc) * C), s.logits, hidden, Vc, C, N, 'tn', true); // d W_c += d logits_cᵀ · hidden
  }
}
