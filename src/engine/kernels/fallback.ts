/**
 * The reference kernel provider: plain TypeScript loops, one thread, written to be read.
 * Every other provider is tested against this one, and this one is tested against float64 finite
 * differences (test/engine/fallback.test.ts). Shapes follow the contract in ./types.ts.
 */
import { asFloat32, type WeightArray } from '../bf16.js';
import type { AttentionDims, Kernels, MatmulLayout } from './types.js';

/** Elements per chunk of a scalar reduction; chunks are summed in order, so the result is fixed. */
const REDUCE_CHUNK = 4096;
/** log of the smallest normal float32: the WebAssembly exp's lower clamp, below which sampling weights are 0. */
const EXP_FLOOR = -87.3365447504;

export class FallbackKernels implements Kernels {
  readonly name = 'ts';
  readonly threads = 1;
  private scores = new Float64Array(0);

  /** A reused row of attention scores, so attention does not allocate per call. */
  private scoreRow(n: number): Float64Array {
    if (this.scores.length < n) this.scores = new Float64Array(n);
    return this.scores;
  }

  matmul(out: Float32Array, a: Float32Array, weight: WeightArray, M: number, N: number, K: number, layout: MatmulLayout, accumulate: boolean): void {
    const b = asFloat32(weight); // bfloat16 widened exactly (a copy: this is the reference, not the fast path)
    if (layout === 'nt') {
      // out (M, N) = a (M, K) · b (N, K)ᵀ: each output is a dot product of two contiguous rows, summed
      // in four interleaved partial sums (k mod 4) so that the additions do not wait on each other.
      for (let m = 0; m < M; m++) {
        const aRow = m * K;
        for (let n = 0; n < N; n++) {
          const bRow = n * K;
          let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
          let k = 0;
          for (; k + 4 <= K; k += 4) {
            s0 += a[aRow + k] * b[bRow + k];
            s1 += a[aRow + k + 1] * b[bRow + k + 1];
            s2 += a[aRow + k + 2] * b[bRow + k + 2];
            s3 += a[aRow + k + 3] * b[bRow + k + 3];
          }
          for (; k < K; k++) s0 += a[aRow + k] * b[bRow + k];
          const sum = s0 + s1 + (s2 + s3);
          out[m * N + n] = accumulate ? out[m * N + n] + sum : sum;
        }
      }
      return;
    }
    if (!accumulate) out.fill(0, 0, M * N);
    if (layout === 'nn') {
      // out (M, N) += a (M, K) · b (K, N): stream rows of b into row m of out, k ascending, four rows
      // of b per pass so that out is read and written a quarter as often.
      for (let m = 0; m < M; m++) {
        const outRow = m * N;
        let k = 0;
        for (; k + 4 <= K; k += 4) {
          const a0 = a[m * K + k], a1 = a[m * K + k + 1], a2 = a[m * K + k + 2], a3 = a[m * K + k + 3];
          const b0 = k * N, b1 = b0 + N, b2 = b1 + N, b3 = b2 + N;
          for (let n = 0; n < N; n++) out[outRow + n] += a0 * b[b0 + n] + a1 * b[b1 + n] + a2 * b[b2 + n] + a3 * b[b3 + n];
        }
        for (; k < K; k++) {
          const aMK = a[m * K + k];
          const bRow = k * N;
          for (let n = 0; n < N; n++) out[outRow + n] += aMK * b[bRow + n];
        }
      }
      return;
    }
    // 'tn': out (M, N) += a (K, M)ᵀ · b (K, N), k ascending for every output element, four k per pass.
    let k = 0;
    for (; k + 4 <= K; k += 4) {
      const b0 = k * N, b1 = b0 + N, b2 = b1 + N, b3 = b2 + N;
      for (let m = 0; m < M; m++) {
        const a0 = a[k * M + m], a1 = a[(k + 1) * M + m], a2 = a[(k + 2) * M + m], a3 = a[(k + 3) * M + m];
        const outRow = m * N;
        for (let n = 0; n < N; n++) out[outRow + n] += a0 * b[b0 + n] + a1 * b[b1 + n] + a2 * b[b2 + n] + a3 * b[b3 + n];
      }
    }
    for (; k < K; k++) {
      const bRow = k * N;
      for (let m = 0; m < M; m++) {
        const aKM = a[k * M + m];
        const outRow = m * N;
        for (let n = 0; n < N; n++) out[outRow + n] += aKM * b[bRow + n];
      }
    }
  }

  addBias(out: Float32Array, bias: Float32Array, N: number, C: number): void {
    for (let n = 0; n < N; n++) {
      for (let c = 0; c < C; c++) out[n * C + c] += bias[c];
    }
  }

