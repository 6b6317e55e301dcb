/** Placeholder until the llama.cpp rollout engine lands (issue 17). */
import { PrlError } from '../../util/errors.js';
import type { LlamaCppRolloutOptions, RolloutContext, RolloutEngine } from './types.js';

export async function openLlamaCppRollouts(options: LlamaCppRolloutOptions, context: RolloutContext): Promise<RolloutEngine> {
  void options;
  void context;
  throw new PrlError('--rollout llamacpp: not available in this build');
}
