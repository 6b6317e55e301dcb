/**
 * `prl serve` request bodies under mutation: a completion (200) or a 4xx whose message names the
 * field (or the body), never a 500 and never a hang.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { openEnginePolicy, type EnginePolicy } from '../../src/policy/engine.js';
import { startCompletionServer, type CompletionServer } from '../../src/serve/server.js';
import { makeTinyModelFolder } from '../helpers/model-folder.js';
import { PER_INPUT_MS, deepArray, fuzzRuns, jsonText, toJsonText } from './harness.js';

const dir = makeTinyModelFolder(5, 'prl-fuzz-serve-');
let engine: EnginePolicy;
let server: CompletionServer;
before(async () => {
  engine = await openEnginePolicy(dir, { threads: 1 });
  server = await startCompletionServer(engine, { modelName: 'tiny', batchWindowMs: 1 });
});
after(async () => {
  await server.close();
  await engine.close();
  rmSync(dirname(dir), { recursive: true, force: true });
});

const valid = { model: 'tiny', prompt: ['Q: 1+1', [3, 4, 5]], max_tokens: 2, temperature: 0.5, top_p: 0.9, top_k: 5, n: 2, seed: 3, logprobs: 1, echo: true, stop: ['\n'] };

/** Posts `body` and checks the answer: 200, or a 4xx naming its param (or the body), in bounded time. */
async function expectCompletionOrNamedError(body: string | Uint8Array): Promise<void> {
  const started = performance.now();
  const res = await fetch(`${server.url}/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  const json = (await res.json()) as { error?: { message: string; param: string | null } };
  const ms = performance.now() - started;
  assert.ok(ms < PER_INPUT_MS, `took ${ms.toFixed(0)} ms`);
  if (res.status === 200) return;
  assert.ok(res.status >= 400 && res.status < 500, `status ${res.status}: ${json.error?.message}`);
  const { message, param } = json.error!;
  assert.ok(param === null ? /body/.test(message) : message.includes(param), `${res.status} does not name the place: ${JSON.stringify(json.error)}`);
}

test('completions: mutated request bodies', async () => {
  await fc.assert(fc.asyncProperty(jsonText(valid), expectCompletionOrNamedError), fuzzRuns(150));
});

test('completions: arbitrary bytes as the body', async () => {
  await fc.assert(fc.asyncProperty(fc.uint8Array({ maxLength: 256 }), expectCompletionOrNamedError), fuzzRuns(50));
});

test('completions: a field nested 50000 deep is a 400 naming the field, not a 500', async () => {
  for (const field of ['model', 'n', 'temperature', 'echo', 'seed']) await expectCompletionOrNamedError(toJsonText({ ...valid, [field]: deepArray(50_000) }));
});
