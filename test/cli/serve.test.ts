import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { PRESETS } from '../../src/engine/config.js';
import { makeTinyModelFolder } from '../helpers/model-folder.js';
import { startPrlServe } from '../helpers/prl-serve.js';
import { writeAdapter } from '../serve/helpers.js';
import { runPrl } from './run-cli.js';

const model = makeTinyModelFolder(5, 'prl-serve-cli-');
after(() => rmSync(dirname(model), { recursive: true, force: true }));

test('prl serve: echo log-probs equal prl logprobs for the same tokens; SIGTERM stops it cleanly', async () => {
  const serve = await startPrlServe(model);
  let code: number | null;
  try {
    assert.match(serve.url, /^http:\/\/127\.0\.0\.1:\d+\/v1$/);
    const models = (await (await fetch(`${serve.url}/models`)).json()) as { data: Array<{ id: string }> };
    assert.deepEqual(models.data.map((m) => m.id), ['model']);
    const res = await fetch(`${serve.url}/completions`, {
      method: 'POST',
      body: JSON.stringify({ model: 'model', prompt: 'The sum is 42.\nDone', max_tokens: 5, n: 2, logprobs: 1, echo: true, seed: 9, return_tokens_as_token_ids: true }),
    });
    assert.equal(res.status, 200);
    const json = (await res.json()) as { choices: Array<{ logprobs: { tokens: string[]; token_logprobs: Array<number | null> } }> };
    const sequences = json.choices.map((c) => c.logprobs.tokens.map((t) => Number(t.slice('token_id:'.length))));
    const input = join(dirname(model), 'in.jsonl');
    const output = join(dirname(model), 'out.jsonl');
    writeFileSync(input, sequences.map((tokens) => JSON.stringify({ tokens })).join('\n'));
    const run = runPrl(['logprobs', '--model', model, '--input', input, '--output', output, '--threads', '1']);
    assert.equal(run.status, 0, run.stderr);
    const expected = readFileSync(output, 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { logprobs: number[] }).logprobs);
    json.choices.forEach((c, i) => {
      assert.equal(c.logprobs.token_logprobs[0], null);
      // Prompt tokens are teacher-forced in both; sampled tokens come from the KV-cache decode.
      c.logprobs.token_logprobs.slice(1).forEach((lp, t) => assert.ok(Math.abs(lp! - expected[i][t]) < 1e-4, `choice ${i} token ${t + 1}: ${lp} vs ${expected[i][t]}`));
    });
  } finally {
    code = await serve.stop('SIGTERM');
  }
  assert.equal(code, 0, serve.stderr());
  assert.match(serve.stderr(), /SIGTERM, finishing requests in flight[\s\S]*stopped after 1 requests/);
});

test('prl serve refuses a port in use with a clear error', async () => {
  const first = await startPrlServe(model);
  try {
    const port = new URL(first.url).port;
    await assert.rejects(startPrlServe(model, [], Number(port)), /exited with 1: prl: cannot listen on 127\.0\.0\.1:\d+ \(address already in use\)/);
  } finally {
    await first.stop();
  }
});

test('prl serve --enable-lora: load an adapter, use it by name; --max-lora-rank bounds it; bad flags are refused', async () => {
  const low = writeAdapter(join(dirname(model), 'r2'), PRESETS.tiny, { rank: 2, seed: 1 });
  const high = writeAdapter(join(dirname(model), 'r4'), PRESETS.tiny, { rank: 4, seed: 2 });
  const serve = await startPrlServe(model, ['--enable-lora', '--max-lora-rank', '2', '--max-loras', '1', '--quiet']);
  try {
    const load = (name: string, path: string) => fetch(`${serve.url}/load_lora_adapter`, { method: 'POST', body: JSON.stringify({ lora_name: name, lora_path: path }) });
    const ok = await load('v1', low);
    assert.equal(ok.status, 200);
    assert.equal(await ok.text(), "Success: LoRA adapter 'v1' added successfully.");
    const tooHigh = await load('v2', high);
    assert.equal(tooHigh.status, 400);
    assert.match(((await tooHigh.json()) as { error: { message: string } }).error.message, /LoRA rank 4 is greater than max_lora_rank 2/);
    const models = (await (await fetch(`${serve.url}/models`)).json()) as { data: Array<{ id: string; parent: string | null }> };
    assert.deepEqual(models.data.map((m) => [m.id, m.parent]), [['model', null], ['v1', 'model']]);
    const res = await fetch(`${serve.url}/chat/completions`, { method: 'POST', body: JSON.stringify({ model: 'v1', messages: [{ role: 'user', content: 'hi' }] }) });
    assert.equal(res.status, 400); // the init folder has no chat template: a 400 that says so, not a crash
    const completion = await fetch(`${serve.url}/completions`, { method: 'POST', body: JSON.stringify({ model: 'v1', prompt: 'hi', max_tokens: 3 }) });
    assert.equal(completion.status, 200);
    assert.equal(((await completion.json()) as { model: string }).model, 'v1');
  } finally {
    assert.equal(await serve.stop(), 0, serve.stderr());
  }
  const bad = runPrl(['serve', '--model', model, '--enable-lora', '--max-loras', '0']);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /--max-loras: must be an integer >= 1, got "0"/);
});
