import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { inspect } from 'node:util';
import { openOpenAiPolicy, type OpenAiPolicyOptions } from '../../src/policy/openai.js';
import { openPolicy } from '../../src/policy/index.js';
import { PrlError } from '../../src/util/errors.js';
import { BOS, startFakeOpenAi, type FakeOpenAiOptions, type FakeOpenAiServer } from '../helpers/fake-openai.js';
import { startFaultProxy, type Fault, type FaultProxy } from '../helpers/fault-proxy.js';
import { assertOffsetsConsistent } from './contract.js';

const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

async function fake(options: FakeOpenAiOptions = {}): Promise<FakeOpenAiServer> {
  const server = await startFakeOpenAi(options);
  cleanups.push(() => server.close());
  return server;
}

async function proxy(server: FakeOpenAiServer, schedule: Fault[]): Promise<FaultProxy> {
  const p = await startFaultProxy(new URL(server.url).origin, schedule);
  cleanups.push(() => p.close());
  return p;
}

/** Fast retry settings for tests; no key in the environment. */
function open(urls: string[], extra: Partial<OpenAiPolicyOptions> = {}) {
  return openOpenAiPolicy({ urls, env: {}, backoffMs: 1, maxBackoffMs: 5, timeoutMs: 2_000, onWarning: () => {}, ...extra });
}

/** A loopback port nobody listens on: bind one, then let it go. */
async function closedPort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function rejection(promise: Promise<unknown>): Promise<PrlError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof PrlError, `expected a PrlError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected a rejection');
}

const request = { prompts: ['Step 1:'], n: 2, temperature: 1, maxTokens: 8, seed: 1 };

describe('retries', () => {
  test('500, 429, a dropped connection and a hang are retried until a request passes', async () => {
    const server = await fake();
    const faults: Fault[] = [{ status: 500 }, { status: 429, retryAfter: '0' }, 'drop', 'hang', 'pass'];
    const faulty = await proxy(server, faults);
    const policy = await open([faulty.url], { timeoutMs: 1_500, retries: 5 });
    const [completions] = await policy.sample(request);
    assert.equal(completions.length, 2);
    assert.deepEqual(faulty.log, faults);
    assert.equal(server.stats.completions, 1); // only the last attempt reached the model
    await policy.close();
  });

  test('Retry-After is honoured', async () => {
    const server = await fake();
    const faulty = await proxy(server, [{ status: 429, retryAfter: '1' }]);
    const policy = await open([faulty.url]);
    const started = Date.now();
    await policy.sample(request);
    assert.ok(Date.now() - started >= 950, `retried after ${Date.now() - started} ms`);
    await policy.close();
  });

  test('gives up after the configured retries with the last error', async () => {
    const server = await fake();
    const faulty = await proxy(server, [{ status: 503 }, { status: 503 }, { status: 502 }, 'pass']);
    const policy = await open([faulty.url], { retries: 2 });
    const err = await rejection(policy.sample(request));
    assert.match(err.message, /^openai:http:\/\/127\.0\.0\.1:\d+\/v1: POST \/completions failed after 3 attempts; last: POST \/completions: HTTP 502: injected 502$/);
    await policy.close();
  });

  test('a 400 is not retried', async () => {
    const server = await fake();
    const faulty = await proxy(server, [{ status: 400, body: '{"error":{"message":"max_tokens is too large"}}' }]);
    const policy = await open([faulty.url]);
    const err = await rejection(policy.sample(request));
    assert.match(err.message, /HTTP 400: max_tokens is too large$/);
    assert.equal(faulty.log.length, 1);
    await policy.close();
  });
});

describe('load', () => {
  test('no more requests are in flight than the concurrency limit', async () => {
    const server = await fake({ delayMs: 30 });
    const policy = await open([server.url], { concurrency: 3 });
    const result = await policy.sample({ ...request, prompts: Array.from({ length: 12 }, (_, i) => `Step ${i}:`) });
    assert.equal(result.length, 12);
    assert.equal(server.stats.maxInFlight, 3);
    await policy.close();
  });

  test('requests alternate between two servers, and move to the live one when the other dies', async () => {
    const a = await fake();
    const b = await fake();
    const policy = await open([a.url, b.url], { concurrency: 1 });
    await policy.sample({ ...request, prompts: ['1', '2', '3', '4', '5', '6'] });
    assert.equal(a.stats.completions, 3);
    assert.equal(b.stats.completions, 3);
    await b.close();
    const result = await policy.sample({ ...request, prompts: ['1', '2', '3', '4'] });
    assert.equal(result.length, 4);
    assert.equal(a.stats.completions, 7);
    await a.close();
    const err = await rejection(policy.sample(request));
    assert.match(err.message, /^connection refused: is a server running at http:\/\/127\.0\.0\.1:\d+\/v1( or http:\/\/127\.0\.0\.1:\d+\/v1)?\? \(6 attempts\)$/);
    await policy.close();
  });

  test('a server down at start is passed over with a warning', async () => {
    const live = await fake();
    const warnings: string[] = [];
    const port = await closedPort();
    const policy = await open([`http://127.0.0.1:${port}/v1`, live.url], { onWarning: (m) => warnings.push(m) });
    await policy.sample({ ...request, prompts: ['a', 'b'] });
    assert.equal(live.stats.completions, 2);
    assert.deepEqual(warnings, [`connection refused: is a server running at http://127.0.0.1:${port}/v1? (using the other servers)`]);
    await policy.close();
  });
});

