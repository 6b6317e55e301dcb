/**
 * The native kernel provider: onnxruntime-node's CPU kernels (MLAS, compiled per CPU with AVX2/AVX-512)
 * for the matmul family, the WebAssembly provider for everything else.
 *
 * Why this shape: a matmul is where a training step spends its time, and MLAS reaches about 3x the
 * 128-bit WebAssembly SIMD kernel on the same cores (docs/design.md). Every other kernel is memory-bound
 * or small, so it stays in wasm, and the provider is a Proxy over the wasm kernels: any kernel added to
 * the interface later passes through untouched.
 *
 * Each matmul call runs one ONNX Gemm session, cached per (layout, N, K) with the row count M
 * symbolic. Inputs are copied out of the engine's shared memory and the result copied back, because
 * N-API refuses views of a SharedArrayBuffer; below MIN_NATIVE_ROWS rows that copy costs more than the
 * wasm kernel saves, so those calls (decode steps) stay in wasm. The rule depends on the shape only, so a
 * run is as deterministic as either provider alone, and MLAS splits work over output blocks (never over
 * K), so results are bit-identical for any thread count (test/engine/native.test.ts checks 1 vs 2).
 *
 * An 'nt' matmul whose B lies inside a tensor marked constant (`markConstant`: a frozen model's weights)
 * runs instead, at any row count, on a session of its own that holds that B as a constant initializer:
 * onnxruntime pre-packs it once at load, and the call copies only A and Y. The price: the packed copy
 * (RSS ~2x its bytes with glibc's default malloc) and one idle intra-op thread per such session. Its
 * bits differ from the per-call session's (MLAS's packed-B path blocks K differently; within float32
 * rounding of the same sum), but which path a call takes depends only on what was marked and the layout,
 * never on timing, and both are bit-identical for any thread count. A marked tensor must not change: each
 * call compares a few sampled floats of B with their values at packing time and throws if one moved.
 *
 * Sessions are created synchronously: the binding's loadModel finishes the load before it returns unless
 * a JavaScript callback is registered (none is here); the public `InferenceSession.create` is async only,
 * and a kernel call cannot await, so the provider talks to the binding (onnxruntime-node/dist/binding.js).
 */
import { createRequire } from 'node:module';
import { PrlError } from '../../util/errors.js';
import { CONSTANT_B_PATH, gemmModel } from './onnx-gemm.js';
import { widenBf16, type WeightArray } from '../bf16.js';
import type { Kernels, MatmulLayout } from './types.js';

/** Calls with fewer output rows than this run in wasm (copying in and out dominates below it). */
export const MIN_NATIVE_ROWS = 16;
/**
 * Layouts whose B is pre-packed when constant: 'nt' only, the forward projections and the LM head
 * (decode, prefill, scoring), where packing pays up to 12x (bench/RESULTS.md). 'nn' (the backward to the
 * input through a frozen base, LoRA training) runs at training row counts where it pays ~1x, and a
 * second packed copy of every weight would double the memory cost.
 */
const PACKED_LAYOUTS: ReadonlySet<MatmulLayout> = new Set(['nt']);

/** The part of onnxruntime-common's Tensor the provider uses. */
interface OrtTensor {
  readonly data: unknown;
  readonly dims: readonly number[];
}
type TensorConstructor = new (type: 'float32', data: Float32Array, dims: number[]) => OrtTensor;

interface BindingSession {
  loadModel(buffer: ArrayBuffer, byteOffset: number, byteLength: number, options: object): Promise<void> | undefined;
  readonly inputMetadata: unknown[];
  run(feeds: Record<string, OrtTensor>, fetches: Record<string, OrtTensor | null>, options: object): Record<string, OrtTensor>;
  dispose(): void;
}

/** What the provider needs from the onnxruntime-node package. */
export interface OrtBackend {
  version: string;
  newSession(): BindingSession;
  Tensor: TensorConstructor;
}

/**
 * Loads onnxruntime-node (or `packageName`, a seam for tests and for pointing at another build) and
 * initialises its runtime; throws if the package is absent, its binary will not load, or it cannot
 * load a Gemm session synchronously.
 */
