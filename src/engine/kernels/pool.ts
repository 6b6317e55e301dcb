/**
 * A pool of worker threads over the engine's shared WebAssembly memory. Each worker instantiates the
 * same kernel module; a call is published through a shared control block (op index, arguments,
 * generation counter) and split into shares (tid, nt) of the outputs, SHARES_PER_THREAD per thread (ops.ts). Every thread, the
 * caller included, claims shares until none is left (claimShare), so a worker that is descheduled on a
 * busy machine costs at most its share's time instead of stalling the caller. The caller then waits
 * until every share is done, so a call is synchronous. Latency is a few microseconds while workers spin
 * between calls; idle workers sleep in Atomics.wait.
 *
 * Every thread holds one module instance per engine memory (arena segment, ../memory.ts); a call names
 * the memory its tensors are in. A memory opened later is posted to each worker, which instantiates it
 * the first time a call names it (receiveMessageOnPort: the workers never return to their event loop).
 */
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import { CONTROL_BYTES, CTRL, CTRL_INTS, MAX_ARGS, SHARES_PER_THREAD, SPIN, claimShare, instantiate, openClaims, type KernelFn } from './ops.js';

export class KernelPool {
  /** Arguments of the next call (before tid, nt); the caller fills them, then calls `run`. */
  readonly args: Float64Array;
  private readonly ctrl: Int32Array;
  private readonly callArgs: number[] = [];
  private disposed = false;

  private constructor(
    readonly threads: number,
    /** Shares of a parallel call (at most the module's per-thread scratch areas). */
    private readonly shares: number,
    private readonly module: WebAssembly.Module,
    private readonly scratchBase: number,
    /** Kernel functions of the calling thread's instance over each memory. */
    private readonly fns: KernelFn[][],
    private readonly workers: Worker[],
    /** Where a memory opened later is posted to each worker. */
    private readonly ports: MessagePort[],
    control: SharedArrayBuffer,
  ) {
    this.ctrl = new Int32Array(control, 0, CTRL_INTS);
    this.args = new Float64Array(control, CTRL_INTS * 4, MAX_ARGS);
  }

  /** Starts `threads - 1` workers; the calling thread is thread 0 with its own instance. */
  static async create(module: WebAssembly.Module, memory: WebAssembly.Memory, threads: number, scratchBase: number, maxShares: number): Promise<KernelPool> {
    const control = new SharedArrayBuffer(CONTROL_BYTES);
    const workers: Worker[] = [];
    const ports: MessagePort[] = [];
    const ready: Promise<void>[] = [];
    for (let id = 1; id < threads; id++) {
      const { port1, port2 } = new MessageChannel();
      ports.push(port1);
      const worker = new Worker(new URL('./worker.js', import.meta.url), { workerData: { module, memory, control, id, threads, scratchBase, port: port2 }, transferList: [port2] });
      ready.push(
        new Promise((resolve, reject) => {
          worker.once('message', () => resolve());
          worker.once('error', reject);
        }),
      );
      workers.push(worker);
    }
    await Promise.all(ready);
    for (const worker of workers) worker.unref(); // an idle pool must not keep the process alive
    const shares = Math.min(maxShares, threads * SHARES_PER_THREAD);
    return new KernelPool(threads, shares, module, scratchBase, [instantiate(module, memory, scratchBase)], workers, ports, control);
  }

  /** Memories the pool has instances over; calls name them by index in this order. */
  get memoryCount(): number {
    return this.fns.length;
  }

  /** Adds an instance over `memory` on every thread; calls then name it as index `memoryCount - 1`. */
  addMemory(memory: WebAssembly.Memory): void {
    this.fns.push(instantiate(this.module, memory, this.scratchBase));
    for (const port of this.ports) port.postMessage(memory);
  }

  /**
   * Runs op `op` with the first `nargs` values of `args`: on all threads when `parallel`, else on the
   * calling thread alone (small calls, where waking workers costs more than it saves), over memory `mem`.
   */
  run(op: number, nargs: number, parallel: boolean, mem = 0): void {
    if (this.disposed) throw new Error('KernelPool: used after dispose()');
    const nt = parallel ? this.shares : 1;
    const callArgs = this.callArgs;
    callArgs.length = nargs + 2;
    for (let i = 0; i < nargs; i++) callArgs[i] = this.args[i];
    callArgs[nargs] = 0;
    callArgs[nargs + 1] = nt;
    const fn = this.fns[mem][op];
    if (nt === 1) {
      fn(...callArgs);
      return;
    }
    const ctrl = this.ctrl;
    ctrl[CTRL.OP] = op;
    ctrl[CTRL.MEM] = mem;
    ctrl[CTRL.NARGS] = nargs;
    const gen = (ctrl[CTRL.GEN] + 1) | 0;
    Atomics.store(ctrl, CTRL.DONE, 0);
    Atomics.store(ctrl, CTRL.CLAIM, openClaims(gen));
    // After CLAIM: a worker still on the previous generation that reads this count finds CLAIM moved on.
    Atomics.store(ctrl, CTRL.SHARES, nt);
    Atomics.store(ctrl, CTRL.GEN, gen);
    if (Atomics.load(ctrl, CTRL.SLEEPERS) > 0) Atomics.notify(ctrl, CTRL.GEN);
    let error: unknown;
    for (let share = claimShare(ctrl, gen, nt); share >= 0; share = claimShare(ctrl, gen, nt)) {
      callArgs[nargs] = share;
      try {
        fn(...callArgs);
      } catch (err) {
        error ??= err;
      }
      Atomics.add(ctrl, CTRL.DONE, 1);
    }
    this.waitForShares(nt);
    if (error !== undefined) throw error;
    if (Atomics.load(ctrl, CTRL.ERROR) !== 0) {
      Atomics.store(ctrl, CTRL.ERROR, 0);
      throw new Error('KernelPool: a worker thread failed in a kernel (see its message above)');
    }
  }

  private waitForShares(nt: number): void {
    const ctrl = this.ctrl;
    let spins = 0;
    for (;;) {
      const done = Atomics.load(ctrl, CTRL.DONE);
      if (done === nt) return;
      if (++spins >= SPIN) Atomics.wait(ctrl, CTRL.DONE, done);
    }
  }

  /** Stops and joins the workers. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    Atomics.store(this.ctrl, CTRL.STOP, 1);
    Atomics.add(this.ctrl, CTRL.GEN, 1);
    Atomics.notify(this.ctrl, CTRL.GEN);
    await Promise.all(this.workers.map((w) => w.terminate()));
    for (const port of this.ports) port.close();
  }
}

