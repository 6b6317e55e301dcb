/**
 * Opens the compute engine (shared memory arena + kernel provider) for CLI commands, so every command
 * builds it the same way and a faster provider is picked up in one place.
 */
import { FallbackKernels } from '../engine/kernels/fallback.js';
import type { Kernels } from '../engine/kernels/types.js';
import { Arena } from '../engine/memory.js';
import { inputError } from '../util/errors.js';

export type ProviderName = 'wasm' | 'ts';

export interface Engine {
  arena: Arena;
  kernels: Kernels;
}

/**
 * An arena and a kernel provider. Until the WebAssembly provider is merged, every request is served by
 * the TypeScript reference kernels (`kernels.name` says which one actually runs).
 */
export async function openEngine(provider: string, threads: number): Promise<Engine> {
  if (provider !== 'wasm' && provider !== 'ts') throw inputError('--provider', `must be "wasm" or "ts", got ${JSON.stringify(provider)}`);
  if (!(Number.isInteger(threads) && threads >= 1)) throw inputError('--threads', `must be a positive integer, got ${threads}`);
  return { arena: new Arena(0), kernels: new FallbackKernels() };
}