export function loadOrtBackend(packageName = 'onnxruntime-node'): OrtBackend {
  const require = createRequire(import.meta.url);
  const pkgJson = require.resolve(`${packageName}/package.json`);
  const fromPackage = createRequire(pkgJson);
  const { version } = fromPackage(pkgJson) as { version: string };
  const { binding, initOrt } = fromPackage(`${packageName}/dist/binding.js`) as {
    binding: { InferenceSession: new () => BindingSession };
    initOrt: () => void;
  };
  const { Tensor } = fromPackage('onnxruntime-common') as { Tensor: TensorConstructor };
  initOrt();
  const backend = { version, newSession: () => new binding.InferenceSession(), Tensor };
  // Load one tiny session now, so that a binding that cannot load synchronously is found here (and the
  // engine falls back to wasm) rather than at the first matmul of a run.
  loadGemmSession(backend, false, true, 1, 1, 1).dispose();
  return backend;
}

/** One cached Gemm session. */
interface GemmSession {
  session: BindingSession;
  transA: boolean;
  transB: boolean;
}

/** Floats of a pre-packed B compared on every call with their values at packing time (a write detector). */
const GUARD_SAMPLES = 16;

/** A Gemm session whose B is a pre-packed constant, and the sampled floats that guard it against writes. */
interface PackedGemm extends GemmSession {
  guardIndex: number[];
  guardValues: number[]; // as stored: float32 values or bfloat16 bits
}

/** A byte range [start, end) of `buffer` marked constant, with the packed sessions of the B's inside it. */
interface ConstantRange {
  buffer: ArrayBufferLike;
  start: number;
  end: number;
  packed: Map<string, PackedGemm>; // key: layout, B's byte offset, N, K
}

/**
 * Staging copies of A, B and Y outside the shared memory, one set for all sessions (calls run one at
 * a time), each grown to the largest call seen: at the 0.5B shape the LM head's make them ~0.6 GB each.
 */
class Staging {
  private readonly buffers = { A: new Float32Array(0), B: new Float32Array(0), Y: new Float32Array(0) };

  /** A view of `n` floats of buffer `name`, growing it (to 1.25x, to limit regrowth) when too small. */
  view(name: 'A' | 'B' | 'Y', n: number): Float32Array {
    if (this.buffers[name].length < n) this.buffers[name] = new Float32Array(Math.ceil(n * 1.25));
    return this.buffers[name].subarray(0, n);
  }
}

const LAYOUT_TRANSPOSES: Record<MatmulLayout, { transA: boolean; transB: boolean }> = {
  nt: { transA: false, transB: true },
  nn: { transA: false, transB: false },
  tn: { transA: true, transB: false },
};

/** The matmul family on MLAS; see the file comment. */
export class OrtMatmul {
  private readonly sessions = new Map<string, GemmSession>();
  private readonly constants: ConstantRange[] = [];
  private readonly staging = new Staging();
  /** Calls that ran on MLAS (the rest went to wasm for having fewer than MIN_NATIVE_ROWS rows). */
  nativeCalls = 0;
  /** Of those, the calls whose B was a pre-packed constant. */
  packedCalls = 0;

  constructor(
    private readonly ort: OrtBackend,
    private readonly threads: number,
    private readonly wasm: Kernels,
  ) {}