describe('errors', () => {
  test('a refused connection asks whether a server runs at the URL, at once, with the default retry settings', async () => {
    const port = await closedPort();
    const started = Date.now();
    const err = await rejection(openPolicy(`openai:http://127.0.0.1:${port}/v1`, { env: {} }));
    assert.equal(err.message, `connection refused: is a server running at http://127.0.0.1:${port}/v1?`);
    assert.ok(Date.now() - started < 1000, `failed after ${Date.now() - started} ms`);
  });

  test('a wrong model name lists the served models; several models need a choice', async () => {
    const server = await fake({ models: ['llama-8b', 'qwen-7b'] });
    const wrong = await rejection(openPolicy(`openai:${server.url}?model=nope`, { env: {} }));
    assert.equal(wrong.message, `openai:${server.url}: model "nope" is not served; available: llama-8b, qwen-7b`);
    const unnamed = await rejection(openPolicy(`openai:${server.url}`, { env: {} }));
    assert.match(unnamed.message, /several models \(llama-8b, qwen-7b\); choose one with \?model=NAME$/);
    const policy = await openPolicy(`openai:${server.url}?model=qwen-7b`, { env: {} });
    await policy.sample(request);
    assert.equal(server.stats.bodies[0].model, 'qwen-7b');
    await policy.close();
  });

  test('a malformed response names the missing field', async () => {
    const server = await fake({
      corrupt: (response) => {
        delete (response.choices as { logprobs: Record<string, unknown> }[])[1].logprobs.token_logprobs;
      },
    });
    const policy = await open([server.url]);
    const err = await rejection(policy.sample(request));
    assert.equal(err.message, `openai:${server.url}: malformed response from POST /completions: choices[1].logprobs.token_logprobs: missing`);
    await policy.close();
  });

  test('bad sample requests are refused before any traffic', async () => {
    const server = await fake();
    const policy = await open([server.url]);
    assert.equal((await rejection(policy.sample({ ...request, n: 0 }))).message, 'sample: n: expected an integer >= 1, got 0');
    assert.match((await rejection(policy.sample({ ...request, topP: 1.5 }))).message, /^sample: topP: /);
    assert.match((await rejection(policy.sample({ ...request, prompts: [[1, -2]] }))).message, /^sample: prompts\[0\]: /);
    assert.equal(server.stats.completions, 0);
    await policy.close();
  });

  test('close() ends a hanging request and refuses later calls', async () => {
    const server = await fake();
    const faulty = await proxy(server, ['hang']);
    const policy = await open([faulty.url], { timeoutMs: 60_000 });
    const pending = policy.sample(request);
    await new Promise((resolve) => setTimeout(resolve, 50));
    await policy.close();
    assert.match((await rejection(pending)).message, /policy closed$/);
    assert.match((await rejection(policy.sample(request))).message, /policy closed$/);
  });
});

describe('API key', () => {
  const key = 'sk-test-4f9a8b7c6d5e';

  test('is sent as a Bearer token from the named environment variable', async () => {
    const server = await fake({ apiKey: key });
    const policy = await openPolicy(`openai:${server.url}?keyEnv=MY_SERVER_KEY`, { env: { MY_SERVER_KEY: key } });
    await policy.sample(request);
    assert.ok(server.stats.authorizations.every((a) => a === `Bearer ${key}`));
    assert.ok(!inspect(policy, { depth: 10, showHidden: true }).includes(key));
    assert.ok(!JSON.stringify(policy).includes(key));
    await policy.close();
  });

  test('never appears in error messages, even when the server repeats it', async () => {
    const wrongKey = 'sk-wrong-0123456789';
    const server = await fake({ apiKey: key, echoKeyInErrors: true });
    const denied = await rejection(openOpenAiPolicy({ urls: [server.url], env: { OPENAI_API_KEY: wrongKey } }));
    assert.match(denied.message, /HTTP 401 \(check \$OPENAI_API_KEY\): Incorrect API key provided: Bearer \*\*\*$/);

    const leaky = await proxy(await fake(), [{ status: 500, body: `{"error":{"message":"upstream saw ${wrongKey}"}}` }, 'drop', 'hang']);
    const policy = await open([leaky.url], { env: { OPENAI_API_KEY: wrongKey }, retries: 2, timeoutMs: 200 });
    const messages = [await rejection(policy.sample(request))].map((e) => `${e.message} ${String(e.cause ?? '')} ${e.stack}`);
    const port = await closedPort();
    const unreachable = await rejection(openOpenAiPolicy({ urls: [`http://127.0.0.1:${port}/v1`], env: { OPENAI_API_KEY: wrongKey } }));
    messages.push(`${unreachable.message} ${unreachable.stack}`);
    for (const message of messages) assert.ok(!message.includes(wrongKey), message);
    assert.match(messages[0], /failed after 3 attempts; last: POST \/completions timed out after 200 ms/);
    await policy.close();
  });
});

