// `--rollout llamacpp`: llama.cpp samples with the trainer's published weights. Checked against prl's own
// engine scoring the sampled tokens with the same weights (model + adapter), which is the number the
// trainer's PPO ratio compares with.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModelFolder } from '../../src/engine/checkpoint.js';
import { FallbackKernels } from '../../src/engine/kernels/fallback.js';
import { LoraAdapter } from '../../src/engine/lora.js';
import { Arena } from '../../src/engine/memory.js';
import { LlamaModel } from '../../src/engine/model.js';
import { loadTokenizer } from '../../src/engine/tokenizer.js';
import { openLlamaCppRollouts } from '../../src/train/rollouts/llamacpp.js';
import type { LlamaCppRolloutOptions, RolloutEngine, RolloutRequest, RolloutSample } from '../../src/train/rollouts/types.js';
import { PrlError } from '../../src/util/errors.js';
import { Rng } from '../../src/util/rng.js';
import { instructFolder } from '../helpers/instruct-model.js';
import { makeTaskModel } from '../helpers/task-model.js';

/** prl's frozen model of the folder. */
function engineModel(dir: string): LlamaModel {
  const folder = loadModelFolder(dir);
  try {
    const model = new LlamaModel(folder.config, new Arena(0), new FallbackKernels(), { trainable: false });
    const byName = new Map(folder.readAllTensors().map((t) => [t.name, t.data]));
    for (const p of model.parameters()) p.data.set(byName.get(p.name)!);
    return model;
  } finally {
    folder.close();
  }
}

/** A rank-4 adapter with random A and B (a fresh one is zero in B, which would change nothing). */
function randomAdapter(model: LlamaModel, seed: number): LoraAdapter {
  const adapter = new LoraAdapter(model.config, new Arena(0), { rank: 4 });
  const rng = new Rng(seed);
  adapter.initRandom(rng);
  for (const p of adapter.parameters()) if (p.name.includes('lora_B')) p.data.forEach((_, i) => (p.data[i] = 0.3 * rng.normal()));
  return adapter;
}

/** prl's log-probs of `response` after `prompt` under `model` (with whatever adapter is attached). */
function engineLogprobs(model: LlamaModel, prompt: readonly number[], response: readonly number[]): number[] {
  const sequence = [...prompt, ...response];
  const T = sequence.length - 1;
  const logp = model.forward(Int32Array.from(sequence.slice(0, T)), Int32Array.from(sequence.slice(1)), 1, T);
  return Array.from(logp.subarray(prompt.length - 1));
}

/** Worst |llama.cpp - prl| over every sampled token. */
function worstMismatch(model: LlamaModel, prompts: readonly (readonly number[])[], samples: RolloutSample[][]): number {
  let worst = 0;
  samples.forEach((group, p) =>
    group.forEach((s) => {
      assert.equal(s.logprobs.length, s.tokens.length);
      engineLogprobs(model, prompts[p], s.tokens).forEach((lp, i) => (worst = Math.max(worst, Math.abs(lp - s.logprobs[i]))));
    }),
  );
  return worst;
}

interface Fixture {
  root: string;
  dir: string;
  stopIds: number[];
  prompts: number[][];
}

function fixture(): Fixture {
  const root = mkdtempSync(join(tmpdir(), 'prl-rollouts-llamacpp-'));
  const { dir, endOfText, imEnd } = instructFolder(root);
  const tokenizer = loadTokenizer(dir);
  const prompts = ['<|user|>the cat\n<|assistant|>', 'then 12 in the hat'].map((text) => tokenizer.encode(text).ids);
  return { root, dir, stopIds: [imEnd, endOfText], prompts };
}

/** Opens the engine, or returns the reason node-llama-cpp cannot run here. */
async function open(f: Fixture, options: Partial<LlamaCppRolloutOptions> = {}, log: string[] = []): Promise<RolloutEngine | string> {
  try {
    return await openLlamaCppRollouts(
      { quant: 'f32', gpu: 'off', reloadEvery: 2, threads: 1, ...options },
      { runName: 'run', syncDir: join(f.root, 'sync'), modelDir: f.dir, threads: 1, log: (line) => log.push(line) },
    );
  } catch (err) {
    if (err instanceof PrlError && !/node-llama-cpp/.test(err.message)) throw err;
    return `node-llama-cpp cannot run here: ${(err as Error).message}`;
  }
}

function request(f: Fixture, overrides: Partial<RolloutRequest> = {}): RolloutRequest {
  return { step: 0, prompts: f.prompts, n: 3, maxNewTokens: 10, temperature: 1, topP: 1, stopIds: f.stopIds, seed: 7, ...overrides };
}

