/**
 * `--rollout engine`: prl's own sampler on the live policy, in the trainer's thread. It draws from the
 * run's random stream exactly as `prl rl` always has, so its numbers are those of earlier versions.
 * Its log-probs are left NaN: the trainer's own re-scoring is the behaviour log-prob (same kernels),
 * so the TIS weights are exactly 1 and the update is unchanged.
 */
import { generate } from '../../engine/sampler.js';
import type { Rng } from '../../util/rng.js';
import type { PublishedWeights, RolloutEngine, RolloutRequest, RolloutSample } from './types.js';

export class InProcessRollouts implements RolloutEngine {
  readonly name = 'engine';
  readonly overlaps = false;
  private weights: PublishedWeights | null = null;

  /** `rng` returns the run's stream (it is replaced on resume, so it is read at each call). */
  constructor(private readonly rng: () => Rng) {}

  publish(weights: PublishedWeights): Promise<void> {
    // The policy is the trainer's live model: publishing only records the version.
    this.weights = weights;
    return Promise.resolve();
  }

  sample(request: RolloutRequest): Promise<RolloutSample[][]> {
    const weights = this.weights;
    if (!weights) return Promise.reject(new Error('InProcessRollouts: sample before publish'));
    const flat = request.prompts.flatMap((p) => Array.from({ length: request.n }, () => [...p]));
    const results = generate(weights.model, flat, { maxNewTokens: request.maxNewTokens, temperature: request.temperature, topP: request.topP, stopTokens: [...request.stopIds], rng: this.rng() });
    const samples = results.map((r): RolloutSample => ({ tokens: r.tokens, logprobs: new Float64Array(r.tokens.length).fill(NaN), policyVersion: weights.version }));
    return Promise.resolve(request.prompts.map((_, i) => samples.slice(i * request.n, (i + 1) * request.n)));
  }

  close(): Promise<void> {
    this.weights = null;
    return Promise.resolve();
  }
}