  biasBackward(dbias: Float32Array, dout: Float32Array, N: number, C: number): void {
    for (let c = 0; c < C; c++) {
      let sum = 0;
      for (let n = 0; n < N; n++) sum += dout[n * C + c];
      dbias[c] += sum;
    }
  }

  rmsnormForward(out: Float32Array, rstd: Float32Array, x: Float32Array, w: Float32Array, N: number, C: number, eps: number): void {
    for (let n = 0; n < N; n++) {
      const row = n * C;
      let sumSq = 0;
      for (let c = 0; c < C; c++) sumSq += x[row + c] * x[row + c];
      const r = 1 / Math.sqrt(sumSq / C + eps);
      rstd[n] = r;
      for (let c = 0; c < C; c++) out[row + c] = x[row + c] * r * w[c];
    }
  }

  rmsnormBackward(dx: Float32Array, dw: Float32Array, dout: Float32Array, x: Float32Array, w: Float32Array, rstd: Float32Array, N: number, C: number): void {
    // y = w ⊙ x r with r = (mean(x²) + eps)^(-1/2), so dr/dx = -r³ x / C and
    // dx = r (w ⊙ dy) - x r³ / C · Σ_c (w ⊙ dy ⊙ x).
    for (let n = 0; n < N; n++) {
      const row = n * C;
      const r = rstd[n];
      let dot = 0;
      for (let c = 0; c < C; c++) dot += w[c] * dout[row + c] * x[row + c];
      const k = (dot * r * r * r) / C;
      for (let c = 0; c < C; c++) {
        dx[row + c] += r * w[c] * dout[row + c] - k * x[row + c];
        dw[c] += dout[row + c] * x[row + c] * r;
      }
    }
  }

  rope(x: Float32Array, positions: Int32Array, cos: Float32Array, sin: Float32Array, N: number, nHeads: number, headDim: number, inverse: boolean): void {
    // HF rotate_half: pairs are (i, i + headDim/2), rotated by angle pos * theta^(-2i/headDim).
    const half = headDim / 2;
    const sign = inverse ? -1 : 1;
    for (let n = 0; n < N; n++) {
      const table = positions[n] * half;
      for (let h = 0; h < nHeads; h++) {
        const base = (n * nHeads + h) * headDim;
        for (let i = 0; i < half; i++) {
          const c = cos[table + i];
          const s = sign * sin[table + i];
          const x1 = x[base + i];
          const x2 = x[base + i + half];
          x[base + i] = x1 * c - x2 * s;
          x[base + i + half] = x2 * c + x1 * s;
        }
      }
    }
  }

  attentionForward(out: Float32Array, lse: Float32Array, q: Float32Array, k: Float32Array, v: Float32Array, d: AttentionDims): void {
    const { B, T, nHead, nKvHead, headDim } = d;
    const group = nHead / nKvHead;
    const scale = 1 / Math.sqrt(headDim);
    const scores = this.scoreRow(T);
    for (let b = 0; b < B; b++) {
      for (let h = 0; h < nHead; h++) {
        const kvh = Math.floor(h / group);
        for (let t = 0; t < T; t++) {
          const qOff = ((b * T + t) * nHead + h) * headDim;
          // scores (t+1): causal, query t sees keys 0..t.
          let max = -Infinity;
          for (let j = 0; j <= t; j++) {
            const kOff = ((b * T + j) * nKvHead + kvh) * headDim;
            let s = 0;
            for (let i = 0; i < headDim; i++) s += q[qOff + i] * k[kOff + i];
            s *= scale;
            scores[j] = s;
            if (s > max) max = s;
          }
          let sum = 0;
          for (let j = 0; j <= t; j++) {
            scores[j] = Math.exp(scores[j] - max);
            sum += scores[j];
          }
          lse[(b * nHead + h) * T + t] = max + Math.log(sum);
          for (let i = 0; i < headDim; i++) out[qOff + i] = 0;
          for (let j = 0; j <= t; j++) {
            const p = scores[j] / sum;
            const vOff = ((b * T + j) * nKvHead + kvh) * headDim;
            for (let i = 0; i < headDim; i++) out[qOff + i] += p * v[vOff + i];
          }
        }
      }
    }
  }

