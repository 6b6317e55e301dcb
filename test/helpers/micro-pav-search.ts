import { join } from 'node:path';
import type { PavSearchSettings } from '../../src/reproduce/pav-search/index.js';
import { makeTaskModel } from './task-model.js';

const TASK_OPTIONS = { operations: 2, trainSize: 40, evalSize: 8 };

/** A pav-search budget for tests: a random tiny policy in `root`, 8 labelled problems, 4 searched. */
export function microPavSearch(root: string): PavSearchSettings {
  return {
    pav: {
      taskOptions: TASK_OPTIONS,
      start: { model: makeTaskModel(join(root, 'model'), 'arith', TASK_OPTIONS) },
      labels: { problems: 8, nCov: 2, nMc: 2, prover: 'bok:4', strategy: 'random', temperature: 1, seed: 0, chunk: 4 },
      verifier: { steps: 4, batchSize: 4, lr: 1e-3, warmupSteps: 1, heldOutFraction: 0.25, seed: 0 },
    },
    problems: 4,
    temperature: 1,
    bestOfN: [1, 2, 4],
    beamWidths: [1, 2],
    children: 3,
    primaryAlpha: 0.5,
    gridAlphas: [1],
    gridWidths: [1],
    seed: 0,
    resamples: 200,
  };
}
