/**
 * Seeds shared by every backend, so that a seeded request gives the same samples whether it runs in
 * the engine directly (`engine:DIR`) or through `prl serve` (`openai:URL`): prompt i of a batch gets
 * `promptSeed(seed, i)` (what the OpenAI client sends as the request's `seed`), and choice j of one
 * prompt draws from `choiceRng(promptSeed, j)`.
 */
import { Rng } from '../util/rng.js';

/** The seed of prompt `promptIndex` of a seeded batch (31 bits, valid in any JSON server). */
export function promptSeed(seed: number, promptIndex: number): number {
  return new Rng((seed >>> 0) ^ Math.imul(promptIndex + 1, 0x9e3779b9)).nextU32() >>> 1;
}

/** The random stream of choice `choiceIndex` of a request seeded with `seed`. */
export function choiceRng(seed: number, choiceIndex: number): Rng {
  return new Rng(new Rng((seed >>> 0) ^ Math.imul(choiceIndex + 1, 0x85ebca6b)).nextU32());
}
