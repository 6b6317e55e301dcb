// PAV Monte Carlo labels: prefix-shared rollouts equal plain generation; on planted, Q_hat under the exact
// prover agrees with the dynamic-programming values within Wilson intervals; first-pit and TRL exports.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PRESETS } from '../../src/engine/config.js';
import { FallbackKernels } from '../../src/engine/kernels/fallback.js';
import { Arena } from '../../src/engine/memory.js';
import { LlamaModel } from '../../src/engine/model.js';
import { generate, generateFromPrefixes } from '../../src/engine/sampler.js';
import { labelProblems, toStepwiseSupervision, wilsonInterval } from '../../src/pav/labels.js';
import { plantedOracleRoller, plantedOracleValues } from '../../src/pav/rollers.js';
import { getTask } from '../../src/tasks/index.js';
import { createCodec, taskTokenizer } from '../../src/tasks/codec.js';
import { Rng } from '../../src/util/rng.js';

function tinyModel(vocabSize: number, seed: number): LlamaModel {
  const model = new LlamaModel({ ...PRESETS.tiny, vocabSize }, new Arena(0), new FallbackKernels());
  model.initRandom(new Rng(seed));
  // Larger weights than HF's init, so that the prefix changes the next-token distribution visibly.
  for (const p of model.parameters()) if (!p.name.endsWith('norm.weight')) for (let i = 0; i < p.data.length; i++) p.data[i] *= 10;
  return model;
}

test('prefix-shared rollouts (one prefill copied into n slots) equal generate on the repeated prompts, token for token', () => {
  const model = tinyModel(17, 1);
  const prefixes = [[1, 2, 3, 4, 5, 6], [7], [8, 9, 10, 2]];
  const n = 3;
  const options = { maxNewTokens: 7, temperature: 1, stopTokens: [0] };
  const shared = generateFromPrefixes(model, prefixes, n, { ...options, rng: new Rng(5) });
  const plain = generate(model, prefixes.flatMap((p) => Array.from({ length: n }, () => p)), { ...options, rng: new Rng(5) });
  assert.equal(shared.length, prefixes.length);
  shared.forEach((group, p) =>
    group.forEach((r, j) => {
      const q = plain[p * n + j];
      assert.deepEqual(r.tokens, q.tokens);
      assert.deepEqual(r.logprobs, q.logprobs);
      assert.equal(r.finishReason, q.finishReason);
    }),
  );
  // The n continuations of one prefix differ (they are independent draws, not copies).
  assert.ok(shared.some((group) => group.some((r) => r.tokens.join() !== group[0].tokens.join())));
  // Per-prefix budgets: each sequence stops at its own.
  const budgets = generateFromPrefixes(model, prefixes, 2, { maxNewTokens: 0, maxNewTokensEach: [1, 4, 0], temperature: 1, rng: new Rng(1) });
  budgets[0].forEach((r) => assert.ok(r.tokens.length <= 1));
  budgets[1].forEach((r) => assert.ok(r.tokens.length <= 4));
  budgets[2].forEach((r) => assert.equal(r.tokens.length, 0));
});

