import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportGguf } from '../../src/engine/gguf-export.js';
import { LlamaCppPolicy } from '../../src/policy/llamacpp.js';
import { sampleFromLogits } from '../../src/policy/llamacpp-sampling.js';
import { Rng } from '../../src/util/rng.js';
import { CHARS, SPECIALS, VOCAB, tinyConfig, tinyModel } from '../helpers/tiny-llama.js';

const idOf = (ch: string): number => SPECIALS.length + CHARS.indexOf(ch);

test('sampleFromLogits: greedy, top-k, top-p and the temperature-scaled frequencies', () => {
  const logits = Float64Array.from([1, 3, 2, 0]);
  const rng = new Rng(1);
  const lse = Math.log([1, 3, 2, 0].reduce((a, v) => a + Math.exp(v), 0));
  assert.deepEqual(sampleFromLogits(logits, 0, undefined, undefined, rng), { token: 1, logprob: 3 - lse });
  for (let i = 0; i < 20; i++) assert.equal(sampleFromLogits(logits, 1, 1, undefined, rng).token, 1);
  for (let i = 0; i < 20; i++) assert.equal(sampleFromLogits(logits, 1, undefined, 0.1, rng).token, 1);
  // top-k 2 keeps tokens 1 and 2 only.
  for (let i = 0; i < 50; i++) assert.ok([1, 2].includes(sampleFromLogits(logits, 1, 2, undefined, rng).token));

  // Frequencies at T = 2 follow softmax(logits / 2); the reported log-prob is that distribution's.
  const T = 2;
  const p = [1, 3, 2, 0].map((v) => Math.exp(v / T));
  const z = p.reduce((a, b) => a + b, 0);
  const counts = [0, 0, 0, 0];
  const draws = 20000;
  for (let i = 0; i < draws; i++) {
    const { token, logprob } = sampleFromLogits(logits, T, undefined, undefined, rng);
    counts[token]++;
    assert.ok(Math.abs(logprob - Math.log(p[token] / z)) < 1e-12);
  }
  for (let k = 0; k < 4; k++) {
    const expected = p[k] / z;
    const sd = Math.sqrt((expected * (1 - expected)) / draws);
    assert.ok(Math.abs(counts[k] / draws - expected) < 5 * sd, `token ${k}: ${counts[k] / draws} vs ${expected}`);
  }
});

/** A GGUF in a temp dir and the policy serving it, or the reason node-llama-cpp cannot run here. */
async function withPolicy(
  t: { skip(reason: string): void },
  model: ReturnType<typeof tinyModel>,
  body: (policy: LlamaCppPolicy) => Promise<void>,
): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'prl-llamacpp-'));
  try {
    const path = join(dir, 'model.gguf');
    exportGguf(model, path);
    let policy: LlamaCppPolicy;
    try {
      policy = await LlamaCppPolicy.load({ modelPath: path, contextSize: 64, threads: 1 });
    } catch (err) {
      t.skip(`node-llama-cpp cannot run here: ${(err as Error).message}`);
      return;
    }
    try {
      await body(policy);
    } finally {
      await policy.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('llama.cpp sampling: seeded, log-probs equal teacher-forced scores, offsets, stop strings, length', async (t) => {
  await withPolicy(t, tinyModel(tinyConfig('llama'), 21), async (policy) => {
    const request = { prompts: ['ab', [idOf('1'), idOf('+')]], n: 3, temperature: 1, maxTokens: 12, seed: 5 };
    const first = await policy.sample(request);
    const again = await policy.sample(request);
    assert.deepEqual(again, first);
    const other = await policy.sample({ ...request, seed: 6 });
    assert.notDeepEqual(other, first);
    assert.equal(first.length, 2);
    const prompts = [policy.tokenize('ab'), [idOf('1'), idOf('+')]];
    for (let p = 0; p < 2; p++) {
      assert.equal(first[p].length, 3);
      for (const s of first[p]) {
        assert.ok(s.tokens.length >= 1 && s.tokens.length <= 12);
        if (s.finishReason === 'length') assert.equal(s.tokens.length, 12);
        assert.equal(s.text, policy.detokenize(s.tokens));
        for (let i = 0; i < s.tokens.length; i++) {
          const end = i + 1 < s.tokens.length ? s.offsets[i + 1] : s.text.length;
          assert.equal(s.text.slice(s.offsets[i], end), policy.detokenize([s.tokens[i]]));
        }
        const [scored] = await policy.score([{ prompt: prompts[p], continuation: s.tokens }]);
        for (let i = 0; i < s.tokens.length; i++) assert.ok(Math.abs(scored[i] - s.logprobs[i]) < 1e-5);
      }
    }

    // Greedy is the argmax of the scores: every greedy token has the highest log-prob among all tokens.
    const [[greedy]] = await policy.sample({ prompts: ['a'], n: 1, temperature: 0, maxTokens: 5 });
    let context = policy.tokenize('a');
    for (const token of greedy.tokens) {
      const all = await policy.score(Array.from({ length: VOCAB }, (_, v) => ({ prompt: context, continuation: [v] })));
      const best = all.map((r) => r[0]);
      assert.equal(best.indexOf(Math.max(...best)), token);
      context = [...context, token];
    }

    // A stop string ends the sample as soon as the text contains it; the stop text is kept.
    const stopped = await policy.sample({ prompts: ['ab'], n: 8, temperature: 3, maxTokens: 40, stop: ['a', 'b'], seed: 1 });
    for (const s of stopped[0]) {
      if (s.finishReason === 'stop' && !policy.isEndOfGeneration(s.tokens.at(-1)!)) {
        assert.match(s.text.at(-1)!, /[ab]/);
        assert.doesNotMatch(s.text.slice(0, -1), /[ab]/);
      } else {
        assert.doesNotMatch(s.text, /[ab]/);
      }
    }
    assert.ok(stopped[0].some((s) => s.finishReason === 'stop'));
  });
});

test('llama.cpp sampling stops at EOS', async (t) => {
  // Every hidden state is the all-ones vector (blocks add nothing), and only the EOS row of the head
  // sees it: EOS has logit 64, every other token 0.
  const model = tinyModel(tinyConfig('llama'), 3);
  for (const tensor of model.tensors) {
    if (/o_proj|down_proj/.test(tensor.name)) tensor.data.fill(0);
    if (/embed_tokens|norm/.test(tensor.name)) tensor.data.fill(1);
    if (tensor.name === 'lm_head.weight') {
      tensor.data.fill(0);
      tensor.data.fill(2, 2 * 32, 3 * 32); // row of token 2 (</s>)
    }
  }
  await withPolicy(t, model, async (policy) => {
    const [[s]] = await policy.sample({ prompts: ['abc'], n: 1, temperature: 1, maxTokens: 10 });
    assert.deepEqual(s.tokens, [2]);
    assert.equal(s.finishReason, 'stop');
    assert.equal(s.text, '');
    assert.ok(Math.abs(s.logprobs[0] - (64 - Math.log(Math.exp(64) + VOCAB - 1))) < 1e-4);
  });
});
