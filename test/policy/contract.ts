/**
 * The policy contract: what every backend (engine, llama.cpp, OpenAI-compatible) must do, as one
 * node:test suite. A backend's test file calls `policyContract(name, makePolicy)`; when
 * `makePolicy` answers `{ skip: reason }` every test is reported skipped with that reason.
 */
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { Completion, Policy } from '../../src/policy/types.js';

export interface ContractOptions {
  /** Prompts the policy can continue (plain text). */
  prompts?: string[];
  /** |score - sample| allowed per token log-prob: absolute + relative. */
  tolerance?: { absolute: number; relative: number };
}

/** Registers the contract suite for one backend. */
export function policyContract(
  name: string,
  makePolicy: () => Promise<Policy | { skip: string }>,
  options: ContractOptions = {},
): void {
  const prompts = options.prompts ?? ['Step 1: add the numbers.\n', 'Question: what is 12 times 12?\nAnswer:'];
  const tolerance = options.tolerance ?? { absolute: 1e-4, relative: 1e-4 };

  describe(`policy contract: ${name}`, () => {
    let policy: Policy | undefined;
    let skipReason: string | undefined;
    before(async () => {
      const made = await makePolicy();
      if ('skip' in made) skipReason = made.skip;
      else policy = made;
    });
    after(async () => {
      await policy?.close();
    });
    /** The policy, or undefined after marking the test skipped. */
    const subject = (t: TestContext): Policy | undefined => {
      if (skipReason !== undefined) t.skip(skipReason);
      return policy;
    };

    test('sample returns n completions per prompt with one log-prob <= 0 per token', async (t) => {
      const p = subject(t);
      if (!p) return;
      const result = await p.sample({ prompts, n: 3, temperature: 1, maxTokens: 12, seed: 1 });
      assert.equal(result.length, prompts.length);
      for (const completions of result) {
        assert.equal(completions.length, 3);
        for (const c of completions) {
          assert.ok(c.tokens.length >= 1 && c.tokens.length <= 12, `token count ${c.tokens.length}`);
          assert.equal(c.logprobs.length, c.tokens.length);
          assert.equal(c.offsets.length, c.tokens.length);
          for (const lp of c.logprobs) assert.ok(Number.isFinite(lp) && lp <= 1e-6, `log-prob ${lp}`);
          assert.ok(c.finishReason === 'stop' || c.finishReason === 'length', `finishReason ${c.finishReason}`);
        }
      }
    });

    test('offsets start at 0, never decrease, stay within the text and locate each token', async (t) => {
      const p = subject(t);
      if (!p) return;
      const result = await p.sample({ prompts, n: 4, temperature: 1, maxTokens: 24, seed: 2 });
      for (const c of result.flat()) assertOffsetsConsistent(c);
    });

    test('the same seed gives the same completions; another seed gives others', async (t) => {
      const p = subject(t);
      if (!p) return;
      if (!p.capabilities.seed) return t.skip(`${name} does not support seeded sampling`);
      const request = { prompts, n: 2, temperature: 1, maxTokens: 16, seed: 1234 };
      const first = await p.sample(request);
      const second = await p.sample(request);
      assert.deepEqual(second.map((cs) => cs.map((c) => c.tokens)), first.map((cs) => cs.map((c) => c.tokens)));
      assert.deepEqual(second.map((cs) => cs.map((c) => c.text)), first.map((cs) => cs.map((c) => c.text)));
      const other = await p.sample({ ...request, seed: 4321 });
      assert.notDeepEqual(other.map((cs) => cs.map((c) => c.text)), first.map((cs) => cs.map((c) => c.text)));
    });

    test('temperature 0 is greedy: two calls agree', async (t) => {
      const p = subject(t);
      if (!p) return;
      const a = await p.sample({ prompts, n: 1, temperature: 0, maxTokens: 10 });
      const b = await p.sample({ prompts, n: 1, temperature: 0, maxTokens: 10 });
      assert.deepEqual(b.map((cs) => cs[0].tokens), a.map((cs) => cs[0].tokens));
    });

    test('score reproduces the log-probs of sampled tokens at temperature 1', async (t) => {
      const p = subject(t);
      if (!p) return;
      const result = await p.sample({ prompts, n: 4, temperature: 1, topP: 1, maxTokens: 16, seed: 3 });
      const pairs = prompts.flatMap((prompt, i) => result[i].map((completion) => ({ prompt, completion })));
      const exactIds = p.capabilities.tokenIds;
      const scored = await p.score({
        items: pairs.map(({ prompt, completion }) => ({
          prompt,
          continuation: exactIds ? (completion.tokens as number[]) : completion.text,
        })),
      });
      let compared = 0;
      scored.forEach((s, k) => {
        const sampled = pairs[k].completion;
        // Text scoring re-tokenises; compare only where it surely found the sampled tokens again
        // (U+FFFD pieces of different bytes look alike, so they prove nothing).
        const ambiguous = (sampled.tokens as unknown[]).some((token) => typeof token === 'string' && token.includes('\uFFFD'));
        if (!exactIds && (ambiguous || !s.exactBoundary || JSON.stringify(s.tokens) !== JSON.stringify(sampled.tokens))) return;
        assert.deepEqual(s.tokens, sampled.tokens);
        for (let i = 0; i < s.logprobs.length; i++) {
          const allowed = tolerance.absolute + tolerance.relative * Math.abs(sampled.logprobs[i]);
          assert.ok(Math.abs(s.logprobs[i] - sampled.logprobs[i]) <= allowed, `completion ${k} token ${i}: scored ${s.logprobs[i]}, sampled ${sampled.logprobs[i]}`);
        }
        compared++;
      });
      assert.ok(compared >= 1, `no sampled completion could be compared (of ${pairs.length})`);
    });

    test('score of text gives tokens that spell the continuation, log-probs <= 0', async (t) => {
      const p = subject(t);
      if (!p) return;
      const continuation = ' the answer is 144.\nStep 2: check it.';
      const [s] = await p.score({ items: [{ prompt: prompts[0], continuation }] });
      assert.ok(s.tokens.length >= 1);
      assert.equal(s.logprobs.length, s.tokens.length);
      assert.equal(s.offsets.length, s.tokens.length);
      for (const lp of s.logprobs) assert.ok(Number.isFinite(lp) && lp <= 1e-6);
      assert.equal(s.offsets[0], 0);
      for (let i = 1; i < s.offsets.length; i++) assert.ok(s.offsets[i] >= s.offsets[i - 1]);
      if (typeof s.tokens[0] === 'string' && s.exactBoundary) assert.equal((s.tokens as string[]).join(''), continuation);
    });

    test('stop strings end generation and are not in the text', async (t) => {
      const p = subject(t);
      if (!p) return;
      const result = await p.sample({ prompts, n: 4, temperature: 1, maxTokens: 40, stop: ['\n'], seed: 4 });
      for (const c of result.flat()) {
        assert.ok(!c.text.includes('\n'), `text ${JSON.stringify(c.text)} contains the stop string`);
        if (c.finishReason === 'length') assert.equal(c.tokens.length, 40);
      }
    });

    test('max_tokens bounds the completion; length finishes use all of it', async (t) => {
      const p = subject(t);
      if (!p) return;
      const result = await p.sample({ prompts, n: 4, temperature: 1, maxTokens: 5, seed: 5 });
      let lengthFinishes = 0;
      for (const c of result.flat()) {
        assert.ok(c.tokens.length <= 5);
        if (c.finishReason === 'length') {
          assert.equal(c.tokens.length, 5);
          lengthFinishes++;
        }
      }
      assert.ok(lengthFinishes > 0, 'no completion reached max_tokens in 8 tries of 5 tokens');
    });
  });
}

