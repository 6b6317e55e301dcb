/**
 * The fast kernel provider: WebAssembly SIMD kernels (assembly/kernels.ts) run by a pool of worker
 * threads over the engine's shared memory. Each call converts its tensor views to byte offsets,
 * checks them, and runs on all threads when it is big enough to repay the wake-up (a few µs).
 */
import type { WeightArray } from '../bf16.js';
import type { AttentionDims, Kernels, MatmulLayout } from './types.js';
import type { KernelPool } from './pool.js';
import { OP } from './ops.js';

/** Estimated single-thread time (ns) below which a call runs on the calling thread alone. */
const PARALLEL_MIN_NS = 4000;
const LAYOUT_CODE: Record<MatmulLayout, number> = { nt: 0, nn: 1, tn: 2 };

type View = Float32Array | Int32Array | Uint16Array;

/** Limits the module was built with (its exports). */
export interface WasmLimits {
  /** Longest attention row (keys) the per-thread scratch holds. */
  maxKeys: number;
  sumSquaresChunk: number;
  sumSquaresMaxChunks: number;
  /** Byte offset of the float64 chunk-sum table of sumSquares. */
  sumSquaresTable: number;
}

export class WasmKernels implements Kernels {
  readonly name: string;
  readonly threads: number;
  /** The engine memories (arena segments), in the pool's order: a call runs the instance over its tensors' one. */
  private readonly memories: WebAssembly.Memory[] = [];
  /**
   * Buffer objects known to be an engine memory, with its index. V8 may hand out several
   * SharedArrayBuffer objects over the same shared memory (one per grow, and a fresh one when an old
   * wrapper was collected), so a view's buffer is looked up by identity first and by aliasing (probe) on a miss.
   */
  private readonly buffers = new Map<ArrayBufferLike, number>();
  private readonly args: Float64Array;
  /** The memory of the current call's tensors (set by its first `ptr`), and the call it belongs to. */
  private callMemory = -1;
  private callName = '';

  constructor(
    private readonly pool: KernelPool,
    memory: WebAssembly.Memory,
    /** Which module build: 'wasm-simd' or 'wasm-simd-fma' (fused multiply-add through relaxed SIMD). */
    variant: string,
    private readonly limits: WasmLimits,
  ) {
    this.threads = pool.threads;
    this.name = `${variant} x${pool.threads}`;
    this.args = pool.args;
    this.memories.push(memory);
    this.buffers.set(memory.buffer, 0);
  }

  /** Gives the kernels an instance over another engine memory (a new arena segment) on every thread. */
  addMemory(memory: WebAssembly.Memory): void {
    this.pool.addMemory(memory);
    this.buffers.set(memory.buffer, this.memories.length);
    this.memories.push(memory);
  }

  /**
   * Byte offset of `view` in its engine memory, after checking it is in one, holds `need` values, and is
   * in the same memory as the call's other tensors (a kernel instance addresses one memory).
   */
  private ptr(call: string, tensor: string, view: View, need: number): number {
    const mem = this.buffers.get(view.buffer) ?? this.probeMemory(view.buffer);
    if (mem < 0) throw new Error(`${call}: tensor '${tensor}' is not a view into the engine memory; allocate it with the engine's Arena (allocF32/allocI32)`);
    if (view.length < need) throw new Error(`${call}: tensor '${tensor}' has ${view.length} elements, needs ${need}`);
    if (call !== this.callName) {
      this.callName = call;
      this.callMemory = mem;
    } else if (mem !== this.callMemory) {
      this.callName = '';
      throw new Error(`${call}: tensor '${tensor}' is in engine memory ${mem}, the call's other tensors in memory ${this.callMemory}; a kernel reads and writes one memory (arena segment) only`);
    }
    return view.byteOffset;
  }

  /** Calls split over all threads so far (the others ran on the calling thread alone). */
  parallelCalls = 0;

  /** The index of the engine memory whose bytes `buffer` shows, or -1 (see `aliases`). */
  private probeMemory(buffer: ArrayBufferLike): number {
    for (let i = 0; i < this.memories.length; i++) {
      const current = this.memories[i].buffer;
      this.buffers.set(current, i);
      if (aliases(current, buffer)) {
        this.buffers.set(buffer, i);
        return i;
      }
    }
    return -1;
  }

  private run(op: number, nargs: number, estimatedNs: number): void {
    const parallel = this.threads > 1 && estimatedNs >= PARALLEL_MIN_NS;
    if (parallel) this.parallelCalls++;
    const mem = this.callMemory;
    this.callName = '';
    this.pool.run(op, nargs, parallel, mem);
  }