  matmul(out: Float32Array, a: Float32Array, b: WeightArray, M: number, N: number, K: number, layout: MatmulLayout, accumulate: boolean): void {
    const transposes = LAYOUT_TRANSPOSES[layout];
    if (transposes === undefined) throw new Error(`matmul: unknown layout '${String(layout)}'`);
    if (out.length < M * N || a.length < M * K || b.length < N * K) {
      throw new Error(`matmul: tensors too small for (M=${M}, N=${N}, K=${K}): out ${out.length}, a ${a.length}, b ${b.length}`);
    }
    // A pre-packed B runs on MLAS at any row count: with no copy of B to amortise, MLAS beats wasm
    // from one row (decode) up.
    const packed = M > 0 && N > 0 && K > 0 && PACKED_LAYOUTS.has(layout) ? this.packedSession(layout, b, N, K) : undefined;
    if (!packed && (M < MIN_NATIVE_ROWS || N === 0 || K === 0)) {
      this.wasm.matmul(out, a, b, M, N, K, layout, accumulate);
      return;
    }
    const T = this.ort.Tensor;
    const g = packed ?? this.session(transposes.transA, transposes.transB, N, K);
    // Copies: N-API will not take views of the shared engine memory.
    const aIn = this.staging.view('A', M * K);
    aIn.set(a.subarray(0, M * K));
    const feeds: Record<string, OrtTensor> = { A: new T('float32', aIn, g.transA ? [K, M] : [M, K]) };
    if (!packed) {
      const bIn = this.staging.view('B', N * K);
      if (b instanceof Uint16Array) widenBf16(b.subarray(0, N * K), bIn); // bfloat16 widened in the copy it needs anyway
      else bIn.set(b.subarray(0, N * K));
      feeds.B = new T('float32', bIn, g.transB ? [N, K] : [K, N]);
    }
    const y = this.staging.view('Y', M * N);
    g.session.run(feeds, { Y: new T('float32', y, [M, N]) }, {});
    // Accumulating here rather than through Gemm's C input spares a third staging copy (0.6 GB for
    // the 0.5B LM head) at the same memory traffic.
    if (accumulate) for (let i = 0; i < M * N; i++) out[i] += y[i];
    else out.set(y);
    this.nativeCalls++;
    if (packed) this.packedCalls++;
  }

  /** See Kernels.markConstant: later matmuls whose B lies inside `w` run on pre-packed sessions. */
  markConstant(w: WeightArray): void {
    if (this.rangeIndex(w) >= 0) return;
    this.constants.push({ buffer: w.buffer, start: w.byteOffset, end: w.byteOffset + w.byteLength, packed: new Map() });
  }

  /** See Kernels.unmarkConstant: frees the packed sessions inside `w`'s range (marked by the same view). */
  unmarkConstant(w: WeightArray): void {
    const i = this.rangeIndex(w);
    if (i < 0) return;
    for (const g of this.constants[i].packed.values()) g.session.dispose();
    this.constants.splice(i, 1);
  }

  /** Packed sessions alive now (each holds one pre-packed B). */
  get packedSessions(): number {
    return this.constants.reduce((n, r) => n + r.packed.size, 0);
  }

  dispose(): void {
    for (const g of this.sessions.values()) g.session.dispose();
    this.sessions.clear();
    while (this.constants.length > 0) for (const g of this.constants.pop()!.packed.values()) g.session.dispose();
  }

  private rangeIndex(w: WeightArray): number {
    return this.constants.findIndex((r) => r.buffer === w.buffer && r.start === w.byteOffset && r.end === w.byteOffset + w.byteLength);
  }

  /**
   * The pre-packed session for B = the first N·K floats of `b` when they lie inside a marked range
   * (created and packed on first use), checked against writes; undefined when `b` is not constant.
   */
  private packedSession(layout: MatmulLayout, b: WeightArray, N: number, K: number): PackedGemm | undefined {
    const start = b.byteOffset, end = start + N * K * b.BYTES_PER_ELEMENT;
    const range = this.constants.find((r) => r.buffer === b.buffer && r.start <= start && end <= r.end);
    if (!range) return undefined;
    const key = `${layout}:${start}:${N}:${K}`;
    let g = range.packed.get(key);
    if (!g) {
      const { transA, transB } = LAYOUT_TRANSPOSES[layout];
      // A float32 B goes as the view itself, no copy (the binding reads external data from a
      // SharedArrayBuffer view, unlike tensors): onnxruntime packs it at load and keeps no reference to
      // it (checked: results do not change when it is overwritten). A bfloat16 one is widened first.
      const constantB = b instanceof Uint16Array ? widenBf16(b.subarray(0, N * K)) : b.subarray(0, N * K);
      const session = loadGemmSession(this.ort, transA, transB, N, K, this.threads, constantB);
      const guardIndex = Array.from({ length: GUARD_SAMPLES }, (_, i) => Math.floor((i * (N * K - 1)) / (GUARD_SAMPLES - 1)));
      g = { session, transA, transB, guardIndex, guardValues: guardIndex.map((i) => b[i]) };
      range.packed.set(key, g);
    }
    for (let i = 0; i < GUARD_SAMPLES; i++) {
      if (!Object.is(b[g.guardIndex[i]], g.guardValues[i])) {
        throw new PrlError(`native provider: a tensor marked constant changed after its matmul weight was pre-packed (B at byte ${start}, ${N}x${K}, float ${g.guardIndex[i]}); call unmarkConstant before writing a marked tensor`);
      }
    }
    return g;
  }

