/**
 * The WebAssembly kernel exports the thread pool can run, by index, and the layout of the pool's
 * control block. Shared by the calling thread (pool.ts) and the workers (worker.ts).
 *
 * Every export listed here takes its own arguments followed by (tid, nt): thread `tid` of `nt`
 * computes its own share of the outputs (see assembly/kernels.ts).
 */
export const OPS = [
  'matmul',
  'addBias',
  'biasBackward',
  'rmsnormForward',
  'rmsnormBackward',
  'rope',
  'attentionForward',
  'attentionBackward',
  'attentionCached',
  'swigluForward',
  'swigluBackward',
  'logSoftmaxGather',
  'logSoftmaxGatherBackward',
  'softmaxEntropy',
  'softmaxWeights',
  'sumSquares',
  'scale',
  'add',
  'adamw',
  'samplingMax',
  'samplingWeights',
] as const;

export type OpName = (typeof OPS)[number];
export const OP: Record<OpName, number> = Object.fromEntries(OPS.map((name, i) => [name, i])) as Record<OpName, number>;

/** Int32 slots of the control block. */
export const CTRL = {
  GEN: 0, // bumped by the caller once per parallel call; workers wait on it
  DONE: 1, // shares of the current call finished (by any thread)
  OP: 2, // index into OPS
  NARGS: 3, // arguments in the args block (before tid, nt)
  STOP: 4, // 1: workers exit
  SLEEPERS: 5, // workers blocked in Atomics.wait (the caller notifies only when > 0)
  ERROR: 6, // 1: a worker's kernel threw
  CLAIM: 7, // (generation mod 2^20) * 32 + next unclaimed share of the current call; see claimShare
  SHARES: 8, // shares (nt) of the current call
  MEM: 9, // which engine memory (arena segment) the call's tensors are in: the instance to run
} as const;
export const CTRL_INTS = 16;
export const MAX_ARGS = 32;
/** Byte size of the control block: CTRL_INTS int32 slots, then MAX_ARGS float64 arguments. */
export const CONTROL_BYTES = CTRL_INTS * 4 + MAX_ARGS * 8;

/** Busy-wait iterations before a thread blocks in Atomics.wait (kernel calls come in quick bursts). */
export const SPIN = 1 << 16;

/**
 * Shares per thread of a parallel call. More shares than threads would bound what a descheduled thread
 * can hold up to a small piece of a call (the kernels give the same bits for any share count); 4 per
 * thread measured no better on a loaded machine (3 runs each, bench/RESULTS.md), so 1 for now.
 */
export const SHARES_PER_THREAD = 1;
/** Shares per call are below this (MAX_THREADS of the module is 16): the low bits of CLAIM. */
const SHARE_BITS = 5;
const GEN_MASK = (1 << 20) - 1;

/** The CLAIM value that opens call `gen` with share 0 next. */
export function openClaims(gen: number): number {
  return (gen & GEN_MASK) << SHARE_BITS;
}

/**
 * Takes the next unclaimed share of call `gen` (of `nt` shares), or returns -1 when none is left or the
 * call is no longer the current one. Shares are claimed dynamically, by whichever thread comes first,
 * so a worker the OS has not scheduled yet does not stall the call: the caller takes its share too.
 * The result stays deterministic because a share's output depends only on its index (tid, nt), never on
 * the thread that runs it (per-share scratch is indexed by tid as well).
 */
export function claimShare(ctrl: Int32Array, gen: number, nt: number): number {
  for (;;) {
    const v = Atomics.load(ctrl, CTRL.CLAIM);
    if (v >>> SHARE_BITS !== (gen & GEN_MASK)) return -1;
    const share = v & ((1 << SHARE_BITS) - 1);
    if (share >= nt) return -1;
    if (Atomics.compareExchange(ctrl, CTRL.CLAIM, v, v + 1) === v) return share;
  }
}

/** A kernel export as JS sees it: numbers in, nothing out. */
export type KernelFn = (...args: number[]) => void;

/** The exported kernel functions of an instance, in OPS order. */
export function kernelFunctions(exports: Record<string, unknown>): KernelFn[] {
  return OPS.map((name) => {
    const fn = exports[name];
    if (typeof fn !== 'function') throw new Error(`build/kernels.wasm has no export '${name}': rebuild it with \`npm run build\``);
    return fn as KernelFn;
  });
}

/** The kernel functions of a new instance of `module` over `memory`, its scratch at `scratchBase`. */
export function instantiate(module: WebAssembly.Module, memory: WebAssembly.Memory, scratchBase: number): KernelFn[] {
  const instance = new WebAssembly.Instance(module, { env: { memory } });
  (instance.exports.setScratchBase as (p: number) => void)(scratchBase);
  return kernelFunctions(instance.exports);
}
