/**
 * PAV's didactic experiment with the paper's own policy (Setlur et al., arXiv 2410.08146, Sec. 3.3 and
 * App. B; SPEC.md "PAV: the didactic task"): a MADE network (src/engine/made.ts) on `planted`, warm-started
 * by supervised learning on samples of the prover mu(5), then trained by policy gradient with the
 * effective reward Q^pi + alpha A^mu under the exact prover mu(gamma) (alpha = 0: outcome-only RL).
 *
 * One file, cleanRL style. The estimator is the `pav` estimator of `prl rl` (src/pav/rl.ts `pavAdvantages`:
 * the outcome with a leave-one-out baseline, plus alpha times the prover's progress, every token a step),
 * and the update is the same on-policy policy gradient with token-mean aggregation and AdamW; only the
 * network differs, which is the point: `prl rl` trains the engine's Llama, whose weights are shared
 * across positions.
 */
import { aggregationWeights } from '../algos/index.js';
import type { Engine } from '../engine/kernels/index.js';
import { MadeModel } from '../engine/made.js';
import { AdamW } from '../engine/optim.js';
import { monteCarloQ, PAPER_PLANTED, PlantedProver, plantedReward, PlantedValues, proverCompletion } from '../tasks/planted.js';
import { inputError } from '../util/errors.js';
import { Rng } from '../util/rng.js';
import { pavAdvantages, type ProverValues } from '../algos/index.js';

/** The MADE network and its supervised warm start (paper App. B). */
export interface MadeWarmStartConfig {
  /** Hidden layer widths (paper: 3 layers of 128 units). */
  hidden: number[];
  /** Samples of the prover mu(`gamma`) to learn from (paper: 3200 samples of mu(5)). */
  examples: number;
  gamma: number;
  /** Adam iterations, batch size and learning rate (paper: 50 iterations of batch 64, lr 1e-3). */
  iterations: number;
  batchSize: number;
  lr: number;
  /** Seeds the initial weights, the examples and the batches. */
  seed: number;
}

export const PAPER_MADE_WARM_START: MadeWarmStartConfig = { hidden: [128, 128, 128], examples: 3200, gamma: 5, iterations: 50, batchSize: 64, lr: 1e-3, seed: 0 };

/** One RL run (paper App. B: batch 64, Adam lr 1e-3 constant, alpha 1, prover gamma 10). */
export interface MadeRlConfig {
  iterations: number;
  batchSize: number;
  lr: number;
  /** Weight of the prover's progress A^mu in the effective reward; 0 is outcome-only RL. */
  alpha: number;
  /** The prover mu(gamma) whose exact Q^mu gives A^mu. */
  gamma: number;
  seed: number;
  /**
   * Estimate Q^mu by this many Monte Carlo rollouts of the prover from each step (as a PAV learned from
   * Monte Carlo labels sees it) instead of exactly by dynamic programming; absent: exact.
   */
  proverRollouts?: number;
  /** Draw `samples` responses after iteration `iteration` (for pass@N), from a stream of their own. */
  passAt?: { iteration: number; samples: number };
}

export interface MadeRlResult {
  /** Fraction of correct samples in each iteration's batch (drawn before that iteration's update). */
  accuracy: number[];
  /** The `passAt` draws: every response (task tokens padded with the end token) and its reward. */
  passAt?: { responses: number[][]; rewards: number[] };
  /** Wall time of the iterations (sampling, rewards, update). */
  seconds: number;
}

const TASK = PAPER_PLANTED;

/** Positions up to and including the first end token are actions; what follows an end is masked. */
function actionMask(response: readonly number[]): number[] {
  const end = response.indexOf(TASK.eosToken);
  return response.map((_, t) => (end < 0 || t <= end ? 1 : 0));
}

/**
 * The warm start: cross-entropy on `examples` samples of mu(gamma), token-mean over unmasked positions.
 * The model lives in `engine`'s arena; release the arena past it when done.
 */
export function trainMadeWarmStart(engine: Engine, config: MadeWarmStartConfig): MadeModel {
  if (!(config.iterations >= 0 && config.examples >= 1 && config.batchSize >= 1)) throw inputError('MADE warm start', 'iterations, examples and batchSize must be positive');
  const rng = new Rng(config.seed);
  const model = new MadeModel({ vocabSize: TASK.vocabSize, length: TASK.length, hidden: config.hidden }, engine.arena, engine.kernels, rng);
  const prover = new PlantedProver(TASK, config.gamma);
  const examples = Array.from({ length: config.examples }, () => prover.sample(rng));
  const optimizer = new AdamW(model, engine.arena, engine.kernels, { lr: config.lr });
  const dlogp = engine.arena.allocF32(config.batchSize * TASK.length);
  for (let it = 0; it < config.iterations; it++) {
    const batch = Array.from({ length: config.batchSize }, () => examples[rng.int(examples.length)]);
    model.logProbs(batch);
    const weights = aggregationWeights(batch.map(actionMask), 'token-mean');
    weights.forEach((w, b) => w.forEach((wt, t) => (dlogp[b * TASK.length + t] = -wt)));
    model.zeroGrad();
    model.backward(dlogp);
    optimizer.update();
  }
  return model;
}