  matmul(out: Float32Array, a: Float32Array, b: WeightArray, M: number, N: number, K: number, layout: MatmulLayout, accumulate: boolean): void {
    const code = LAYOUT_CODE[layout];
    if (code === undefined) throw new Error(`matmul: unknown layout '${layout}'`);
    const g = this.args;
    g[0] = this.ptr('matmul', 'out', out, M * N);
    g[1] = this.ptr('matmul', 'a', a, M * K);
    g[2] = this.ptr('matmul', 'b', b, N * K);
    g[3] = M;
    g[4] = N;
    g[5] = K;
    g[6] = code;
    g[7] = accumulate ? 1 : 0;
    g[8] = b instanceof Uint16Array ? 1 : 0; // bfloat16 B
    // Rows split in groups of 4: a thread needs at least one group.
    this.run(OP.matmul, 9, M >= 8 ? (M * N * K) / 16 : 0);
  }

  addBias(out: Float32Array, bias: Float32Array, N: number, C: number): void {
    const g = this.args;
    g[0] = this.ptr('addBias', 'out', out, N * C);
    g[1] = this.ptr('addBias', 'bias', bias, C);
    g[2] = N;
    g[3] = C;
    this.run(OP.addBias, 4, (N * C) / 4);
  }

  biasBackward(dbias: Float32Array, dout: Float32Array, N: number, C: number): void {
    const g = this.args;
    g[0] = this.ptr('biasBackward', 'dbias', dbias, C);
    g[1] = this.ptr('biasBackward', 'dout', dout, N * C);
    g[2] = N;
    g[3] = C;
    this.run(OP.biasBackward, 4, C >= 8 ? (N * C) / 4 : 0);
  }

  rmsnormForward(out: Float32Array, rstd: Float32Array, x: Float32Array, w: Float32Array, N: number, C: number, eps: number): void {
    const g = this.args;
    g[0] = this.ptr('rmsnormForward', 'out', out, N * C);
    g[1] = this.ptr('rmsnormForward', 'rstd', rstd, N);
    g[2] = this.ptr('rmsnormForward', 'x', x, N * C);
    g[3] = this.ptr('rmsnormForward', 'w', w, C);
    g[4] = N;
    g[5] = C;
    g[6] = eps;
    this.run(OP.rmsnormForward, 7, (N * C) / 2);
  }

  rmsnormBackward(dx: Float32Array, dw: Float32Array, dout: Float32Array, x: Float32Array, w: Float32Array, rstd: Float32Array, N: number, C: number): void {
    const g = this.args;
    g[0] = this.ptr('rmsnormBackward', 'dx', dx, N * C);
    g[1] = this.ptr('rmsnormBackward', 'dw', dw, C);
    g[2] = this.ptr('rmsnormBackward', 'dout', dout, N * C);
    g[3] = this.ptr('rmsnormBackward', 'x', x, N * C);
    g[4] = this.ptr('rmsnormBackward', 'w', w, C);
    g[5] = this.ptr('rmsnormBackward', 'rstd', rstd, N);
    g[6] = N;
    g[7] = C;
    this.run(OP.rmsnormBackward, 8, N * C);
  }

  rope(x: Float32Array, positions: Int32Array, cos: Float32Array, sin: Float32Array, N: number, nHeads: number, headDim: number, inverse: boolean): void {
    if (headDim % 2 !== 0) throw new Error(`rope: headDim ${headDim} is odd`);
    const half = headDim / 2;
    const g = this.args;
    g[0] = this.ptr('rope', 'x', x, N * nHeads * headDim);
    g[1] = this.ptr('rope', 'positions', positions, N);
    let maxPos = 0;
    for (let i = 0; i < N; i++) maxPos = Math.max(maxPos, positions[i]);
    for (let i = 0; i < N; i++) if (positions[i] < 0) throw new Error(`rope: positions[${i}] = ${positions[i]} is negative`);
    g[2] = this.ptr('rope', 'cos', cos, (maxPos + 1) * half);
    g[3] = this.ptr('rope', 'sin', sin, (maxPos + 1) * half);
    g[4] = N;
    g[5] = nHeads;
    g[6] = headDim;
    g[7] = inverse ? 1 : 0;
    this.run(OP.rope, 8, (N * nHeads * headDim) / 2);
  }

