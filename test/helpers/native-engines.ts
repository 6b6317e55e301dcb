// Engines for the native provider's tests: whether onnxruntime-node is installed (an optional
// dependency; the tests skip without it), and wasm (2 threads) and native (1 and 2 threads) engines.
import { createRequire } from 'node:module';
import { createEngine, type Engine } from '../../src/engine/kernels/index.js';
import type { OrtMatmul } from '../../src/engine/kernels/native.js';

export const ortInstalled = (() => {
  try {
    createRequire(import.meta.url).resolve('onnxruntime-node/package.json');
    return true;
  } catch {
    return false;
  }
})();
export const skipWithoutOrt = ortInstalled ? false : 'onnxruntime-node is not installed (optional dependency)';

/** The native provider's matmul (its call and session counters). */
export const ortOf = (e: Engine): OrtMatmul => (e.kernels as unknown as { ortMatmul: OrtMatmul }).ortMatmul;

export interface TestEngines {
  wasm: Engine;
  /** Undefined without onnxruntime-node (the tests that use them skip). */
  native1: Engine;
  native2: Engine;
}

export async function openTestEngines(): Promise<TestEngines> {
  const wasm = await createEngine({ provider: 'wasm', threads: 2 });
  if (!ortInstalled) return { wasm } as TestEngines;
  return { wasm, native1: await createEngine({ provider: 'native', threads: 1 }), native2: await createEngine({ provider: 'native', threads: 2 }) };
}

export async function closeTestEngines(e: TestEngines): Promise<void> {
  await e.wasm.kernels.dispose();
  if (!ortInstalled) return;
  await e.native1.kernels.dispose();
  await e.native2.kernels.dispose();
}