/** Offsets invariant every consumer relies on (step splitting on "\n"). */
export function assertOffsetsConsistent(c: Completion): void {
  if (c.tokens.length === 0) return;
  assert.equal(c.offsets[0], 0);
  for (let i = 0; i < c.offsets.length; i++) {
    assert.ok(c.offsets[i] >= (i === 0 ? 0 : c.offsets[i - 1]) && c.offsets[i] <= c.text.length, `offsets ${c.offsets.join(',')} for ${JSON.stringify(c.text)}`);
  }
  if (typeof c.tokens[0] !== 'string') return;
  const tokens = c.tokens as string[];
  // A clean token (not a piece of a character) sits at its offset, unless it runs past the text.
  tokens.forEach((token, i) => {
    if (token === '' || token.includes('\uFFFD') || c.offsets[i] + token.length > c.text.length) return;
    assert.equal(c.text.slice(c.offsets[i], c.offsets[i] + token.length), token, `token ${i} ${JSON.stringify(token)} at ${c.offsets[i]} in ${JSON.stringify(c.text)}`);
  });
  // Every newline of the text lies in a token that contains one.
  for (let at = c.text.indexOf('\n'); at >= 0; at = c.text.indexOf('\n', at + 1)) {
    const owner = tokens.findIndex((token, i) => c.offsets[i] <= at && at < c.offsets[i] + token.length && token.includes('\n'));
    assert.ok(owner >= 0, `newline at ${at} of ${JSON.stringify(c.text)} has no token`);
  }
}
