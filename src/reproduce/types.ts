/**
 * What every reproduction is: a name, a one-line description, and a `run` that writes
 * `out/results.json` and `out/report.html` (through `writeExperimentReport`) and returns its headline.
 * Adding one is a file in `src/reproduce/` exporting an `Experiment` (most simply through
 * `defineExperiment`), plus one line in `index.ts`.
 */
import { join } from 'node:path';
import { inputError } from '../util/errors.js';
import type { Progress } from '../util/progress.js';

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
 * An `Experiment` from its quick and full settings and its runner, which writes the report into `out`.
 * `--seeds K` replaces the settings' `seeds` where they have one; an experiment without seeds refuses it.
 */
export function defineExperiment<S extends object>(
  name: string,
  description: string,
  settings: { quick: S; full: S },
  runner: (settings: S, options: RunnerOptions) => Promise<{ headline: string }>,
): Experiment {
  return {
    name,
    description,
    async run(options) {
      const base = options.quick ? settings.quick : settings.full;
      if (options.seeds !== undefined && !('seeds' in base)) throw inputError('--seeds', `${name} has no training seeds to vary`);
      const chosen = options.seeds === undefined ? base : { ...base, seeds: options.seeds };
      const results = await runner(chosen, { out: options.out, quick: options.quick, threads: options.threads, progress: options.progress });
      return { headline: results.headline, report: join(options.out, 'report.html') };
    },
  };
}