  private checkAttention(call: string, d: AttentionDims, keys: number): void {
    if (d.nKvHead <= 0 || d.nHead % d.nKvHead !== 0) throw new Error(`${call}: nHead ${d.nHead} is not a multiple of nKvHead ${d.nKvHead}`);
    if (d.headDim % 4 !== 0) throw new Error(`${call}: headDim ${d.headDim} is not a multiple of 4 (the WebAssembly kernels need it)`);
    if (keys > this.limits.maxKeys) throw new Error(`${call}: ${keys} keys exceed the kernel scratch limit of ${this.limits.maxKeys}`);
  }

  attentionForward(out: Float32Array, lse: Float32Array, q: Float32Array, k: Float32Array, v: Float32Array, d: AttentionDims): void {
    const { B, T, nHead, nKvHead, headDim } = d;
    this.checkAttention('attentionForward', d, T);
    const g = this.args;
    g[0] = this.ptr('attentionForward', 'out', out, B * T * nHead * headDim);
    g[1] = this.ptr('attentionForward', 'lse', lse, B * nHead * T);
    g[2] = this.ptr('attentionForward', 'q', q, B * T * nHead * headDim);
    g[3] = this.ptr('attentionForward', 'k', k, B * T * nKvHead * headDim);
    g[4] = this.ptr('attentionForward', 'v', v, B * T * nKvHead * headDim);
    g[5] = B;
    g[6] = T;
    g[7] = nHead;
    g[8] = nKvHead;
    g[9] = headDim;
    this.run(OP.attentionForward, 10, B * nHead >= 2 ? (B * nHead * T * T * headDim) / 8 : 0);
  }

  attentionBackward(dq: Float32Array, dk: Float32Array, dv: Float32Array, dout: Float32Array, out: Float32Array, lse: Float32Array, q: Float32Array, k: Float32Array, v: Float32Array, d: AttentionDims): void {
    const { B, T, nHead, nKvHead, headDim } = d;
    this.checkAttention('attentionBackward', d, T);
    const qn = B * T * nHead * headDim, kn = B * T * nKvHead * headDim;
    const g = this.args;
    g[0] = this.ptr('attentionBackward', 'dq', dq, qn);
    g[1] = this.ptr('attentionBackward', 'dk', dk, kn);
    g[2] = this.ptr('attentionBackward', 'dv', dv, kn);
    g[3] = this.ptr('attentionBackward', 'dout', dout, qn);
    g[4] = this.ptr('attentionBackward', 'out', out, qn);
    g[5] = this.ptr('attentionBackward', 'lse', lse, B * nHead * T);
    g[6] = this.ptr('attentionBackward', 'q', q, qn);
    g[7] = this.ptr('attentionBackward', 'k', k, kn);
    g[8] = this.ptr('attentionBackward', 'v', v, kn);
    g[9] = B;
    g[10] = T;
    g[11] = nHead;
    g[12] = nKvHead;
    g[13] = headDim;
    this.run(OP.attentionBackward, 14, B * nKvHead >= 2 ? (B * nHead * T * T * headDim) / 3 : 0);
  }

  attentionCached(out: Float32Array, q: Float32Array, kCache: Float32Array, vCache: Float32Array, pos: Int32Array, Tq: number, maxT: number, d: AttentionDims): void {
    const { B, nHead, nKvHead, headDim } = d;
    this.checkAttention('attentionCached', d, maxT);
    const g = this.args;
    g[4] = this.ptr('attentionCached', 'pos', pos, B);
    let keys = 0;
    for (let b = 0; b < B; b++) {
      if (pos[b] < 0 || pos[b] + Tq > maxT) throw new Error(`attentionCached: pos[${b}] = ${pos[b]} with ${Tq} new rows does not fit the cache of ${maxT} positions`);
      keys += pos[b] + Tq;
    }
    g[0] = this.ptr('attentionCached', 'out', out, B * Tq * nHead * headDim);
    g[1] = this.ptr('attentionCached', 'q', q, B * Tq * nHead * headDim);
    g[2] = this.ptr('attentionCached', 'kCache', kCache, B * maxT * nKvHead * headDim);
    g[3] = this.ptr('attentionCached', 'vCache', vCache, B * maxT * nKvHead * headDim);
    g[5] = Tq;
    g[6] = maxT;
    g[7] = B;
    g[8] = nHead;
    g[9] = nKvHead;
    g[10] = headDim;
    this.run(OP.attentionCached, 11, B * nHead >= 2 ? (keys * Tq * nHead * headDim) / 4 : 0);
  }

  swigluForward(out: Float32Array, gate: Float32Array, up: Float32Array, n: number): void {
    const g = this.args;
    g[0] = this.ptr('swigluForward', 'out', out, n);
    g[1] = this.ptr('swigluForward', 'gate', gate, n);
    g[2] = this.ptr('swigluForward', 'up', up, n);
    g[3] = n;
    this.run(OP.swigluForward, 4, n);
  }

