import { join } from 'node:path';
import type { PavDidacticSettings } from '../../src/reproduce/pav-didactic/index.js';
import { makeTaskModel } from './task-model.js';

/**
 * A pav-didactic budget for tests: a random tiny model in `root` (it essentially never samples the target,
 * so outcome-only RL gets no reward), 2 seeds x 4 iterations of batch 8, two provers, pass@N at iteration 2,
 * warm starts measured on 3 draws of 64;
 * the sensitivity pair from a second random model (another init seed), 2 seeds x 6 iterations.
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
    sensitivity: { key: 'weak-warm-start', start: { model: makeTaskModel(join(root, 'weak-model'), 'planted', {}, 'tiny', 2) }, seeds: 2, iterations: 6 },
  };
}

/**
 * The same budget with the paper's policy: a small MADE (2 x 16 units) after 5 SFT iterations, and the
 * tiny Llama of `microPavDidactic` as the sensitivity pair (2 seeds x 4 iterations), lr 0.05, and the sweep
 * also with Q^mu from 4 Monte Carlo rollouts.
 */
export function microPavDidacticMade(root: string): PavDidacticSettings {
  const llama = microPavDidactic(root);
  return {
    ...llama,
    start: { made: { hidden: [16, 16], examples: 64, iterations: 5, batchSize: 16 } },
    // Large enough that two updates visibly change what the small network samples.
    lr: 0.05,
    sweep: { ...llama.sweep, proverRollouts: 4 },
    sensitivity: { key: 'transformer', start: llama.start, seeds: 2, iterations: 4 },
  };
}
