import { join } from 'node:path';
import type { PrlVsGrpoSettings } from '../../src/reproduce/prl-vs-grpo/index.js';
import { makeTaskModel } from './task-model.js';

const TASK_OPTIONS = { operations: 2, trainSize: 40, evalSize: 8 };

/** A prl-vs-grpo budget for tests: a random tiny model in `root`, 2 RL steps, 1 seed, 4 held-out problems. */
export function microPrlVsGrpo(root: string): PrlVsGrpoSettings {
  return {
    seeds: 1,
    task: 'arith',
    taskOptions: TASK_OPTIONS,
    start: { model: makeTaskModel(join(root, 'model'), 'arith', TASK_OPTIONS) },
    rl: { steps: 2, promptsPerStep: 2, groupSize: 3, lr: 1e-3, evalEvery: 1, evalProblems: 4, evalSamples: 2, maxNewTokens: 16, samplesPerStep: 2 },
    splits: ['text:\\n'],
    etas: [1],
    finalEval: { problems: 4, samples: 4 },
  };
}
