/** prl-ts public API. */
export { PrlError } from './util/errors.js';
export { Rng } from './util/rng.js';
export * from './algos/index.js';
