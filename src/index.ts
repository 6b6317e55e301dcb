/** prl-ts public API. */
export { PrlError } from './util/errors.js';
export { Rng } from './util/rng.js';
export * from './algos/index.js';

export { openPolicy, parsePolicySpec, mergePolicySpecs, formatPolicySpec } from './policy/index.js';
export type { Policy, PolicySpec, SampleRequest, ScoreRequest, Completion, ScoredContinuation } from './policy/index.js';
