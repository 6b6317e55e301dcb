/**
 * The rollouts of each RL step, drawn in step order from a RolloutEngine. With `asyncSteps` K = 0 a
 * step's generation starts after the previous update; with K >= 1 generation runs up to K steps ahead
 * (decoupled PPO, Hilton et al. 2021; AReaL), so a step may train on samples of a weight version up
 * to K updates old (staleness = step - 1 - version <= K). Problems are drawn when a step is launched,
 * and the data order's state is kept per step, so a checkpoint at step s resumes exactly.
 */
import { accessSync, constants, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { CodedProblem } from '../tasks/codec.js';
import { PrlError } from '../util/errors.js';
import { writeFileAtomic } from '../util/fs.js';
import type { DataOrder, DataOrderState } from './data-order.js';
import type { RolloutEngine, RolloutSample } from './rollouts/index.js';

export interface StepRollouts {
  step: number;
  /** The step's P problems. */
  problems: CodedProblem[];
  /** P * G samples, problem-major (sample j of problem i at i * G + j). */
  samples: RolloutSample[];
  /** The data order after this step's problems were drawn (what a checkpoint at this step saves). */
  dataOrder: DataOrderState;
}

export interface PipelineOptions {
  train: readonly CodedProblem[];
  promptsPerStep: number;
  groupSize: number;
  maxNewTokens: number;
  temperature: number;
  topP: number;
  stopIds: readonly number[];
  seed: number;
  asyncSteps: number;
  /** The last step of the run: nothing is launched past it. */
  lastStep: number;
}

export class RolloutPipeline {
  private readonly pending = new Map<number, Promise<StepRollouts>>();

  /** `firstStep`: the next step to launch (1, or the resumed step + 1). */
  constructor(
    private readonly engine: RolloutEngine,
    private readonly order: DataOrder,
    private readonly options: PipelineOptions,
    private nextStep: number,
  ) {}

  /** Launches every step the weights of `version` may generate for: up to version + 1 + K. */
  launchUpTo(version: number): void {
    const last = Math.min(this.options.lastStep, version + 1 + this.options.asyncSteps);
    for (; this.nextStep <= last; this.nextStep++) this.launch(this.nextStep);
  }

  /** The rollouts of `step` (launched earlier by `launchUpTo`). */
  take(step: number): Promise<StepRollouts> {
    const rollouts = this.pending.get(step);
    if (!rollouts) throw new Error(`RolloutPipeline: step ${step} was not launched`);
    this.pending.delete(step);
    return rollouts;
  }

  private launch(step: number): void {
    const { train, promptsPerStep, groupSize } = this.options;
    const problems = this.order.next(promptsPerStep).map((i) => train[i]);
    const dataOrder = this.order.state();
    const request = {
      step,
      prompts: problems.map((p) => p.promptTokens),
      n: groupSize,
      maxNewTokens: this.options.maxNewTokens,
      temperature: this.options.temperature,
      topP: this.options.topP,
      stopIds: this.options.stopIds,
      seed: stepSeed(this.options.seed, step),
    };
    const rollouts = Promise.resolve()
      .then(() => this.engine.sample(request))
      .then((groups): StepRollouts => {
        if (groups.length !== problems.length || groups.some((g) => g.length !== groupSize)) {
          throw new Error(`step ${step}: the rollout engine returned ${groups.map((g) => g.length).join('/')} samples per prompt, expected ${groupSize} for each of ${problems.length}`);
        }
        return { step, problems, samples: groups.flat(), dataOrder };
      });
    // A step generated ahead may fail while another trains: it is reported when taken, not as unhandled.
    rollouts.catch(() => undefined);
    this.pending.set(step, rollouts);
  }
}

/** Each step's sampling seed, from the run's seed and the step alone (any launch order gives the same). */
export function stepSeed(seed: number, step: number): number {
  return (Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) + Math.imul(step, 0xc2b2ae35)) >>> 1;
}

/** Refuses a sync folder the trainer cannot write, before the first step. */
export function checkSyncDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true });
    accessSync(dir, constants.W_OK);
    const probe = join(dir, `.prl-write-check-${process.pid}`);
    writeFileAtomic(probe, 'ok');
    rmSync(probe, { force: true });
  } catch (err) {
    throw new PrlError(`--sync-dir ${dir}: not writable (${(err as Error).message}); the trainer writes each weight version there for the rollout engines to read`);
  }
}
