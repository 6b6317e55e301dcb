/**
 * `prl serve`'s server: the policy contract through the OpenAI client, seeded equality with the
 * engine backend, echo log-probs, batching across clients, and 4xx errors for malformed requests.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { openEnginePolicy, type EnginePolicy } from '../../src/policy/engine.js';
import { openOpenAiPolicy } from '../../src/policy/openai.js';
import { startCompletionServer, type CompletionServer } from '../../src/serve/server.js';
import { makeTinyModelFolder } from '../helpers/model-folder.js';
import { policyContract } from '../policy/contract.js';

const dir = makeTinyModelFolder(4, 'prl-serve-');
let engine: EnginePolicy;
let server: CompletionServer;
const requestLog: string[] = [];
before(async () => {
  engine = await openEnginePolicy(dir, { threads: 1 });
  server = await startCompletionServer(engine, { modelName: 'tiny', batchWindowMs: 20, log: (line) => requestLog.push(line) });
});
after(async () => {
  await server.close();
  await engine.close();
  rmSync(dirname(dir), { recursive: true, force: true });
});

policyContract('openai over prl serve (token strings)', async () => openOpenAiPolicy({ urls: [server.url], env: {}, retries: 0 }));
policyContract('openai over prl serve (token ids)', async () => openOpenAiPolicy({ urls: [server.url], env: {}, retries: 0, tokenIds: true }));

async function post(body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${server.url}/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

interface WireChoice {
  text: string;
  finish_reason: string;
  logprobs: { tokens: string[]; token_logprobs: Array<number | null>; text_offset: number[] } | null;
}

test('a seeded request through the server gives exactly what the engine backend gives', async () => {
  const client = await openOpenAiPolicy({ urls: [server.url], env: {}, retries: 0, tokenIds: true });
  try {
    const request = { prompts: ['Q: 2+2\nA:', 'Step 1'], n: 3, temperature: 0.9, topP: 0.95, topK: 20, maxTokens: 10, seed: 77, stop: ['\n'] };
    const viaServer = await client.sample(request);
    const direct = await engine.sample(request);
    assert.deepEqual(viaServer.map((cs) => cs.map((c) => [c.tokens, c.text, c.finishReason])), direct.map((cs) => cs.map((c) => [c.tokens, c.text, c.finishReason])));
    viaServer.flat().forEach((c, i) => c.logprobs.forEach((lp, t) => assert.ok(Math.abs(lp - direct.flat()[i].logprobs[t]) < 1e-9)));
  } finally {
    await client.close();
  }
});

test('n > 1 returns log-probs per choice; echo log-probs equal teacher-forced scoring of the same tokens', async () => {
  const { status, json } = await post({ model: 'tiny', prompt: 'Hello', n: 4, max_tokens: 6, logprobs: 1, echo: true, seed: 3, return_tokens_as_token_ids: true });
  assert.equal(status, 200);
  const choices = json.choices as WireChoice[];
  assert.equal(choices.length, 4);
  const usage = json.usage as { prompt_tokens: number; completion_tokens: number };
  assert.equal(usage.prompt_tokens, 6); // BOS + 5 characters
  let completionTokens = 0;
  for (const choice of choices) {
    const lp = choice.logprobs!;
    assert.ok(choice.text.startsWith('Hello'));
    assert.equal(lp.token_logprobs[0], null);
    const ids = lp.tokens.map((t) => Number(t.replace('token_id:', '')));
    completionTokens += ids.length - 6;
    const [scored] = await engine.score({ items: [{ prompt: ids.slice(0, 1), continuation: ids.slice(1) }] });
    lp.token_logprobs.slice(1).forEach((x, t) => assert.ok(Math.abs(x! - scored.logprobs[t]) < 1e-4, `token ${t + 1}: ${x} vs ${scored.logprobs[t]}`));
    assert.deepEqual(lp.text_offset.slice(0, 6), [0, 0, 1, 2, 3, 4]);
  }
  assert.equal(usage.completion_tokens, completionTokens);
  // Prompts as a list of texts and of id lists: n choices per prompt, in order.
  const many = await post({ prompt: [[0, 40, 41], 'ab'], n: 2, max_tokens: 3, seed: 1 });
  assert.equal(many.status, 200);
  assert.equal((many.json.choices as WireChoice[]).length, 4);
  assert.equal((many.json.choices as WireChoice[])[0].logprobs, null);
});

test('concurrent clients are batched into shared generate calls without changing seeded results', async () => {
  const bodies = Array.from({ length: 6 }, (_, i) => ({ prompt: `p${i}`, n: 2, max_tokens: 8, temperature: 1, seed: 100 + i, logprobs: 1 }));
  const alone = [];
  for (const body of bodies) alone.push((await post(body)).json.choices);
  const before = { ...server.stats };
  const together = await Promise.all(bodies.map((b) => post(b)));
  const batches = server.stats.batches - before.batches;
  assert.ok(batches < bodies.length, `${bodies.length} concurrent requests took ${batches} generate calls`);
  assert.deepEqual(together.map((r) => r.json.choices), alone);
});

test("malformed requests get a 4xx JSON error naming the field, in vLLM's error shape", async () => {
  const cases: Array<[unknown, number, RegExp, string | null]> = [
    ['{not json', 400, /not valid JSON/, null],
    [[1, 2], 400, /JSON object/, null],
    [{ prompt: 'a', model: 'other' }, 404, /^The model `other` does not exist\.$/, 'model'],
    [{ prompt: 'a', n: 0 }, 400, /^n: must be an integer/, 'n'],
    [{ prompt: 'a', temperature: -1 }, 400, /^temperature: /, 'temperature'],
    [{ prompt: 'a', top_p: 0 }, 400, /^top_p: /, 'top_p'],
    [{ prompt: 'a', max_tokens: 'x' }, 400, /^max_tokens: /, 'max_tokens'],
    [{ prompt: 'a', max_tokens: 1000 }, 400, /exceeds the model's 256 positions/, 'max_tokens'],
    [{ prompt: 'a', stop: 5 }, 400, /^stop: /, 'stop'],
    [{ prompt: 'a', echo: 'yes' }, 400, /^echo: /, 'echo'],
    [{ prompt: 'a', stream_options: { include_usage: true } }, 400, /can only be defined when `stream=True`/, 'stream_options'],
    [{}, 400, /^prompt: must be/, 'prompt'],
    [{ prompt: [0, 98] }, 400, /prompt\[1\]: token id 98 is outside the vocabulary/, 'prompt'],
    [{ prompt: ['ok', '\u00e9'] }, 400, /prompt\[1\]: .*not in the vocabulary/, 'prompt'],
  ];
  for (const [body, status, message, param] of cases) {
    const res = await post(body);
    assert.equal(res.status, status, JSON.stringify(body));
    const error = res.json.error as { message: string; type: string; param: string | null; code: number };
    assert.match(error.message, message);
    assert.equal(error.type, status === 404 ? 'NotFoundError' : 'BadRequestError');
    assert.equal(error.param, param);
    assert.equal(error.code, status);
  }
  const wrong = await fetch(`${server.url}/embeddings`, { method: 'POST', body: '{}' });
  assert.equal(wrong.status, 404);
  assert.equal(((await wrong.json()) as { error: { type: string } }).error.type, 'Not Found');
  assert.equal((await fetch(`${server.url}/completions`)).status, 405);
});

test('one log line per request: method, path, status, completion tokens, milliseconds; never a key', async () => {
  requestLog.length = 0;
  const res = await fetch(`${server.url}/completions`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer sk-secret-123' }, body: JSON.stringify({ model: 'tiny', prompt: 'ab', max_tokens: 3, seed: 1 }) });
  assert.equal(res.status, 200);
  await res.json();
  assert.equal((await post({ model: 'nope', prompt: 'a' })).status, 404);
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(requestLog.length, 2, requestLog.join('\n'));
  assert.match(requestLog[0], /^POST \/v1\/completions 200 [0-3] tokens \d+ ms$/);
  assert.match(requestLog[1], /^POST \/v1\/completions 404 \d+ ms$/);
  assert.ok(requestLog.every((l) => !l.includes('sk-secret')));
});
