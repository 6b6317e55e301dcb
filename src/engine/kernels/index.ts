/**
 * Engine construction: one shared memory (Arena) and a kernel provider over it.
 *
 *   const { arena, kernels } = await createEngine({ threads: 2 });
 *   const x = arena.allocF32(n); ... kernels.matmul(...); await kernels.dispose();
 */
import { readFileSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { availableParallelism } from 'node:os';
import { setFlagsFromString } from 'node:v8';
import { Arena, newSharedMemory } from '../memory.js';
import { PrlError, inputError } from '../../util/errors.js';
import type { Kernels } from './types.js';
import { FallbackKernels } from './fallback.js';
import { KernelPool } from './pool.js';
import { WasmKernels } from './wasm.js';
import { loadOrtBackend, nativeKernels } from './native.js';

export type { Kernels, MatmulLayout, AttentionDims } from './types.js';

export interface EngineOptions {
  /**
   * 'wasm' (default): WebAssembly SIMD + worker threads. 'ts': the plain TypeScript reference.
   * 'native': matmuls on onnxruntime-node's MLAS (the optional dependency), all else wasm; when the
   * package cannot load it falls back to 'wasm' with one line on stderr. Results differ across
   * providers in the last bits, never across thread counts within one.
   */
  provider?: 'wasm' | 'ts' | 'native';
  /** Threads for the wasm provider; default env PRL_THREADS, else the core count capped at 8. */
  threads?: number;
  /**
   * Use the fused multiply-add build (build/kernels-fma.wasm) when the runtime accepts relaxed SIMD.
   * Default: yes unless env PRL_NO_FMA is set. Results differ from the plain build in the last bits
   * (one rounding instead of two) but are bit-identical across thread counts within either build.
   */
  fma?: boolean;
  /** The package the native provider loads; default onnxruntime-node (tests point it at a missing one). */
  nativePackage?: string;
}

export interface Engine {
  arena: Arena;
  kernels: Kernels;
}

const DEFAULT_MAX_THREADS = 8;
const WASM_URL = new URL('../../../../build/kernels.wasm', import.meta.url);
const WASM_FMA_URL = new URL('../../../../build/kernels-fma.wasm', import.meta.url);

/**
 * The FMA module when wanted and the runtime validates it, else undefined. Node 20 (V8 11.3) accepts
 * relaxed SIMD only behind --experimental-wasm-relaxed-simd; the flag can be set at runtime before the
 * module is compiled, and worker threads share the process's V8 flags. Node >= 22 needs no flag.
 */
function loadFmaModule(): WebAssembly.Module | undefined {
  const path = fileURLToPath(WASM_FMA_URL);
  if (!existsSync(path)) return undefined;
  const bytes = readFileSync(path);
  if (!WebAssembly.validate(bytes)) setFlagsFromString('--experimental-wasm-relaxed-simd');
  return WebAssembly.validate(bytes) ? new WebAssembly.Module(bytes) : undefined;
}

/** Creates the engine memory and a kernel provider over it. Call `kernels.dispose()` when done. */
export async function createEngine(options: EngineOptions = {}): Promise<Engine> {
  const provider = options.provider ?? 'wasm';
  if (provider === 'ts') {
    return { arena: new Arena(0), kernels: new FallbackKernels() };
  }
  if (provider !== 'wasm' && provider !== 'native') {
    throw inputError('createEngine: provider', `unknown provider '${String(provider)}' (use 'wasm', 'native' or 'ts')`);
  }

  const wasmPath = fileURLToPath(WASM_URL);
  if (!existsSync(wasmPath)) throw new PrlError(`createEngine: ${wasmPath} is missing; run \`npm run build\` to compile the WebAssembly kernels`);
  const wantFma = options.fma ?? !process.env.PRL_NO_FMA;
  const fmaModule = wantFma ? loadFmaModule() : undefined;
  const module = fmaModule ?? new WebAssembly.Module(readFileSync(wasmPath));
  // A scratch memory only to read the module's layout constants.
  const probe = new WebAssembly.Instance(module, { env: { memory: new WebAssembly.Memory({ initial: 1, maximum: 65536, shared: true }) } }).exports;
  const call = (name: string): number => (probe[name] as () => number)();

  const maxThreads = call('maxThreads');
  const threads = resolveThreads(options.threads, maxThreads);
  // Layout: [module data | per-thread kernel scratch + sumSquares table | arena tensors ...]
  const scratchBase = Math.ceil(call('heapBase') / 64) * 64;
  const base = scratchBase + call('scratchBytes');
  const memory = newSharedMemory(base);
  const pool = await KernelPool.create(module, memory, threads, scratchBase, maxThreads);
  const kernels = new WasmKernels(pool, memory, fmaModule ? 'wasm-simd-fma' : 'wasm-simd', {
    maxKeys: call('maxKeys'),
    sumSquaresChunk: call('sumSquaresChunk'),
    sumSquaresMaxChunks: call('sumSquaresMaxChunks'),
    sumSquaresTable: scratchBase + call('scratchBytes') - call('sumSquaresMaxChunks') * 8,
  });
  // A new arena segment is laid out as the first memory and gets kernel instances on every thread.
  const arena = new Arena(base, memory, () => {
    const segment = newSharedMemory(base);
    kernels.addMemory(segment);
    return segment;
  });
  if (provider === 'native') return { arena, kernels: withNativeMatmul(kernels, options.nativePackage) };
  return { arena, kernels };
}

/** The native provider over `wasm`, or `wasm` itself with one line on stderr when it cannot load. */
function withNativeMatmul(wasm: Kernels, packageName = 'onnxruntime-node'): Kernels {
  try {
    return nativeKernels(wasm, loadOrtBackend(packageName));
  } catch (err) {
    const reason = (err instanceof Error ? err.message : String(err)).split('\n')[0];
    process.stderr.write(`prl: native provider unavailable (${packageName}: ${reason}); using ${wasm.name}\n`);
    return wasm;
  }
}

function resolveThreads(requested: number | undefined, maxThreads: number): number {
  let threads = requested;
  let where = 'createEngine: threads';
  if (threads === undefined && process.env.PRL_THREADS !== undefined && process.env.PRL_THREADS !== '') {
    threads = Number(process.env.PRL_THREADS);
    where = 'environment variable PRL_THREADS';
  }
  if (threads === undefined) return Math.min(availableParallelism(), DEFAULT_MAX_THREADS, maxThreads);
  if (!Number.isInteger(threads) || threads < 1 || threads > maxThreads) {
    throw inputError(where, `${String(threads)} is not a whole number of threads from 1 to ${maxThreads}`);
  }
  return threads;
}
