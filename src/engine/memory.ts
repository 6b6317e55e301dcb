/**
 * Engine memory: every tensor of the process (weights, gradients, optimiser state, activations) lives in
 * shared WebAssembly memories. WebAssembly kernels and worker threads address tensors by byte offset, so
 * nothing is copied between JS, WebAssembly and threads.
 *
 * wasm32 limits one memory to 4 GiB, so the arena is a list of segments, each its own memory of up to
 * 4 GiB with its own kernel instances (./kernels/pool.ts). A kernel call reads and writes one segment
 * only; the model places each decoder layer with everything that layer touches (weights, gradients, AdamW
 * moments, activations, KV caches) in one segment and copies the (rows, C) residual stream across at
 * segment boundaries (docs/design.md, "Memory past 4 GiB"). Models that fit one memory use segment 0
 * alone, exactly as before segments existed.
 *
 * Each memory is `shared` (a SharedArrayBuffer) so worker threads see the same bytes. Growing a shared
 * memory never detaches the old buffer, so views handed out earlier stay valid after a grow.
 * Allocation is a bump pointer with 64-byte alignment (a cache line, and SIMD-friendly); `mark` and
 * `release` free everything allocated after a mark, for per-step scratch space.
 */
import { PrlError } from '../util/errors.js';

const PAGE = 65536;
const MAX_PAGES = 65536; // 4 GiB
const ALIGN = 64;
/** The most bytes one segment can hold (wasm32: 2^16 pages of 64 KiB). */
export const ARENA_MAX_BYTES = MAX_PAGES * PAGE;

type View = Float32Array | Int32Array | Uint16Array;

/** Where buffers come from: an arena's segment 0, or one given segment. */
export interface Allocator {
  allocF32(n: number): Float32Array;
  allocI32(n: number): Int32Array;
}

/** A segment also holds 16-bit values (bfloat16 weights). */
export interface Allocator16 extends Allocator {
  allocU16(n: number): Uint16Array;
}

/** A new shared memory large enough for `base` reserved bytes, growable to 4 GiB. */
export function newSharedMemory(base: number): WebAssembly.Memory {
  return new WebAssembly.Memory({ initial: Math.ceil(base / PAGE) + 16, maximum: MAX_PAGES, shared: true });
}

/** One memory with a bump allocator. */
export class Segment implements Allocator16 {
  private top: number;
  /** The highest byte ever handed out: above it the memory is still as grown (zeros). */
  private highWater: number;
  /** Buffer objects of the views this segment handed out (a view's `buffer` names its memory). */
  private readonly buffers = new WeakSet<ArrayBufferLike>();

  /**
   * `base` bytes at the start are reserved for the kernel module's own data and stack. `fresh`: nothing
   * past `base` was ever written (a new memory); otherwise every allocation is cleared.
   */
  constructor(
    readonly index: number,
    readonly memory: WebAssembly.Memory,
    base: number,
    fresh: boolean,
  ) {
    this.top = alignUp(base);
    this.highWater = fresh ? this.top : Infinity;
  }

  get usedBytes(): number {
    return this.top;
  }

  allocF32(n: number): Float32Array {
    const offset = this.reserve(n * 4); // may grow the memory: take the buffer only afterwards
    return this.zeroed(new Float32Array(this.memory.buffer, offset, n));
  }

  allocI32(n: number): Int32Array {
    const offset = this.reserve(n * 4);
    return this.zeroed(new Int32Array(this.memory.buffer, offset, n));
  }

  allocU16(n: number): Uint16Array {
    const offset = this.reserve(n * 2);
    return this.zeroed(new Uint16Array(this.memory.buffer, offset, n));
  }

  /**
   * `view`, all zeros: only the part below the high-water mark can hold old values (released scratch);
   * memory above it was never written, and WebAssembly memory grows zeroed. Skipping it saves touching
   * every page of a multi-GiB model twice at load.
   */
  private zeroed<T extends View>(view: T): T {
    const end = view.byteOffset + view.byteLength;
    if (view.byteOffset < this.highWater) new Uint8Array(view.buffer, view.byteOffset, Math.min(end, this.highWater) - view.byteOffset).fill(0);
    this.highWater = Math.max(this.highWater, end);
    this.buffers.add(view.buffer);
    return view;
  }

