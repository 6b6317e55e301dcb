import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Arena } from '../../src/engine/memory.js';
import { FallbackKernels } from '../../src/engine/kernels/fallback.js';
import { LlamaModel } from '../../src/engine/model.js';
import { PRESETS } from '../../src/engine/config.js';
import { scoreSequences } from '../../src/engine/sampler.js';
import { Rng } from '../../src/util/rng.js';
import { packBatch, packResponses, responseLogprobs, selectRows, unpackResponses } from '../../src/train/batch.js';
import { DataOrder } from '../../src/train/data-order.js';

test('packBatch puts targets exactly on the response tokens; unpack/pack are inverse', () => {
  const batch = packBatch([[1, 2, 3], [4]], [[5, 6], [7, 8, 9]]);
  assert.equal(batch.T, 4);
  assert.deepEqual(Array.from(batch.tokens), [1, 2, 3, 5, 4, 7, 8, 0]);
  assert.deepEqual(Array.from(batch.targets), [-1, -1, 5, 6, 7, 8, 9, -1]);
  const values = [Float64Array.of(0.5, 0.25), Float64Array.of(1, 2, 3)];
  const packed = packResponses(values, batch);
  assert.deepEqual(unpackResponses(packed, batch).map((v) => Array.from(v)), values.map((v) => Array.from(v)));
  const second = selectRows(batch, [1]);
  assert.deepEqual(Array.from(second.targets), [7, 8, 9, -1]);
});

test('response log-probs from a packed batch equal teacher-forced scoring of each sequence', () => {
  const model = new LlamaModel({ ...PRESETS.tiny, vocabSize: 12 }, new Arena(0), new FallbackKernels());
  model.initRandom(new Rng(5));
  const prompts = [[1, 2, 3], [4, 5]];
  const responses = [[6, 7], [8, 9, 10, 11]];
  const got = responseLogprobs(model, packBatch(prompts, responses));
  prompts.forEach((p, b) => {
    const all = scoreSequences(model, [[...p, ...responses[b]]])[0];
    const expected = all.slice(p.length - 1);
    expected.forEach((x, j) => assert.ok(Math.abs(x - got[b][j]) < 1e-6, `row ${b} token ${j}: ${x} vs ${got[b][j]}`));
  });
});

test('data order: every epoch is a permutation, and a restored state continues identically', () => {
  const a = new DataOrder(7, 3);
  const first = a.next(7);
  assert.deepEqual([...first].sort(), [0, 1, 2, 3, 4, 5, 6]);
  a.next(3);
  const saved = a.state();
  const rest = a.next(20);
  assert.deepEqual(new DataOrder(7, 3, saved).next(20), rest);
  assert.notDeepEqual(new DataOrder(7, 4).next(7), first);
});
