/**
 * The policy registry: a spec string or parsed spec in, a ready `Policy` out. Commands call only
 * this, so every command accepts every backend.
 */
import { PrlError } from '../util/errors.js';
import { openEnginePolicy } from './engine.js';
import { openOpenAiPolicy, type OpenAiPolicyOptions } from './openai.js';
import { formatPolicySpec, parsePolicySpec, type PolicySpec } from './spec.js';
import type { Policy } from './types.js';

export type { Policy, PolicyCapabilities, Completion, SampleRequest, ScoreRequest, ScoreItem, ScoredContinuation, Prompt, TokenList, FinishReason } from './types.js';
export { parsePolicySpec, mergePolicySpecs, formatPolicySpec, type PolicySpec, type OpenAiSpecOptions } from './spec.js';
export { alignTokenOffsets, normaliseServerOffsets } from './offsets.js';

/** Settings that do not belong in a spec string: environment, retry tuning, warnings. */
export type OpenPolicyOptions = Partial<Omit<OpenAiPolicyOptions, 'urls'>>;

/**
 * Opens the policy a spec names. `where` names the flag in errors (`--prover`). OpenAI options in
 * the spec win over `options`.
 */
export async function openPolicy(spec: string | PolicySpec, options: OpenPolicyOptions = {}, where = 'policy'): Promise<Policy> {
  const parsed = typeof spec === 'string' ? parsePolicySpec(spec, where) : spec;
  switch (parsed.kind) {
    case 'openai':
      return openOpenAiPolicy({ ...options, ...parsed.options, urls: parsed.urls });
    case 'engine':
      return named(where, parsed, () => openEnginePolicy(parsed.dir, { adapter: parsed.adapter }));
    case 'llamacpp':
      return named(where, parsed, async () => {
        // Imported here so that node-llama-cpp (optional) loads only for this backend.
        const { openLlamaCppPolicy } = await import('./llamacpp-backend.js');
        return openLlamaCppPolicy(parsed.file);
      });
  }
}

/** Opens a local backend; its errors name the flag and spec (`--reference: engine:runs/x: ...`). */
async function named(where: string, spec: PolicySpec, open: () => Promise<Policy>): Promise<Policy> {
  try {
    return await open();
  } catch (err) {
    if (err instanceof PrlError) throw new PrlError(`${where}: ${formatPolicySpec(spec)}: ${err.message}`, { cause: err });
    throw err;
  }
}
