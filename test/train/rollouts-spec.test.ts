import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEngine } from '../../src/engine/kernels/index.js';
import { loadModel } from '../../src/engine/io.js';
import { generate } from '../../src/engine/sampler.js';
import { checkSyncDir, RolloutPipeline, stepSeed } from '../../src/train/rollout-pipeline.js';
import { DataOrder } from '../../src/train/data-order.js';
import { InProcessRollouts } from '../../src/train/rollouts/engine.js';
import { openRollouts, parseRolloutSpec, type RolloutEngine, type RolloutRequest, type RolloutSample } from '../../src/train/rollouts/index.js';
import { PrlError } from '../../src/util/errors.js';
import { Rng } from '../../src/util/rng.js';
import { makeTaskModel } from '../helpers/task-model.js';
import type { CodedProblem } from '../../src/tasks/codec.js';

test('parseRolloutSpec: engine, llamacpp options with defaults, openai URL lists; errors name the bad part', () => {
  assert.deepEqual(parseRolloutSpec('engine'), { kind: 'engine' });
  assert.deepEqual(parseRolloutSpec('llamacpp'), { kind: 'llamacpp', options: { quant: 'f32', gpu: 'auto', reloadEvery: 16 } });
  assert.deepEqual(parseRolloutSpec('llamacpp:quant=q8_0,gpu=off,reload=4,threads=2'), { kind: 'llamacpp', options: { quant: 'q8_0', gpu: 'off', reloadEvery: 4, threads: 2 } });
  assert.deepEqual(parseRolloutSpec('openai:http://a:8000/v1/,http://b:8001'), { kind: 'openai', urls: ['http://a:8000', 'http://b:8001'] });
  const refused: Array<[string, RegExp]> = [
    ['vllm', /expected engine, llamacpp/],
    ['llamacpp:quant=q4', /quant=q4: expected f32, f16 or q8_0/],
    ['llamacpp:gpu=yes', /gpu=yes/],
    ['llamacpp:reload=0', /reload=0: expected a positive integer/],
    ['llamacpp:threads', /"threads": expected key=value/],
    ['llamacpp:speed=9', /unknown option "speed"/],
    ['llamacpp:quant=f16,quant=f32', /quant given twice/],
    ['openai:', /no URL/],
    ['openai:not a url', /"not a url" is not a URL/],
    ['openai:ftp://x', /ftp:\/\/x: expected an http or https URL/],
    ['openai:http://u:p@host:1', /host:1: put credentials in --api-key/],
    ['openai:http://a:1,http://a:1/v1', /http:\/\/a:1 given twice/],
  ];
  for (const [text, message] of refused) assert.throws(() => parseRolloutSpec(text), (err: Error) => err instanceof PrlError && message.test(err.message) && err.message.includes('--rollout'), text);
});

test('the in-process engine draws exactly what generate draws from the same stream, grouped per prompt, log-probs NaN', async () => {
  const root = mkdtempSync(join(tmpdir(), 'prl-rollouts-'));
  const engine = await createEngine({ threads: 1 });
  try {
    const { model } = loadModel(makeTaskModel(join(root, 'model'), 'arith'), engine, { trainable: false });
    const prompts = [[1, 5, 6], [1, 7]];
    const expected = generate(model, [prompts[0], prompts[0], prompts[0], prompts[1], prompts[1], prompts[1]], { maxNewTokens: 6, temperature: 1, topP: 1, stopTokens: [2], rng: new Rng(42) });
    const rng = new Rng(42);
    const rollouts = new InProcessRollouts(() => rng);
    await rollouts.publish({ version: 3, model });
    const request: RolloutRequest = { step: 4, prompts, n: 3, maxNewTokens: 6, temperature: 1, topP: 1, stopIds: [2], seed: 0 };
    const groups = await rollouts.sample(request);
    assert.deepEqual(groups.map((g) => g.length), [3, 3]);
    assert.deepEqual(groups.flat().map((s) => s.tokens), expected.map((s) => s.tokens));
    for (const s of groups.flat()) {
      assert.equal(s.policyVersion, 3);
      assert.equal(s.logprobs.length, s.tokens.length);
      assert.ok(s.logprobs.every((x) => Number.isNaN(x)));
    }
    await assert.rejects(openRollouts({ kind: 'engine' }, { runName: 'r', syncDir: root, modelDir: root, threads: 1, log: () => {} }, { rng: () => rng, asyncSteps: 1, serverKind: 'auto', requestTimeout: 1, serverWait: 1 }), /--async-steps 1/);
  } finally {
    await engine.kernels.dispose();
  }
});