  attentionBackward(dq: Float32Array, dk: Float32Array, dv: Float32Array, dout: Float32Array, out: Float32Array, lse: Float32Array, q: Float32Array, k: Float32Array, v: Float32Array, d: AttentionDims): void {
    // With p_j = exp(s_j - lse) and D = Σ_j p_j (dout·v_j) = dout·out:
    // ds_j = p_j (dout·v_j - D); dq += scale Σ_j ds_j k_j; dk_j += scale ds_j q; dv_j += p_j dout.
    const { B, T, nHead, nKvHead, headDim } = d;
    const group = nHead / nKvHead;
    const scale = 1 / Math.sqrt(headDim);
    for (let b = 0; b < B; b++) {
      for (let h = 0; h < nHead; h++) {
        const kvh = Math.floor(h / group);
        for (let t = 0; t < T; t++) {
          const qOff = ((b * T + t) * nHead + h) * headDim;
          const rowLse = lse[(b * nHead + h) * T + t];
          let D = 0;
          for (let i = 0; i < headDim; i++) D += dout[qOff + i] * out[qOff + i];
          for (let j = 0; j <= t; j++) {
            const kOff = ((b * T + j) * nKvHead + kvh) * headDim;
            let s = 0;
            let dp = 0;
            for (let i = 0; i < headDim; i++) {
              s += q[qOff + i] * k[kOff + i];
              dp += dout[qOff + i] * v[kOff + i];
            }
            const p = Math.exp(s * scale - rowLse);
            const ds = p * (dp - D) * scale;
            for (let i = 0; i < headDim; i++) {
              dq[qOff + i] += ds * k[kOff + i];
              dk[kOff + i] += ds * q[qOff + i];
              dv[kOff + i] += p * dout[qOff + i];
            }
          }
        }
      }
    }
  }

