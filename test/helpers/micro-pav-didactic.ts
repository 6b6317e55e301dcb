import { join } from 'node:path';
import type { PavDidacticSettings } from '../../src/reproduce/pav-didactic.js';
import { makeTaskModel } from './task-model.js';

/**
 * A pav-didactic budget for tests: a random tiny model in `root` (it essentially never samples the target,
 * so outcome-only RL gets no reward), 2 seeds x 4 iterations of batch 8, two provers, pass@N at iteration 2,
 * warm starts measured on 3 draws of 64;
 * the weak-warm-start pair from a second random model (another init seed), 2 seeds x 6 iterations.
 */
export function microPavDidactic(root: string): PavDidacticSettings {
  return {
    seeds: 2,
    start: { model: makeTaskModel(join(root, 'model'), 'planted') },
    iterations: 4,
    batchSize: 8,
    lr: 1e-3,
    alpha: 1,
    gamma: 10,
    threshold: 0.9,
    window: 2,
    sweep: { gammas: [1, 10], seeds: 1, iterations: 4 },
    passAt: { iteration: 2, samples: 64, maxN: 16 },
    traces: 2,
    warmStartDraws: 3,
    weakWarmStart: { start: { model: makeTaskModel(join(root, 'weak-model'), 'planted', {}, 'tiny', 2) }, seeds: 2, iterations: 6 },
  };
}