describe('tokens, offsets and scores', () => {
  test('score gives the reference log-prob of each continuation token, aligned to its offset', async () => {
    const server = await fake();
    const model = server.model;
    const policy = await open([server.url]);
    const prompt = 'Step 1: the';
    const continuation = ' café\n the end';
    const [scored] = await policy.score({ items: [{ prompt, continuation }] });
    const promptIds = [BOS, ...model.tokenize(prompt)];
    const continuationIds = model.tokenize(continuation);
    const all = [...promptIds, ...continuationIds];
    const reference = continuationIds.map((id, k) => model.logprobs(all[promptIds.length + k - 1])[id]);
    assert.deepEqual(scored.tokens, continuationIds.map((id) => model.tokenString(id)));
    assert.deepEqual(scored.logprobs, reference);
    // ' ' 'c' 'a' 'f' two pieces of 'é' '\n' ' the' ' ' 'e' 'n' 'd'
    assert.deepEqual(scored.tokens, [' ', 'c', 'a', 'f', '\uFFFD', '\uFFFD', '\n', ' the', ' ', 'e', 'n', 'd']);
    assert.deepEqual(scored.offsets, [0, 1, 2, 3, 4, 4, 5, 6, 10, 11, 12, 13]);
    assert.equal(scored.exactBoundary, true);
    await policy.close();
  });

  test('scoring ids, and ids after a text prompt, matches the reference; max_tokens 0 and no usage work too', async () => {
    for (const [scoreMaxTokens, omitUsage] of [[1, false], [0, false], [1, true]] as const) {
      const server = await fake({ omitUsage });
      const model = server.model;
      const policy = await open([server.url], { tokenIds: true, scoreMaxTokens });
      const prompt = 'Question: 12?\n';
      const promptIds = [BOS, ...model.tokenize(prompt)];
      const continuationIds = model.tokenize('Step 1: café');
      const all = [...promptIds, ...continuationIds];
      const reference = continuationIds.map((id, k) => model.logprobs(all[promptIds.length + k - 1])[id]);
      const [fromIds, fromText] = await policy.score({
        items: [
          { prompt: promptIds, continuation: continuationIds },
          { prompt, continuation: continuationIds },
        ],
      });
      for (const scored of [fromIds, fromText]) {
        assert.deepEqual(scored.tokens, continuationIds);
        assert.deepEqual(scored.logprobs, reference, `scoreMaxTokens ${scoreMaxTokens}, omitUsage ${omitUsage}`);
      }
      await policy.close();
    }
  });

  test('a token merged across the prompt boundary is reported', async () => {
    const server = await fake();
    const policy = await open([server.url]);
    const [scored] = await policy.score({ items: [{ prompt: 'Step 1:\n', continuation: '\nok' }] });
    assert.equal(scored.exactBoundary, false);
    assert.deepEqual(scored.tokens, ['\n\n', 'o', 'k']);
    await policy.close();
  });

  test('sampled offsets locate every token, with vLLM and legacy OpenAI text_offset alike', async () => {
    for (const offsetStyle of ['vllm', 'openai'] as const) {
      const server = await fake({ offsetStyle });
      const policy = await open([server.url]);
      const result = await policy.sample({ prompts: ['Step 1:', 'café'], n: 8, temperature: 1.5, maxTokens: 40, seed: 9 });
      for (const c of result.flat()) assertOffsetsConsistent(c);
      await policy.close();
    }
  });

  test('token ids come back as numbers; equal prompts in one batch get different samples', async () => {
    const server = await fake();
    const policy = await open([server.url], { tokenIds: true });
    const [a, b] = await policy.sample({ ...request, prompts: ['Step 1:', 'Step 1:'], maxTokens: 16 });
    assert.ok(a[0].tokens.every((t) => typeof t === 'number'));
    assert.equal(server.model.decode(a[0].tokens as number[]).startsWith(a[0].text), true);
    assert.notDeepEqual(a.map((c) => c.text), b.map((c) => c.text));
    await policy.close();
  });
});