  attentionCached(out: Float32Array, q: Float32Array, kCache: Float32Array, vCache: Float32Array, pos: Int32Array, Tq: number, maxT: number, d: AttentionDims): void {
    const { B, nHead, nKvHead, headDim } = d;
    const group = nHead / nKvHead;
    const scale = 1 / Math.sqrt(headDim);
    const scores = this.scoreRow(maxT);
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < Tq; t++) {
        const last = pos[b] + t; // this query's position; it sees cache positions 0..last
        for (let h = 0; h < nHead; h++) {
          const kvh = Math.floor(h / group);
          const qOff = ((b * Tq + t) * nHead + h) * headDim;
          let max = -Infinity;
          for (let j = 0; j <= last; j++) {
            const kOff = ((b * maxT + j) * nKvHead + kvh) * headDim;
            let s = 0;
            for (let i = 0; i < headDim; i++) s += q[qOff + i] * kCache[kOff + i];
            s *= scale;
            scores[j] = s;
            if (s > max) max = s;
          }
          let sum = 0;
          for (let j = 0; j <= last; j++) {
            scores[j] = Math.exp(scores[j] - max);
            sum += scores[j];
          }
          for (let i = 0; i < headDim; i++) out[qOff + i] = 0;
          for (let j = 0; j <= last; j++) {
            const p = scores[j] / sum;
            const vOff = ((b * maxT + j) * nKvHead + kvh) * headDim;
            for (let i = 0; i < headDim; i++) out[qOff + i] += p * vCache[vOff + i];
          }
        }
      }
    }
  }

  swigluForward(out: Float32Array, gate: Float32Array, up: Float32Array, n: number): void {
    for (let i = 0; i < n; i++) {
      const g = gate[i];
      out[i] = (g / (1 + Math.exp(-g))) * up[i];
    }
  }

  swigluBackward(dgate: Float32Array, dup: Float32Array, dout: Float32Array, gate: Float32Array, up: Float32Array, n: number): void {
    // silu(g) = g σ(g); silu'(g) = σ(g) (1 + g (1 - σ(g))).
    for (let i = 0; i < n; i++) {
      const g = gate[i];
      const sig = 1 / (1 + Math.exp(-g));
      dgate[i] += dout[i] * up[i] * sig * (1 + g * (1 - sig));
      dup[i] += dout[i] * g * sig;
    }
  }

  logSoftmaxGather(logp: Float32Array, lse: Float32Array, logits: Float32Array, targets: Int32Array, N: number, V: number): void {
    for (let n = 0; n < N; n++) {
      const row = n * V;
      let max = -Infinity;
      for (let j = 0; j < V; j++) if (logits[row + j] > max) max = logits[row + j];
      let sum = 0;
      for (let j = 0; j < V; j++) sum += Math.exp(logits[row + j] - max);
      const rowLse = max + Math.log(sum);
      lse[n] = rowLse;
      const target = targets[n];
      logp[n] = target < 0 ? 0 : logits[row + target] - rowLse;
    }
  }

  logSoftmaxGatherBackward(dlogits: Float32Array, dlogp: Float32Array, logits: Float32Array, lse: Float32Array, targets: Int32Array, N: number, V: number): void {
    // Element j is read before it is written, so dlogits may alias logits.
    for (let n = 0; n < N; n++) {
      const row = n * V;
      const target = targets[n];
      if (target < 0) {
        dlogits.fill(0, row, row + V);
        continue;
      }
      const g = dlogp[n];
      const rowLse = lse[n];
      for (let j = 0; j < V; j++) {
        const p = Math.exp(logits[row + j] - rowLse);
        dlogits[row + j] = g * ((j === target ? 1 : 0) - p);
      }
    }
  }

  softmaxEntropy(entropy: Float32Array, lse: Float32Array, logits: Float32Array, N: number, V: number): void {
    for (let n = 0; n < N; n++) {
      const row = n * V;
      let max = -Infinity;
      for (let j = 0; j < V; j++) if (logits[row + j] > max) max = logits[row + j];
      // H = log s - Σ e_j (z_j - max) / s with e_j = exp(z_j - max), s = Σ e_j: no cancellation against max.
      let sum = 0;
      let weighted = 0;
      for (let j = 0; j < V; j++) {
        const shifted = logits[row + j] - max;
        const e = Math.exp(shifted);
        sum += e;
        weighted += e * shifted;
      }
      lse[n] = max + Math.log(sum);
      entropy[n] = Math.log(sum) - weighted / sum;
    }
  }

  softmaxWeights(weights: Float32Array, logits: Float32Array, lse: Float32Array, scale: Float32Array, N: number, V: number): void {
    for (let n = 0; n < N; n++) {
      const row = n * V;
      const rowLse = lse[n];
      const s = scale[n];
      for (let j = 0; j < V; j++) weights[row + j] = s * Math.exp(logits[row + j] - rowLse);
    }
  }

  sumSquares(x: Float32Array, n: number): number {
    let total = 0;
    for (let start = 0; start < n; start += REDUCE_CHUNK) {
      const end = Math.min(n, start + REDUCE_CHUNK);
      let chunk = 0;
      for (let i = start; i < end; i++) chunk += x[i] * x[i];
      total += chunk;
    }
    return total;
  }

  scale(x: Float32Array, s: number, n: number): void {
    for (let i = 0; i < n; i++) x[i] *= s;
  }

  add(out: Float32Array, a: Float32Array, b: Float32Array, n: number): void {
    for (let i = 0; i < n; i++) out[i] = a[i] + b[i];
  }

  adamw(p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, n: number, lr: number, beta1: number, beta2: number, eps: number, weightDecay: number, step: number): void {
    const correction1 = 1 - Math.pow(beta1, step);
    const correction2 = 1 - Math.pow(beta2, step);
    for (let i = 0; i < n; i++) {
      const gi = g[i];
      const mi = beta1 * m[i] + (1 - beta1) * gi;
      const vi = beta2 * v[i] + (1 - beta2) * gi * gi;
      m[i] = mi;
      v[i] = vi;
      p[i] -= lr * (mi / correction1 / (Math.sqrt(vi / correction2) + eps) + weightDecay * p[i]);
    }
  }

  async dispose(): Promise<void> {
    // Nothing to release: no threads.
  }

  samplingMax(chunkMax: Float32Array, logits: Float32Array, N: number, V: number, chunk: number): void {
    const nC = Math.ceil(V / chunk);
    for (let n = 0; n < N; n++) {
      for (let c = 0; c < nC; c++) {
        let max = -Infinity;
        for (let j = c * chunk; j < Math.min(V, (c + 1) * chunk); j++) max = Math.max(max, logits[n * V + j]);
        chunkMax[n * nC + c] = max;
      }
    }
  }

  samplingWeights(weights: Float32Array, sums: Float64Array, logits: Float32Array, chunkMax: Float32Array, invTemperature: number, N: number, V: number, chunk: number): void {
    const nC = Math.ceil(V / chunk);
    // exp is 0 below the float32 exp's floor, as in the WebAssembly kernel (-Infinity logits get weight 0).
    const expFloored = (x: number): number => (x >= EXP_FLOOR ? Math.exp(x) : 0);
    for (let n = 0; n < N; n++) {
      let m = -Infinity;
      for (let c = 0; c < nC; c++) m = Math.max(m, chunkMax[n * nC + c]);
      for (let c = 0; c < nC; c++) {
        let sumExp = 0;
        let sumWeights = 0;
        for (let j = c * chunk; j < Math.min(V, (c + 1) * chunk); j++) {
          const x = logits[n * V + j] - m;
          sumExp += expFloored(x);
          if (invTemperature > 0) {
            weights[n * V + j] = expFloored(x * invTemperature);
            sumWeights += weights[n * V + j]; // the stored float32 value
          }
        }
        sums[(n * nC + c) * 2] = sumExp;
        sums[(n * nC + c) * 2 + 1] = sumWeights;
      }
    }
  }
}
