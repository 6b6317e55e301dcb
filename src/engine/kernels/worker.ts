/**
 * A kernel worker thread: instantiates the kernel module over the engine's shared memory, then
 * serves calls from the control block (see pool.ts) until told to stop. No message passing per call:
 * it spins on the generation counter, then sleeps in Atomics.wait.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { CTRL, CTRL_INTS, MAX_ARGS, SPIN, kernelFunctions } from './ops.js';

interface WorkerInit {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  control: SharedArrayBuffer;
  id: number;
  threads: number;
  scratchBase: number;
}

const init = workerData as WorkerInit;
const instance = new WebAssembly.Instance(init.module, { env: { memory: init.memory } });
(instance.exports.setScratchBase as (p: number) => void)(init.scratchBase);
const fns = kernelFunctions(instance.exports);
const ctrl = new Int32Array(init.control, 0, CTRL_INTS);
const args = new Float64Array(init.control, CTRL_INTS * 4, MAX_ARGS);
const workers = init.threads - 1;
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
  const nargs = ctrl[CTRL.NARGS];
  callArgs.length = nargs + 2;
  for (let i = 0; i < nargs; i++) callArgs[i] = args[i];
  callArgs[nargs] = init.id;
  callArgs[nargs + 1] = init.threads;
  try {
    fns[ctrl[CTRL.OP]].apply(null, callArgs);
  } catch (err) {
    Atomics.store(ctrl, CTRL.ERROR, 1);
    console.error(`prl kernel worker ${init.id}:`, err);
  }
  if (Atomics.add(ctrl, CTRL.DONE, 1) + 1 === workers) Atomics.notify(ctrl, CTRL.DONE);
}
