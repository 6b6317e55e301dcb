// Real checkpoints end a response with any of several ids (<|im_end|>, <|endoftext|>): PAV's terminal test
// (withTerminalOutcomes, labelled prefixes) must treat every one of them as the end. Hand-worked cases.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isFinished, withTerminalOutcomes } from '../../src/algos/index.js';
import { PRESETS } from '../../src/engine/config.js';
import { FallbackKernels } from '../../src/engine/kernels/fallback.js';
import { Arena } from '../../src/engine/memory.js';
import { LlamaModel } from '../../src/engine/model.js';
import { labelProblems } from '../../src/pav/labels.js';
import type { Roller } from '../../src/pav/rollers.js';
import { getTask } from '../../src/tasks/index.js';
import { createCodec, taskTokenizer } from '../../src/tasks/codec.js';
import { Rng } from '../../src/util/rng.js';

test('isFinished: any of several end ids, or the budget, ends a prefix; one id still works', () => {
  assert.equal(isFinished([1, 2, 7], [5, 7], 10), true); // second end id
  assert.equal(isFinished([1, 5], [5, 7], 10), true); // first end id
  assert.equal(isFinished([1, 2, 3], [5, 7], 10), false);
  assert.equal(isFinished([1, 2, 3], [5, 7], 3), true); // budget used up
  assert.equal(isFinished([1, 7], 5, 10), false); // single id: 7 is an ordinary token
  assert.equal(isFinished([1, 5], 5, 10), true);
});

test('withTerminalOutcomes with two end ids: a response ended by either takes its reward as the last Q^mu', () => {
  const imEnd = 7;
  const endOfText = 8;
  const values = [
    { q: [0.2, 0.5], v0: 0.1 }, // ends with <|im_end|>
    { q: [0.3, 0.6], v0: 0.2 }, // ends with <|endoftext|>
    { q: [0.4, 0.9], v0: 0.3 }, // no end id, budget of 6 not used: the prover's values stay
  ];
  const responses = [[1, 2, imEnd], [1, 2, 3, endOfText], [1, 2, 3]];
  const ends = [[0, 2], [1, 3], [0, 2]];
  const rewards = [1, 0, 1];
  const out = withTerminalOutcomes(values, responses, ends, rewards, [imEnd, endOfText], 6);
  assert.deepEqual(out, [{ q: [0.2, 1], v0: 0.1 }, { q: [0.3, 0], v0: 0.2 }, values[2]]);
  // With only <|im_end|> as the end id (the old single-id call), the <|endoftext|> response looks unfinished.
  const single = withTerminalOutcomes(values, responses, ends, rewards, imEnd, 6);
  assert.deepEqual(single[1], values[1]);
  assert.deepEqual(single[0], out[0]);
});

test('labelProblems: a step prefix ending in a second end id is terminal (no rollouts, value = its reward)', () => {
  const task = getTask('arith', { operations: 1, trainSize: 8, evalSize: 4 });
  const tokenizer = taskTokenizer(task);
  const secondEnd = tokenizer.bosId!; // stands for a model's second end id (<|endoftext|> beside <|im_end|>)
  const codec = createCodec(task, tokenizer, { endIds: [tokenizer.eosId!, secondEnd] });
  assert.deepEqual(codec.stopIds, [tokenizer.eosId, secondEnd]);
  const policy = new LlamaModel({ ...PRESETS.tiny, vocabSize: tokenizer.vocabSize }, new Arena(0), new FallbackKernels());
  policy.initRandom(new Rng(4));
  for (const p of policy.parameters()) if (!p.name.endsWith('norm.weight')) for (let i = 0; i < p.data.length; i++) p.data[i] *= 10;
  // A roller that answers every request with one fixed continuation: every open prefix gets exactly nMc rollouts.
  const roller: Roller = { name: 'fixed', generatedTokens: 0, rollouts: (requests, n) => requests.map(() => Array.from({ length: n }, () => [codec.eosId])) };
  const records = labelProblems(policy, roller, codec, codec.problems('train'), { nCov: 8, nMc: 3, strategy: 'random', prover: 'mc', temperature: 1, maxNewTokens: 12, rng: new Rng(1) });
  let endedBySecond = 0;
  for (const r of records) {
    r.step_ends.forEach((end, h) => {
      const prefix = r.response_ids.slice(0, end + 1);
      const terminal = prefix.includes(codec.eosId) || prefix.includes(secondEnd) || prefix.length >= 12;
      assert.equal(r.rollouts[h], terminal ? 0 : 3, `record ${r.problem} step ${h}`);
      if (terminal) assert.equal(r.q_mc[h], r.reward);
    });
    if (r.response_ids.at(-1) === secondEnd) endedBySecond++;
  }
  assert.ok(endedBySecond > 0, 'some sampled response ended with the second end id');
});
