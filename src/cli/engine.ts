/**
 * Opens the compute engine (shared memory arena + kernel provider) for CLI commands, validating the
 * `--provider` and `--threads` flags so that every command reports them the same way.
 */
import { createEngine, type Engine } from '../engine/kernels/index.js';
import { inputError } from '../util/errors.js';
import { loadModel } from '../engine/io.js';
import { EnginePolicy } from '../policy/engine.js';
import { formatPolicySpec } from '../policy/spec.js';
import { intFlag } from './options.js';

export type ProviderName = 'wasm' | 'ts' | 'native';

/** `threads` undefined = the engine's default (env PRL_THREADS, else the core count). */
export async function openEngine(provider: string, threads?: number): Promise<Engine> {
  if (provider !== 'wasm' && provider !== 'ts' && provider !== 'native') {
    throw inputError('--provider', `must be "wasm", "native" or "ts", got ${JSON.stringify(provider)}`);
  }
  if (threads !== undefined && !(Number.isInteger(threads) && threads >= 1)) throw inputError('--threads', `must be a positive integer, got ${threads}`);
  return createEngine({ provider, threads });
}

/** The WebAssembly engine with the thread count of a raw `--threads` flag (absent: the default). */
export async function openEngineWithThreads(threads: string | undefined): Promise<Engine> {
  return openEngine('wasm', threads === undefined ? undefined : intFlag(threads, '--threads', 1));
}

/**
 * The engine policy of a model folder (with `--adapter`, a PEFT LoRA folder on top), on an engine
 * opened from `--provider` / `--threads`.
 */
export async function openModelPolicy(dir: string, provider: string, threads?: number, adapter?: string): Promise<EnginePolicy> {
  const engine = await openEngine(provider, threads);
  try {
    const { model, tokenizer } = loadModel(dir, engine, { trainable: false, adapter });
    return new EnginePolicy(formatPolicySpec({ kind: 'engine', dir, adapter }), model, tokenizer, () => engine.kernels.dispose());
  } catch (err) {
    await engine.kernels.dispose();
    throw err;
  }
}
