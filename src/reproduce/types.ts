/**
 * What every reproduction is: a name, a one-line description, and a `run` that writes
 * `out/results.json` and `out/report.html` (through `writeExperimentReport`) and returns its headline.
 * Adding one is a file in `src/reproduce/` exporting an `Experiment`, plus one line in `index.ts`.
 */
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