  private session(transA: boolean, transB: boolean, N: number, K: number): GemmSession {
    const key = `${transA ? 't' : 'n'}${transB ? 't' : 'n'}:${N}:${K}`;
    let g = this.sessions.get(key);
    if (!g) {
      const session = loadGemmSession(this.ort, transA, transB, N, K, this.threads);
      g = { session, transA, transB };
      this.sessions.set(key, g);
    }
    return g;
  }
}

/**
 * A loaded Gemm session, with B the constant `constantB` (pre-packed at load) when given; throws unless
 * the binding loaded it before returning (see the file comment).
 */
function loadGemmSession(ort: OrtBackend, transA: boolean, transB: boolean, N: number, K: number, threads: number, constantB?: Float32Array): BindingSession {
  const session = ort.newSession();
  const bytes = gemmModel({ transA, transB, N, K, constantB: constantB !== undefined });
  const options = constantB ? { ...sessionOptions(threads), externalData: [{ path: CONSTANT_B_PATH, data: constantB }] } : sessionOptions(threads);
  let loaded = false;
  let failure: unknown;
  try {
    // Attach a handler so that a failed load is not also an unhandled rejection.
    session.loadModel(bytes.buffer as ArrayBuffer, bytes.byteOffset, bytes.byteLength, options)?.catch(() => undefined);
    loaded = session.inputMetadata.length > 0;
  } catch (err) {
    failure = err;
  }
  if (!loaded) {
    throw new PrlError(`native provider: onnxruntime-node did not load a Gemm session synchronously (N=${N}, K=${K}); use --provider wasm`, { cause: failure });
  }
  return session;
}

/**
 * Fixed intra-op threads (the engine's thread count) so results do not depend on the machine, one
 * inter-op thread (a graph of one node), and no spin-waiting between calls: the pool's threads would
 * otherwise spin on the cores the wasm workers need for the non-matmul kernels.
 */
function sessionOptions(threads: number): object {
  return {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    executionProviders: ['cpu'],
    extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
  };
}

/**
 * The native provider over `wasm`: matmul from MLAS, every other member of `wasm` as is (a Proxy, so
 * kernels added to the interface later need no change here). `dispose` releases both.
 */
export function nativeKernels(wasm: Kernels, ort: OrtBackend): Kernels & { readonly ortMatmul: OrtMatmul } {
  const ortMatmul = new OrtMatmul(ort, wasm.threads, wasm);
  const overrides: Record<string | symbol, unknown> = {
    name: `native-mlas ${ort.version} x${wasm.threads} (+${wasm.name})`,
    ortMatmul,
    matmul: ortMatmul.matmul.bind(ortMatmul),
    markConstant: ortMatmul.markConstant.bind(ortMatmul),
    unmarkConstant: ortMatmul.unmarkConstant.bind(ortMatmul),
    dispose: async (): Promise<void> => {
      ortMatmul.dispose();
      await wasm.dispose();
    },
  };
  return new Proxy(wasm, {
    get(target, prop) {
      if (Object.hasOwn(overrides, prop)) return overrides[prop];
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  }) as Kernels & { readonly ortMatmul: OrtMatmul };
}
