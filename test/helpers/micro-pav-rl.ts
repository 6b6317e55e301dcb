import { join } from 'node:path';
import type { PavRlSettings } from '../../src/reproduce/pav-rl/index.js';
import { makeTaskModel } from './task-model.js';

const ARITH_OPTIONS = { operations: 2, trainSize: 40, evalSize: 8 };

/** A pav-rl budget for tests: random tiny models in `root`, 2-3 RL steps, 1 seed, a handful of labels. */
export function microPavRl(root: string): PavRlSettings {
  return {
    seeds: 1,
    planted: {
      taskOptions: {},
      start: { model: makeTaskModel(join(root, 'planted-model'), 'planted') },
      rl: { promptsPerStep: 1, groupSize: 8, lr: 1e-3, steps: 3, evalEvery: 1, evalProblems: 1, evalSamples: 16, samplesPerStep: 4 },
      gamma: 10,
      alpha: 1,
      verifier: { nCov: 8, nMc: 2, steps: 2, batchSize: 4, lr: 1e-3, warmupSteps: 1, seed: 0 },
      thresholds: { from: 'absolute', values: [0.5] },
      finalEval: { problems: 1, samples: 16 },
    },
    arith: {
      pav: {
        taskOptions: ARITH_OPTIONS,
        start: { model: makeTaskModel(join(root, 'arith-model'), 'arith', ARITH_OPTIONS) },
        labels: { problems: 4, nCov: 2, nMc: 2, prover: 'bok:4', strategy: 'random', temperature: 1, seed: 0, chunk: 4 },
        verifier: { steps: 2, batchSize: 4, lr: 1e-3, warmupSteps: 1, heldOutFraction: 0.25, seed: 0 },
      },
      alphas: [3],
      rl: { promptsPerStep: 2, groupSize: 3, lr: 1e-3, steps: 2, evalEvery: 1, evalProblems: 4, evalSamples: 2, maxNewTokens: 16, samplesPerStep: 3 },
      thresholds: { from: 'warm-start', values: [0.02] },
      finalEval: { problems: 4, samples: 4 },
    },
  };
}
