/**
 * A hard time bound for batch grading. The grader is synchronous and a single Compute Engine call cannot be
 * interrupted in-process, so `BoundedGrader` runs it in a worker thread: the caller blocks on a shared
 * signal for at most the timeout, and a worker that has not answered by then is terminated (judged
 * unequal, timed out) and replaced for the next pair. The calling thread stays synchronous.
 */
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import { PrlError } from '../util/errors.js';
import { DEFAULT_TIMEOUT_MS, extractFinalAnswer, predictionAnswer, type MathGrade, type MathGradeOptions } from './math.js';

// Loading the grader (and the Compute Engine) in a fresh worker takes well under a second; this only
// catches a worker that cannot start at all.
const STARTUP_LIMIT_MS = 60_000;
// Room for the worker's own clock check to answer "timed out" before the thread is killed.
const KILL_MARGIN_MS = 50;

export class BoundedGrader {
  private worker: Worker | null = null;
  private port: MessagePort | null = null;
  // A fresh signal per worker: a terminated worker that raced to answer cannot wake its successor's wait.
  private signal = new Int32Array(new SharedArrayBuffer(4));
  /** Workers terminated at the deadline so far. */
  killed = 0;

  constructor(private readonly options: Partial<MathGradeOptions> = {}) {}

  private start(): void {
    const channel = new MessageChannel();
    this.signal = new Int32Array(new SharedArrayBuffer(4));
    this.worker = new Worker(new URL('./grade-worker.js', import.meta.url), {
      workerData: { port: channel.port2, signal: this.signal },
      transferList: [channel.port2],
    });
    this.worker.unref();
    this.port = channel.port1;
    if (this.receive(STARTUP_LIMIT_MS) !== 'ready') {
      this.close();
      throw new PrlError(`grader worker did not start within ${STARTUP_LIMIT_MS / 1000} s`);
    }
  }

  /** The worker's next answer, or undefined when none came within `ms`. */
  private receive(ms: number): unknown {
    Atomics.wait(this.signal, 0, 0, ms);
    const message = receiveMessageOnPort(this.port!);
    Atomics.store(this.signal, 0, 0);
    return message?.message;
  }

  /** Grades like `gradeAnswer`, but never takes (much) longer than the timeout. */
  grade(response: string, reference: string): MathGrade {
    if (this.worker === null) this.start();
    const timeoutMs = this.options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.worker!.postMessage({ response, reference, options: this.options });
    const grade = this.receive(timeoutMs + KILL_MARGIN_MS) as MathGrade | undefined;
    if (grade !== undefined) return grade;
    this.close();
    this.killed++;
    const extracted = this.options.predictionOnly ? predictionAnswer(response) : extractFinalAnswer(response);
    return { correct: false, extracted, timedOut: true };
  }

  /** Stops the worker; a later `grade` starts a new one. */
  close(): void {
    void this.worker?.terminate();
    this.port?.close();
    this.worker = null;
    this.port = null;
  }
}
