/**
 * Worker-thread side of `BoundedGrader` (bounded.ts): grades one pair per message, answers on the port it
 * was given and wakes the waiting thread through the shared signal.
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { gradeAnswer, type MathGradeOptions } from './math.js';

interface Job {
  response: string;
  reference: string;
  options: Partial<MathGradeOptions>;
}

const { port, signal } = workerData as { port: MessagePort; signal: Int32Array };

function answer(message: unknown): void {
  port.postMessage(message);
  Atomics.store(signal, 0, 1);
  Atomics.notify(signal, 0);
}

parentPort!.on('message', (job: Job) => answer(gradeAnswer(job.response, job.reference, job.options)));
// Creating the Compute Engine takes a few hundred ms; do it before "ready" so that a replacement worker
// does not spend the next pair's time bound on it.
gradeAnswer('\\boxed{\\frac{1}{2}}', 'x/2');
answer('ready');
