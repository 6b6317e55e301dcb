// The engine's per-token log-probs on HF-format checkpoints (GQA, tied embeddings, qwen2 biases,
// head_dim != hidden/heads, rope_theta 1e4/5e5/1e6, F32/BF16/F16, sharded) must match an independent
// float64 PyTorch forward (scripts/make-reference-fixtures.py) within 2e-4.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadModelFolder } from '../../src/engine/checkpoint.js';
import { createEngine } from '../../src/engine/kernels/index.js';
import { LlamaModel } from '../../src/engine/model.js';

const FIXTURES = join(import.meta.dirname, '..', '..', '..', 'test', 'fixtures', 'hf');
const TOLERANCE = 2e-4;

interface Expected {
  B: number;
  T: number;
  tokens: number[][];
  targets: number[][];
  logprobs: number[][];
}

for (const [name, provider] of readdirSync(FIXTURES).sort().flatMap((n) => [[n, 'ts'], [n, 'wasm']] as const)) {
  test(`log-probs of ${name} (${provider} kernels) match the float64 PyTorch reference within ${TOLERANCE}`, async () => {
    const engine = await createEngine({ provider, threads: 2 });
    const dir = join(FIXTURES, name);
    const expected = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8')) as Expected;
    const folder = loadModelFolder(dir);
    const model = new LlamaModel(folder.config, engine.arena, engine.kernels);
    folder.fillTensors(model.parameters());
    folder.close();

    const { B, T } = expected;
    const tokens = Int32Array.from(expected.tokens.flat()); // (B, T)
    const targets = Int32Array.from(expected.targets.flat()); // (B, T)
    const logprobs = model.forward(tokens, targets, B, T); // (B, T)
    const reference = expected.logprobs.flat();
    assert.equal(logprobs.length, B * T);
    let worst = 0;
    for (let i = 0; i < B * T; i++) worst = Math.max(worst, Math.abs(logprobs[i] - reference[i]));
    await engine.kernels.dispose();
    assert.ok(worst <= TOLERANCE, `${name}: max |engine - reference| = ${worst.toExponential(3)}`);
  });
}