  /** Whether `view` was allocated here (or is a subarray of such a view). */
  holds(view: View): boolean {
    return this.buffers.has(view.buffer);
  }

  mark(): number {
    return this.top;
  }

  /** Frees everything allocated after `mark`; views into that region must not be used again. */
  release(mark: number): void {
    if (mark > this.top) throw new Error(`Arena.release: mark ${mark} is above the top ${this.top}`);
    this.top = mark;
  }

  /** Reserves an aligned block of `bytes` bytes, growing the memory if needed; returns its offset. */
  private reserve(bytes: number): number {
    const start = this.top;
    const end = alignUp(start + bytes);
    const have = this.memory.buffer.byteLength;
    if (end > have) {
      const needPages = Math.ceil((end - have) / PAGE);
      const havePages = have / PAGE;
      if (havePages + needPages > MAX_PAGES) {
        throw new PrlError(`out of engine memory: segment ${this.index} needs ${(end / 2 ** 30).toFixed(2)} GiB, the limit of one segment is 4 GiB (wasm32); the model's placement (src/engine/memory-estimate.ts planPlacement) should have given this work another segment`);
      }
      // Grow geometrically (by a quarter) so that many small allocations do not grow page by page.
      this.memory.grow(Math.min(MAX_PAGES - havePages, Math.max(needPages, Math.ceil(havePages / 4))));
    }
    this.top = end;
    return start;
  }
}

/**
 * The engine's segments. Segment 0 always exists; `segment(i)` opens more on demand through `openMemory`
 * (the engine's hook, which also gives the kernels an instance over the new memory). The plain
 * `allocF32`/`allocI32`/`mark`/`release` act on segment 0.
 */
export class Arena implements Allocator {
  private readonly segments: Segment[];
  private readonly openMemory: (() => WebAssembly.Memory) | undefined;

  /**
   * Segment 0 over `memory` (default a new one) from byte `base`. Without `openMemory`, an arena over a
   * given memory is a region of it (e.g. a server's adapter slot: cleared as it is allocated, since it
   * held other tensors) and opens no further segments; one that made its own memory opens plain memories
   * (the reference kernels need no instances).
   */
  constructor(
    private readonly base: number,
    memory?: WebAssembly.Memory,
    openMemory?: () => WebAssembly.Memory,
  ) {
    // A memory given with `openMemory` is the engine's own new one; given alone, a region of a used one.
    this.segments = [new Segment(0, memory ?? newSharedMemory(base), base, memory === undefined || openMemory !== undefined)];
    this.openMemory = openMemory ?? (memory === undefined ? () => newSharedMemory(base) : undefined);
  }

  /** Bytes each segment reserves at its start (the kernel module's data and stack). */
  get baseBytes(): number {
    return this.base;
  }

  /** Segment 0's memory. */
  get memory(): WebAssembly.Memory {
    return this.segments[0].memory;
  }

  /** Segments opened so far. */
  get segmentCount(): number {
    return this.segments.length;
  }

  /** Segment `i`, opening segments up to it when needed. */
  segment(i: number): Segment {
    if (!(Number.isInteger(i) && i >= 0)) throw new Error(`Arena.segment: ${i} is not a segment index`);
    while (this.segments.length <= i) {
      if (!this.openMemory) throw new Error('Arena.segment: this arena is a region of one memory and cannot open segments');
      this.segments.push(new Segment(this.segments.length, this.openMemory(), this.base, true));
    }
    return this.segments[i];
  }

  /** The index of the segment that allocated `view`. */
  segmentOf(view: View): number {
    const found = this.segments.findIndex((s) => s.holds(view));
    if (found < 0) throw new Error('Arena.segmentOf: the tensor was not allocated by this arena');
    return found;
  }

  /** Bytes in use over all segments (each counts its reserved base). */
  get usedBytes(): number {
    return this.segments.reduce((sum, s) => sum + s.usedBytes, 0);
  }

  allocF32(n: number): Float32Array {
    return this.segments[0].allocF32(n);
  }

  allocI32(n: number): Int32Array {
    return this.segments[0].allocI32(n);
  }

  mark(): number {
    return this.segments[0].mark();
  }

  release(mark: number): void {
    this.segments[0].release(mark);
  }
}

function alignUp(x: number): number {
  return Math.ceil(x / ALIGN) * ALIGN;
}