/**
 * RL from a copy of `start` (which is left as it is): each iteration samples a batch, rewards it, and takes
 * one AdamW step on -sum_t w_t (r_i - mean_{j != i} r_j + alpha A^mu_t) log pi(a_t | s_t).
 */
export function runMadeRl(engine: Engine, start: MadeModel, config: MadeRlConfig): MadeRlResult {
  const started = performance.now();
  const mark = engine.arena.mark();
  try {
    const model = new MadeModel(start.config, engine.arena, engine.kernels, new Rng(0));
    model.weights.set(start.weights);
    const optimizer = new AdamW(model, engine.arena, engine.kernels, { lr: config.lr });
    const proverValues = proverValuesOf(config);
    const rng = new Rng(config.seed);
    const { batchSize: B } = config;
    const dlogp = engine.arena.allocF32(B * TASK.length);
    const accuracy: number[] = [];
    let passAt: MadeRlResult['passAt'];
    const drawPassAt = () => (passAt = sampleMade(model, config.passAt!.samples, config.seed));
    if (config.passAt?.iteration === 0) drawPassAt();
    for (let it = 1; it <= config.iterations; it++) {
      const responses = model.sample(B, rng, { endToken: TASK.eosToken });
      const rewards = responses.map((r) => plantedReward(TASK, r));
      accuracy.push(rewards.reduce((a, b) => a + b, 0) / B);
      const masks = responses.map(actionMask);
      const ends = masks.map((m) => m.flatMap((v, t) => (v ? [t] : []))); // every action is a step
      const prover = responses.map((r, i) => proverValues(r, ends[i]));
      const advantages = pavAdvantages(rewards, new Array<number>(B).fill(0), masks, ends, prover, config.alpha);
      const weights = aggregationWeights(masks, 'token-mean');
      model.logProbs(responses);
      for (let b = 0; b < B; b++) for (let t = 0; t < TASK.length; t++) dlogp[b * TASK.length + t] = -weights[b][t] * advantages[b][t];
      model.zeroGrad();
      model.backward(dlogp);
      optimizer.update();
      if (config.passAt?.iteration === it) drawPassAt();
    }
    return { accuracy, ...(passAt ? { passAt } : {}), seconds: (performance.now() - started) / 1000 };
  } finally {
    engine.arena.release(mark);
  }
}

/** Offset of the Monte Carlo prover rollouts' seed from the run's seed (a stream of their own). */
const PROVER_STREAM = 2_000_003;

/** Q^mu at every action of a response and V^mu of the empty prefix: exact, or by Monte Carlo rollouts of mu. */
function proverValuesOf(config: MadeRlConfig): (response: readonly number[], actions: readonly number[]) => ProverValues {
  const prover = new PlantedProver(TASK, config.gamma);
  const rollouts = config.proverRollouts;
  if (rollouts === undefined) {
    const values = new PlantedValues(prover);
    const v0 = values.stateValue([]);
    return (r, actions) => ({ q: actions.map((t) => values.actionValue(r.slice(0, t), r[t])), v0 });
  }
  if (!(Number.isInteger(rollouts) && rollouts >= 1)) throw inputError('proverRollouts', `must be a positive integer, got ${rollouts}`);
  const complete = proverCompletion(prover);
  const rng = new Rng(config.seed + PROVER_STREAM);
  return (r, actions) => {
    let v0 = 0;
    for (let i = 0; i < rollouts; i++) v0 += plantedReward(TASK, complete([], rng)) / rollouts;
    return { q: actions.map((t) => monteCarloQ(TASK, complete, r.slice(0, t), r[t], rollouts, rng)), v0 };
  };
}

/** Offset of the pass@N draws' seed from the run's seed, so they never share the training stream. */
const PASS_AT_STREAM = 1_000_003;

/** `samples` responses of a model (e.g. the warm start) with their rewards, from sampling seed `seed`. */
export function sampleMade(model: MadeModel, samples: number, seed: number): { responses: number[][]; rewards: number[] } {
  const responses = model.sample(samples, new Rng(seed + PASS_AT_STREAM), { endToken: TASK.eosToken });
  return { responses, rewards: responses.map((r) => plantedReward(TASK, r)) };
}
