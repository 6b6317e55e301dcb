/**
 * One shared WebAssembly memory holds every tensor of the process (weights, gradients, optimiser
 * state, activations). WebAssembly kernels and worker threads address tensors by byte offset into
 * it, so nothing is copied between JS, WebAssembly and threads.
 *
 * The memory is `shared` (a SharedArrayBuffer) so worker threads see the same bytes. Growing a shared
 * memory never detaches the old buffer, so views handed out earlier stay valid after a grow.
 * Allocation is a bump pointer with 64-byte alignment (a cache line, and SIMD-friendly); `mark` and
 * `release` free everything allocated after a mark, for per-step scratch space.
 *
 * wasm32 limits one memory to 4 GiB: enough to train models up to ~150M parameters with AdamW or to
 * run ~0.5B parameter models for inference in float32.
 */
const PAGE = 65536;
const MAX_PAGES = 65536; // 4 GiB
const ALIGN = 64;
/** The most bytes one arena can hold (wasm32: 2^16 pages of 64 KiB). */
export const ARENA_MAX_BYTES = MAX_PAGES * PAGE;

export class Arena {
  readonly memory: WebAssembly.Memory;
  private top: number;

  /** `base` bytes at the start are reserved for the kernel module's own data and stack. */
  constructor(base: number, memory?: WebAssembly.Memory) {
    this.memory = memory ?? new WebAssembly.Memory({ initial: Math.ceil(base / PAGE) + 16, maximum: MAX_PAGES, shared: true });
    this.top = alignUp(base);
  }

  get usedBytes(): number {
    return this.top;
  }

  allocF32(n: number): Float32Array {
    const offset = this.reserve(n * 4); // may grow the memory: take the buffer only afterwards
    return new Float32Array(this.memory.buffer, offset, n).fill(0);
  }

  allocI32(n: number): Int32Array {
    const offset = this.reserve(n * 4);
    return new Int32Array(this.memory.buffer, offset, n).fill(0);
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
        throw new Error(`out of engine memory: need ${(end / 2 ** 30).toFixed(2)} GiB, the limit is 4 GiB (wasm32)`);
      }
      // Grow geometrically (by a quarter) so that many small allocations do not grow page by page.
      this.memory.grow(Math.min(MAX_PAGES - havePages, Math.max(needPages, Math.ceil(havePages / 4))));
    }
    this.top = end;
    return start;
  }
}

function alignUp(x: number): number {
  return Math.ceil(x / ALIGN) * ALIGN;
}