  swigluBackward(dgate: Float32Array, dup: Float32Array, dout: Float32Array, gate: Float32Array, up: Float32Array, n: number): void {
    const g = this.args;
    g[0] = this.ptr('swigluBackward', 'dgate', dgate, n);
    g[1] = this.ptr('swigluBackward', 'dup', dup, n);
    g[2] = this.ptr('swigluBackward', 'dout', dout, n);
    g[3] = this.ptr('swigluBackward', 'gate', gate, n);
    g[4] = this.ptr('swigluBackward', 'up', up, n);
    g[5] = n;
    this.run(OP.swigluBackward, 6, 2 * n);
  }

  logSoftmaxGather(logp: Float32Array, lse: Float32Array, logits: Float32Array, targets: Int32Array, N: number, V: number): void {
    const g = this.args;
    g[0] = this.ptr('logSoftmaxGather', 'logp', logp, N);
    g[1] = this.ptr('logSoftmaxGather', 'lse', lse, N);
    g[2] = this.ptr('logSoftmaxGather', 'logits', logits, N * V);
    g[3] = this.ptr('logSoftmaxGather', 'targets', targets, N);
    this.checkTargets('logSoftmaxGather', targets, N, V);
    g[4] = N;
    g[5] = V;
    this.run(OP.logSoftmaxGather, 6, N * V);
  }

  logSoftmaxGatherBackward(dlogits: Float32Array, dlogp: Float32Array, logits: Float32Array, lse: Float32Array, targets: Int32Array, N: number, V: number): void {
    const g = this.args;
    g[0] = this.ptr('logSoftmaxGatherBackward', 'dlogits', dlogits, N * V);
    g[1] = this.ptr('logSoftmaxGatherBackward', 'dlogp', dlogp, N);
    g[2] = this.ptr('logSoftmaxGatherBackward', 'logits', logits, N * V);
    g[3] = this.ptr('logSoftmaxGatherBackward', 'lse', lse, N);
    g[4] = this.ptr('logSoftmaxGatherBackward', 'targets', targets, N);
    this.checkTargets('logSoftmaxGatherBackward', targets, N, V);
    g[5] = N;
    g[6] = V;
    this.run(OP.logSoftmaxGatherBackward, 7, N * V);
  }

  softmaxEntropy(entropy: Float32Array, lse: Float32Array, logits: Float32Array, N: number, V: number): void {
    const g = this.args;
    g[0] = this.ptr('softmaxEntropy', 'entropy', entropy, N);
    g[1] = this.ptr('softmaxEntropy', 'lse', lse, N);
    g[2] = this.ptr('softmaxEntropy', 'logits', logits, N * V);
    g[3] = N;
    g[4] = V;
    this.run(OP.softmaxEntropy, 5, N * V);
  }

  softmaxWeights(weights: Float32Array, logits: Float32Array, lse: Float32Array, scale: Float32Array, N: number, V: number): void {
    const g = this.args;
    g[0] = this.ptr('softmaxWeights', 'weights', weights, N * V);
    g[1] = this.ptr('softmaxWeights', 'logits', logits, N * V);
    g[2] = this.ptr('softmaxWeights', 'lse', lse, N);
    g[3] = this.ptr('softmaxWeights', 'scale', scale, N);
    g[4] = N;
    g[5] = V;
    this.run(OP.softmaxWeights, 6, N * V);
  }

  private checkTargets(call: string, targets: Int32Array, N: number, V: number): void {
    for (let i = 0; i < N; i++) {
      if (targets[i] >= V) throw new Error(`${call}: targets[${i}] = ${targets[i]} is outside the vocabulary of ${V}`);
    }
  }

  sumSquares(x: Float32Array, n: number): number {
    const base = this.ptr('sumSquares', 'x', x, n);
    const mem = this.callMemory;
    const { sumSquaresChunk: chunk, sumSquaresMaxChunks: maxChunks, sumSquaresTable: table } = this.limits;
    const span = chunk * maxChunks;
    let total = 0;
    // Chunk sums are added in chunk order whatever the thread count.
    for (let start = 0; start < n; start += span) {
      const len = Math.min(span, n - start);
      this.args[0] = base + start * 4;
      this.args[1] = len;
      this.callMemory = mem;
      this.run(OP.sumSquares, 2, len >= 2 * chunk ? len / 4 : 0);
      const sums = new Float64Array(this.memories[mem].buffer, table, Math.ceil(len / chunk));
      for (let c = 0; c < sums.length; c++) total += sums[c];
    }
    return total;
  }

