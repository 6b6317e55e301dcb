/**
 * A kernel worker thread: instantiates the kernel module over the engine's shared memory, then
 * serves calls from the control block (see pool.ts) until told to stop. No message passing per call:
 * it spins on the generation counter, then sleeps in Atomics.wait; on a new call it claims shares until
 * none is left (the caller may already have taken them all).
 */
import { parentPort, receiveMessageOnPort, workerData, type MessagePort } from 'node:worker_threads';
import { CTRL, CTRL_INTS, MAX_ARGS, SPIN, claimShare, instantiate, type KernelFn } from './ops.js';

interface WorkerInit {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  control: SharedArrayBuffer;
  id: number;
  threads: number;
  scratchBase: number;
  /** Memories opened after the pool started arrive here, in the pool's order. */
  port: MessagePort;
}

const init = workerData as WorkerInit;
/** Kernel functions per engine memory. */
const fnsByMemory: KernelFn[][] = [instantiate(init.module, init.memory, init.scratchBase)];

/** The kernels over memory `mem`, instantiating the memories posted since the last call first. */
function kernelsOver(mem: number): KernelFn[] {
  while (fnsByMemory.length <= mem) {
    // The pool posts a memory before any call names it, so the message is already queued.
    const received = receiveMessageOnPort(init.port);
    if (received) fnsByMemory.push(instantiate(init.module, received.message as WebAssembly.Memory, init.scratchBase));
  }
  return fnsByMemory[mem];
}
const ctrl = new Int32Array(init.control, 0, CTRL_INTS);
const args = new Float64Array(init.control, CTRL_INTS * 4, MAX_ARGS);
const callArgs: number[] = [];

parentPort!.postMessage('ready');

let gen = Atomics.load(ctrl, CTRL.GEN);
for (;;) {
  let spins = 0;
  while (Atomics.load(ctrl, CTRL.GEN) === gen) {
    if (++spins >= SPIN) {
      Atomics.add(ctrl, CTRL.SLEEPERS, 1);
      Atomics.wait(ctrl, CTRL.GEN, gen);
      Atomics.sub(ctrl, CTRL.SLEEPERS, 1);
      spins = 0;
    }
  }
  gen = Atomics.load(ctrl, CTRL.GEN);
  if (Atomics.load(ctrl, CTRL.STOP) !== 0) break;
  // A share, once claimed, keeps the call open (the caller waits for it), so op and arguments read
  // after the claim belong to this call.
  // SHARES may already belong to a later call; then claimShare fails on the generation check.
  const nt = Atomics.load(ctrl, CTRL.SHARES);
  for (let share = claimShare(ctrl, gen, nt); share >= 0; share = claimShare(ctrl, gen, nt)) {
    const nargs = ctrl[CTRL.NARGS];
    callArgs.length = nargs + 2;
    for (let i = 0; i < nargs; i++) callArgs[i] = args[i];
    callArgs[nargs] = share;
    callArgs[nargs + 1] = nt;
    try {
      kernelsOver(ctrl[CTRL.MEM])[ctrl[CTRL.OP]].apply(null, callArgs);
    } catch (err) {
      Atomics.store(ctrl, CTRL.ERROR, 1);
      console.error(`prl kernel worker ${init.id}:`, err);
    }
    if (Atomics.add(ctrl, CTRL.DONE, 1) + 1 === nt) Atomics.notify(ctrl, CTRL.DONE);
  }
}