test('llama.cpp rollouts: published adapters sampled with prl\'s log-probs, versions swap, seeds repeat, stop ids end responses', async (t) => {
  const f = fixture();
  try {
    const log: string[] = [];
    const engine = await open(f, {}, log);
    if (typeof engine === 'string') return t.skip(engine);
    try {
      assert.equal(engine.overlaps, true);
      assert.ok(existsSync(join(f.root, 'sync', 'run-base.f32.gguf')));
      assert.match(log.join('\n'), /run-base\.f32\.gguf/);
      const model = engineModel(f.dir);
      const first = randomAdapter(model, 1);
      await engine.publish({ version: 1, model, adapter: first });
      const v1 = await engine.sample(request(f));
      assert.equal(v1.length, 2);
      for (const group of v1) {
        assert.equal(group.length, 3);
        for (const s of group) {
          assert.equal(s.policyVersion, 1);
          assert.ok(s.tokens.length >= 1 && s.tokens.length <= 10);
        }
      }
      model.attachAdapter(first);
      const worst = worstMismatch(model, f.prompts, v1);
      t.diagnostic(`worst |log p llama.cpp - log p prl| over ${v1.flat().reduce((n, s) => n + s.tokens.length, 0)} sampled tokens (f32 + LoRA r4): ${worst.toExponential(2)}`);
      assert.ok(worst < 1e-3, `worst |llama.cpp - prl| with adapter v1 = ${worst}`);
      model.detachAdapter();
      assert.ok(worstMismatch(model, f.prompts, v1) > 1e-2, 'the adapter changes the log-probs (else the check above proves nothing)');

      assert.deepEqual(await engine.sample(request(f)), v1, 'same seed, same version: same samples');
      assert.notDeepEqual((await engine.sample(request(f, { seed: 8 }))).map((g) => g.map((s) => s.tokens)), v1.map((g) => g.map((s) => s.tokens)));

      const second = randomAdapter(model, 2);
      await engine.publish({ version: 2, model, adapter: second });
      const v2 = await engine.sample(request(f));
      assert.ok(v2.flat().every((s) => s.policyVersion === 2));
      model.attachAdapter(second);
      assert.ok(worstMismatch(model, f.prompts, v2) < 1e-3, 'v2 samples carry v2\'s log-probs');
      model.detachAdapter();
      model.attachAdapter(first);
      assert.ok(worstMismatch(model, f.prompts, v2) > 1e-2, 'v2 is not v1');
      model.detachAdapter();
      assert.deepEqual(readdirSync(join(f.root, 'sync')).sort(), ['run-base.f32.gguf', 'run-v2.gguf'], 'v1\'s file is deleted once v2 is served');

      // Stop ids: with a third of the vocabulary as stop ids, most responses end early, on a stop id that is kept.
      const stopIds = Array.from({ length: 90 }, (_, i) => 3 * i);
      const stopped = (await engine.sample(request(f, { stopIds, maxNewTokens: 12, n: 4 }))).flat();
      for (const s of stopped) {
        const stopAt = s.tokens.findIndex((tok) => stopIds.includes(tok));
        assert.ok(stopAt === -1 ? s.tokens.length === 12 : stopAt === s.tokens.length - 1, `stops at the first stop id: ${s.tokens.join(' ')}`);
      }
      assert.ok(stopped.some((s) => s.tokens.length < 12));
    } finally {
      await engine.close();
    }
    await assert.rejects(engine.sample(request(f)), /after close/);
  } finally {
    rmSync(f.root, { recursive: true, force: true });
  }
});

test('llama.cpp rollouts: the model reloads every K swaps and on a reused file name; full fine-tuning re-exports the weights', async (t) => {
  const f = fixture();
  try {
    const engine = await open(f, { reloadEvery: 2 });
    if (typeof engine === 'string') return t.skip(engine);
    try {
      const model = engineModel(f.dir);
      // Five swaps (two reloads), then version 5 again: the same path must not come from node-llama-cpp's cache.
      const adapters = [1, 2, 3, 4, 5, 6].map((seed) => randomAdapter(model, 10 + seed));
      for (const [i, adapter] of adapters.entries()) {
        const version = Math.min(i + 1, 5);
        await engine.publish({ version, model, adapter });
        const samples = await engine.sample(request(f, { n: 1, maxNewTokens: 6 }));
        model.attachAdapter(adapter);
        assert.ok(worstMismatch(model, f.prompts, samples) < 1e-3, `swap ${i + 1} serves its own adapter`);
        model.detachAdapter();
      }
      assert.deepEqual(readdirSync(join(f.root, 'sync')).sort(), ['run-base.f32.gguf', 'run-v5.gguf']);

      // Full fine-tuning: changed base weights, no adapter.
      for (const p of model.parameters()) if (p.name.includes('mlp.up_proj')) p.data.forEach((v, i) => (p.data[i] = -1.5 * v));
      await engine.publish({ version: 6, model });
      const full = await engine.sample(request(f, { n: 2 }));
      assert.ok(full.flat().every((s) => s.policyVersion === 6));
      assert.ok(worstMismatch(model, f.prompts, full) < 1e-3, 'llama.cpp serves the trained weights');
      assert.deepEqual(readdirSync(join(f.root, 'sync')).sort(), ['run-base.f32.gguf', 'run-v6.f32.gguf']);
    } finally {
      await engine.close();
    }
    assert.deepEqual(readdirSync(join(f.root, 'sync')), ['run-base.f32.gguf'], 'close deletes the served version');
  } finally {
    rmSync(f.root, { recursive: true, force: true });
  }
});

test('llama.cpp rollouts refuse a character-level task tokenizer llama.cpp would abort on, before loading it', async () => {
  const root = mkdtempSync(join(tmpdir(), 'prl-rollouts-llamacpp-char-'));
  try {
    const dir = makeTaskModel(join(root, 'model'), 'arith');
    await assert.rejects(
      openLlamaCppRollouts({ quant: 'f32', gpu: 'off', reloadEvery: 2 }, { runName: 'run', syncDir: join(root, 'sync'), modelDir: dir, threads: 1, log: () => {} }),
      (err: Error) => err instanceof PrlError && /tokenizer\.json/.test(err.message) && /lacks "s"/.test(err.message) && /--rollout engine/.test(err.message),
    );
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