  scale(x: Float32Array, s: number, n: number): void {
    const g = this.args;
    g[0] = this.ptr('scale', 'x', x, n);
    g[1] = s;
    g[2] = n;
    this.run(OP.scale, 3, n / 4);
  }

  add(out: Float32Array, a: Float32Array, b: Float32Array, n: number): void {
    const g = this.args;
    g[0] = this.ptr('add', 'out', out, n);
    g[1] = this.ptr('add', 'a', a, n);
    g[2] = this.ptr('add', 'b', b, n);
    g[3] = n;
    this.run(OP.add, 4, n / 4);
  }

  adamw(p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, n: number, lr: number, beta1: number, beta2: number, eps: number, weightDecay: number, step: number): void {
    if (!(step >= 1)) throw new Error(`adamw: step ${step} must be >= 1 (it is 1-based)`);
    const a = this.args;
    a[0] = this.ptr('adamw', 'p', p, n);
    a[1] = this.ptr('adamw', 'g', g, n);
    a[2] = this.ptr('adamw', 'm', m, n);
    a[3] = this.ptr('adamw', 'v', v, n);
    a[4] = n;
    a[5] = lr;
    a[6] = beta1;
    a[7] = beta2;
    a[8] = eps;
    a[9] = weightDecay;
    a[10] = 1 - Math.pow(beta1, step);
    a[11] = 1 - Math.pow(beta2, step);
    this.run(OP.adamw, 12, n);
  }

  async dispose(): Promise<void> {
    await this.pool.dispose();
  }

  samplingMax(chunkMax: Float32Array, logits: Float32Array, N: number, V: number, chunk: number): void {
    const nC = samplingChunks('samplingMax', V, chunk);
    const g = this.args;
    g[0] = this.ptr('samplingMax', 'chunkMax', chunkMax, N * nC);
    g[1] = this.ptr('samplingMax', 'logits', logits, N * V);
    g[2] = N;
    g[3] = V;
    g[4] = chunk;
    this.run(OP.samplingMax, 5, N * nC >= 2 ? (N * V) / 8 : 0);
  }

  samplingWeights(weights: Float32Array, sums: Float64Array, logits: Float32Array, chunkMax: Float32Array, invTemperature: number, N: number, V: number, chunk: number): void {
    const nC = samplingChunks('samplingWeights', V, chunk);
    if (!(invTemperature >= 0 && Number.isFinite(invTemperature))) throw new Error(`samplingWeights: invTemperature ${invTemperature} must be finite and >= 0`);
    if (sums.byteOffset % 8 !== 0) throw new Error('samplingWeights: sums must be 8-byte aligned');
    const g = this.args;
    g[0] = invTemperature > 0 ? this.ptr('samplingWeights', 'weights', weights, N * V) : 0;
    // The float64 sums go through the float32 view check: same bytes, twice the elements.
    g[1] = this.ptr('samplingWeights', 'sums', new Float32Array(sums.buffer, sums.byteOffset, sums.length * 2), N * nC * 4);
    g[2] = this.ptr('samplingWeights', 'logits', logits, N * V);
    g[3] = this.ptr('samplingWeights', 'chunkMax', chunkMax, N * nC);
    g[4] = invTemperature;
    g[5] = N;
    g[6] = V;
    g[7] = chunk;
    this.run(OP.samplingWeights, 8, N * nC >= 2 ? N * V * (invTemperature > 0 && invTemperature !== 1 ? 2 : 1) : 0);
  }
}

/** Chunks per row of the sampling kernels, after checking the chunk length. */
function samplingChunks(call: string, V: number, chunk: number): number {
  if (!(Number.isInteger(chunk) && chunk > 0)) throw new Error(`${call}: chunk ${chunk} must be a positive integer`);
  return Math.ceil(V / chunk);
}

/**
 * Whether `buffer` shows the bytes of `current` (a memory's buffer): flip one byte through `current` and
 * look through `buffer`. Safe because no kernel runs between calls.
 */
function aliases(current: ArrayBufferLike, buffer: ArrayBufferLike): boolean {
  if (buffer === current) return true;
  if (!(buffer instanceof SharedArrayBuffer) || buffer.byteLength === 0 || buffer.byteLength > current.byteLength) return false;
  const mine = new Uint8Array(current, 0, 1), theirs = new Uint8Array(buffer, 0, 1);
  const keep = mine[0];
  mine[0] = keep ^ 0xff;
  let same = theirs[0] === mine[0];
  mine[0] = keep ^ 0x0f;
  same &&= theirs[0] === mine[0];
  mine[0] = keep;
  return same;
}