/** An engine that records the versions and steps it sampled for, and answers with the version. */
class RecordingEngine implements RolloutEngine {
  readonly name = 'recording';
  readonly overlaps = true;
  version = -1;
  readonly calls: Array<{ step: number; version: number; seed: number; prompts: number }> = [];
  publish(weights: { version: number }): Promise<void> {
    this.version = weights.version;
    return Promise.resolve();
  }
  sample(request: RolloutRequest): Promise<RolloutSample[][]> {
    this.calls.push({ step: request.step, version: this.version, seed: request.seed, prompts: request.prompts.length });
    const v = this.version;
    return Promise.resolve(request.prompts.map(() => Array.from({ length: request.n }, () => ({ tokens: [1], logprobs: Float64Array.of(NaN), policyVersion: v }))));
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

test('the rollout pipeline: K steps ahead at most, staleness <= K, problems in step order with a data-order snapshot per step', async () => {
  const train = Array.from({ length: 10 }, (_, i) => ({ id: `p${i}`, promptTokens: [i] }) as unknown as CodedProblem);
  for (const K of [0, 2]) {
    const engine = new RecordingEngine();
    const order = new DataOrder(train.length, 7);
    const pipeline = new RolloutPipeline(engine, order, { train, promptsPerStep: 3, groupSize: 2, maxNewTokens: 4, temperature: 1, topP: 1, stopIds: [2], seed: 7, asyncSteps: K, lastStep: 6 }, 1);
    const reference = new DataOrder(train.length, 7);
    await engine.publish({ version: 0 });
    for (let step = 1; step <= 6; step++) {
      pipeline.launchUpTo(step - 1);
      const got = await pipeline.take(step);
      // Launched at most K steps beyond this one, never past the last step.
      assert.equal(Math.max(...engine.calls.map((c) => c.step)), Math.min(6, step + K));
      const drawn = reference.next(3);
      assert.deepEqual(got.problems.map((p) => p.id), drawn.map((i) => `p${i}`));
      assert.deepEqual(got.dataOrder, reference.state());
      for (const s of got.samples) assert.ok(step - 1 - s.policyVersion <= K && step - 1 - s.policyVersion >= 0);
      assert.equal(got.samples.length, 6);
      await engine.publish({ version: step });
    }
    assert.deepEqual(engine.calls.map((c) => c.step), [1, 2, 3, 4, 5, 6]);
    assert.deepEqual(engine.calls.map((c) => c.seed), [1, 2, 3, 4, 5, 6].map((s) => stepSeed(7, s)));
    if (K === 2) assert.deepEqual(engine.calls.map((c) => c.version), [0, 0, 0, 1, 2, 3]);
  }
  assert.notEqual(stepSeed(7, 1), stepSeed(7, 2));
  assert.notEqual(stepSeed(7, 1), stepSeed(8, 1));
});

test('checkSyncDir refuses a folder the trainer cannot create or write, naming --sync-dir', () => {
  const root = mkdtempSync(join(tmpdir(), 'prl-sync-'));
  checkSyncDir(join(root, 'ok', 'sync'));
  writeFileSync(join(root, 'file'), 'x');
  assert.throws(() => checkSyncDir(join(root, 'file', 'sync')), /--sync-dir .*file\/sync: not writable/);
});
