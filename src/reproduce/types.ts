/**
 * What every reproduction is: a name, a one-line description, and a `run` that writes
 * `out/results.json` and `out/report.html` (through `writeExperimentReport`) and returns its headline.
 * Adding one is a file in `src/reproduce/` exporting an `Experiment` (most simply through
 * `defineExperiment`), plus one line in `index.ts`.
 */
import { join } from 'node:path';
import { inputError } from '../util/errors.js';
import type { Progress } from '../util/progress.js';
import { describeUserModel, resolveUserModel, type UserModel, type UserModelOptions } from './user-model.js';

export interface ExperimentOptions {
  /** A smoke run that fits in a few minutes on 2 cores; its numbers say little and its report says so. */
  quick: boolean;
  /** Training seeds; undefined: the experiment's own default for quick or full runs. */
  seeds?: number;
  /** The experiment's folder: results.json, report.html, and whatever runs it keeps. */
  out: string;
  /** Kernel worker threads (results do not depend on it). */
  threads?: number;
  /** Where the experiment reports what it is doing. */
  progress: Progress;
  /** The user's checkpoint to run on instead of the experiment's own warm-started model (`--model`). */
  userModel?: UserModelOptions;
}

export interface ExperimentOutcome {
  /** The one-line result, as in results.json. */
  headline: string;
  /** Path of the report.html written. */
  report: string;
}

export interface Experiment {
  /** Machine name, used on the command line and as the folder name: `prl reproduce <name>`. */
  name: string;
  /** One line saying what it reproduces. */
  description: string;
  /**
   * Whether `--model DIR` can replace the experiment's own model: `true`, or why not (e.g. a didactic task
   * whose answer is known exactly only for its own planted vocabulary).
   */
  takesModel: true | { reason: string };
  run(options: ExperimentOptions): Promise<ExperimentOutcome>;
}

/** What an experiment's runner takes besides its settings. */
export interface RunnerOptions {
  out: string;
  quick: boolean;
  threads?: number;
  progress: Progress;
}

/**
 * How an experiment runs on a user's model: its settings with the start model, task and LoRA rank of
 * `user` in place of its own; or why it cannot.
 */
export type WithUserModel<S> = ((settings: S, user: UserModel) => S) | { reason: string };

/**
 * An `Experiment` from its quick and full settings and its runner, which writes the report into `out`.
 * `--seeds K` replaces the settings' `seeds` where they have one; an experiment without seeds refuses it.
 * `--model DIR` goes through `withModel`, and the resolved model's description reaches the runner.
 */
export function defineExperiment<S extends object>(
  name: string,
  description: string,
  settings: { quick: S; full: S },
  withModel: WithUserModel<S>,
  runner: (settings: S, options: RunnerOptions) => Promise<{ headline: string }>,
): Experiment {
  return {
    name,
    description,
    takesModel: typeof withModel === 'function' ? true : withModel,
    async run(options) {
      let base = options.quick ? settings.quick : settings.full;
      if (options.seeds !== undefined && !('seeds' in base)) throw inputError('--seeds', `${name} has no training seeds to vary`);
      if (options.userModel !== undefined) {
        if (typeof withModel !== 'function') throw inputError('--model', `${name} cannot run on a user model: ${withModel.reason}`);
        const user = await resolveUserModel(options.userModel, options.out);
        options.progress.log(`on the user model: ${describeUserModel(user.identity)}`);
        base = withModel(base, user);
      }
      const chosen = options.seeds === undefined ? base : { ...base, seeds: options.seeds };
      const results = await runner(chosen, { out: options.out, quick: options.quick, threads: options.threads, progress: options.progress });
      return { headline: results.headline, report: join(options.out, 'report.html') };
    },
  };
}