test('planted: Monte Carlo Q under the prover mu(10) agrees with the exact DP values within 99.9% Wilson intervals', () => {
  const task = getTask('planted');
  const codec = createCodec(task, taskTokenizer(task));
  const policy = tinyModel(codec.tokenizer.vocabSize, 2);
  const problems = codec.problems('train');
  const roller = plantedOracleRoller(codec, 10, problems[0].promptTokens.length);
  const records = labelProblems(policy, roller, codec, problems, { nCov: 12, nMc: 300, strategy: 'random', prover: 'oracle:gamma=10', temperature: 1, maxNewTokens: codec.maxNewTokens, rng: new Rng(3) });
  assert.equal(records.length, 12);
  const exact = plantedOracleValues(codec, 10);
  const wrong = plantedOracleValues(codec, 3);
  let checked = 0;
  let outsideWrong = 0;
  for (const r of records) {
    const { q, v0 } = exact(r.response_ids);
    const qWrong = wrong(r.response_ids).q;
    assert.equal(r.steps.length, r.step_ends.length);
    r.step_ends.forEach((end, h) => {
      // Planted steps are single tokens, so the prefix through step h ends at token h.
      assert.equal(end, h);
      if (r.rollouts[h] === 0) {
        assert.equal(r.q_mc[h], q[h], 'a terminal prefix has its exact value');
        return;
      }
      const [lo, hi] = wilsonInterval(r.successes[h], r.rollouts[h], 3.29);
      assert.ok(q[h] >= lo && q[h] <= hi, `step ${h}: exact ${q[h]} outside [${lo}, ${hi}] (Q_hat ${r.q_mc[h]})`);
      if (qWrong[h] < lo || qWrong[h] > hi) outsideWrong++;
      checked++;
    });
    const [lo, hi] = wilsonInterval(r.v0_successes, r.v0_rollouts, 3.29);
    assert.ok(v0 >= lo && v0 <= hi, `V0: exact ${v0} outside [${lo}, ${hi}]`);
  }
  assert.ok(checked >= 20, `only ${checked} prefixes checked`);
  // The intervals are tight enough to tell the gamma = 3 prover's values apart.
  assert.ok(outsideWrong >= checked / 2, `gamma=3 values fall outside only ${outsideWrong}/${checked} intervals`);
});

test('first-pit traces continue a high-value seed prefix with a failed rollout and stop at the first zero-value step; TRL export', () => {
  const task = getTask('planted');
  const codec = createCodec(task, taskTokenizer(task));
  const policy = tinyModel(codec.tokenizer.vocabSize, 4);
  const problems = codec.problems('train');
  const roller = plantedOracleRoller(codec, 20, problems[0].promptTokens.length);
  // Planted values are small (V0 = 0.2 under mu(20)), so "high value" is set low here.
  const records = labelProblems(policy, roller, codec, problems, { nCov: 4, nMc: 32, strategy: 'first-pit', pitThreshold: 0.2, prover: 'bok:4', temperature: 1, maxNewTokens: codec.maxNewTokens, rng: new Rng(9) });
  const seeds = records.filter((r) => r.source === 'seed');
  const pits = records.filter((r) => r.source === 'first-pit');
  assert.equal(seeds.length, 4);
  assert.ok(pits.length > 0, 'some seed prefix has Q_hat >= 0.5 and a failed rollout');
  for (const r of pits) {
    const seed = seeds.find((s) => r.q_mc[0] === s.q_mc[0] && s.response_ids[0] === r.response_ids[0]);
    assert.ok(seed, 'a pit trace starts with a seed prefix');
    const zero = r.q_mc.findIndex((q, h) => q === 0 && r.rollouts[h] > 0);
    if (zero >= 0) assert.equal(zero, r.q_mc.length - 1, 'the trace ends at its first zero-value step');
    assert.ok(r.q_mc.some((q) => q >= 0.2), 'it passes a high-value state');
  }
  // bok:4: the prover's Q is 1 - (1 - Q_hat)^4.
  for (const r of records) r.q.forEach((q, h) => assert.ok(Math.abs(q - (1 - (1 - r.q_mc[h]) ** 4)) < 1e-12));
  const hard = toStepwiseSupervision(records[0], 'hard');
  const soft = toStepwiseSupervision(records[0], 'soft');
  assert.deepEqual(hard.completions, records[0].steps);
  assert.deepEqual(hard.labels, records[0].q.map((q) => q >= 0.5));
  assert.deepEqual(soft.labels, records[0].q);
  assert.equal(hard.completions.join(''), codec.read(problems[0], records[0].response_ids).text);
});

test('Wilson interval by hand: 8 of 10 at 95%', () => {
  const [lo, hi] = wilsonInterval(8, 10, 1.96);
  // Closed form: (p + z²/2n ± z sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n).
  assert.ok(Math.abs(lo - 0.4901568) < 1e-6 && Math.abs(hi - 0.9433191) < 1e-6, `${lo} ${hi}`);
});
