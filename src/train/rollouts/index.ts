/** `--rollout`: opens the rollout engine a spec names (./spec.ts) for one run. */
import { PrlError } from '../../util/errors.js';
import type { Rng } from '../../util/rng.js';
import { InProcessRollouts } from './engine.js';
import { openFleetRollouts } from './fleet.js';
import { openLlamaCppRollouts } from './llamacpp.js';
import type { RolloutSpec } from './spec.js';
import type { RolloutContext, RolloutEngine } from './types.js';

export { parseRolloutSpec, type RolloutSpec } from './spec.js';
export type { PublishedWeights, RolloutContext, RolloutEngine, RolloutRequest, RolloutSample } from './types.js';

export interface OpenRolloutOptions {
  /** The run's random stream, which the in-process engine samples from (read at each call). */
  rng: () => Rng;
  asyncSteps: number;
  serverKind: 'auto' | 'vllm' | 'sglang';
  requestTimeout: number;
  serverWait: number;
  /** The servers' API key; only ever sent as a header. */
  apiKey?: string;
}

export async function openRollouts(spec: RolloutSpec, context: RolloutContext, options: OpenRolloutOptions): Promise<RolloutEngine> {
  if (spec.kind === 'engine') {
    if (options.asyncSteps > 0) throw new PrlError(`--async-steps ${options.asyncSteps}: the in-process engine samples in the trainer's thread, so there is nothing to overlap; use --rollout llamacpp or openai:URL, or --async-steps 0`);
    return new InProcessRollouts(options.rng);
  }
  if (spec.kind === 'llamacpp') return openLlamaCppRollouts(spec.options, context);
  return openFleetRollouts({ urls: spec.urls, serverKind: options.serverKind, requestTimeout: options.requestTimeout, serverWait: options.serverWait, apiKey: options.apiKey }, context);
}
