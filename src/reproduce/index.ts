/**
 * The registry of reproductions and the runner behind `prl reproduce`: one experiment into its
 * folder, or all of them into `DIR/<name>/` followed by the index page `DIR/index.html`.
 */
import { join, resolve } from 'node:path';
import { findExperiments, renderIndexPage } from '../report/index-page.js';
import { inputError } from '../util/errors.js';
import { writeFileAtomic } from '../util/fs.js';
import { pavDidactic } from './pav-didactic/index.js';
import { pavRl } from './pav-rl/index.js';
import { pavSearch } from './pav-search/index.js';
import { prlVsGrpo } from './prl-vs-grpo/index.js';
import type { Experiment, ExperimentOptions, ExperimentOutcome } from './types.js';

export type { Experiment, ExperimentOptions, ExperimentOutcome } from './types.js';

/** Every reproduction, in the order `prl reproduce all` runs them; one line each. */
export const EXPERIMENTS: readonly Experiment[] = [
  prlVsGrpo,
  pavDidactic,
  pavSearch,
  pavRl,
];

/** The experiment called `name`; an unknown name is an error listing the known ones. */
export function getExperiment(name: string, experiments: readonly Experiment[] = EXPERIMENTS): Experiment {
  const found = experiments.find((e) => e.name === name);
  if (!found) throw inputError(`experiment ${JSON.stringify(name)}`, `unknown (known: ${[...experiments.map((e) => e.name), 'all'].join(', ')})`);
  return found;
}

export interface ReproductionRow extends ExperimentOutcome {
  experiment: string;
  seconds: number;
}

/**
 * Runs `name` (or every experiment, for `all`) and returns one row per experiment. A single experiment
 * writes into `options.out`; `all` writes each into `out/<name>/` and then the index `out/index.html`.
 * With a user model (`--model`), `all` runs the experiments that take one and says why it skips the others;
 * a single experiment that cannot take one is an error before anything runs.
 */
export async function reproduce(
  name: string,
  options: ExperimentOptions,
  experiments: readonly Experiment[] = EXPERIMENTS,
): Promise<{ rows: ReproductionRow[]; index?: string }> {
  let selected = name === 'all' ? experiments : [getExperiment(name, experiments)];
  if (options.userModel !== undefined) {
    for (const experiment of selected) {
      if (experiment.takesModel === true) continue;
      if (name !== 'all') throw inputError('--model', `${experiment.name} cannot run on a user model: ${experiment.takesModel.reason}`);
      options.progress.log(`== ${experiment.name}: skipped on a user model (${experiment.takesModel.reason})`);
    }
    selected = selected.filter((e) => e.takesModel === true);
  }
  const rows: ReproductionRow[] = [];
  for (const experiment of selected) {
    const out = name === 'all' ? join(options.out, experiment.name) : options.out;
    const started = performance.now();
    options.progress.log(`== ${experiment.name}: ${experiment.description}${options.quick ? ' (quick)' : ''}`);
    const outcome = await experiment.run({ ...options, out });
    rows.push({ experiment: experiment.name, ...outcome, seconds: (performance.now() - started) / 1000 });
  }
  if (name !== 'all') return { rows };
  const runs = resolve(options.out);
  const index = join(runs, 'index.html');
  writeFileAtomic(index, renderIndexPage({ title: 'prl reproductions', entries: findExperiments(runs, runs) }));
  return { rows, index };
}
