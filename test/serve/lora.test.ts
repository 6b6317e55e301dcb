/**
 * `prl serve --enable-lora`: vLLM's runtime LoRA API with vLLM's answers, adapters chosen per request
 * by `"model"` (equal to the `engine:DIR?adapter=` policy), and flat engine memory over many
 * load/unload cycles.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { openEnginePolicy, type EnginePolicy } from '../../src/policy/engine.js';
import { startCompletionServer, type CompletionServer } from '../../src/serve/server.js';
import { errorOf, makeChatModelFolder, post, writeAdapter } from './helpers.js';

const { dir, config } = makeChatModelFolder(7, 'prl-serve-lora-');
const work = dirname(dir);
const adapterA = writeAdapter(join(work, 'a'), config, { rank: 4, seed: 1 });
const adapterB = writeAdapter(join(work, 'b'), config, { rank: 4, seed: 2 });
const adapterWide = writeAdapter(join(work, 'wide'), config, { rank: 8, seed: 3 });
let engine: EnginePolicy;
let server: CompletionServer;
before(async () => {
  engine = await openEnginePolicy(dir, { threads: 1 });
  server = await startCompletionServer(engine, { modelName: 'base', lora: { maxLoras: 3, maxLoraRank: 4 }, batchWindowMs: 10 });
});
after(async () => {
  await server.close();
  await engine.close();
  rmSync(work, { recursive: true, force: true });
});

interface Choice {
  text: string;
  logprobs: { tokens: string[]; token_logprobs: number[] };
}

const ids = (c: Choice): number[] => c.logprobs.tokens.map((t) => Number(t.slice('token_id:'.length)));

test('load, list, duplicate, in-place reload, unload and unknown names answer as vLLM does', async () => {
  const load = await post(server.url, '/load_lora_adapter', { lora_name: 'a', lora_path: adapterA });
  assert.equal(load.status, 200);
  assert.equal(load.text, "Success: LoRA adapter 'a' added successfully.");

  const models = (await (await fetch(`${server.url}/models`)).json()) as { data: Array<{ id: string; parent: string | null; root: string }> };
  assert.deepEqual(models.data.map((m) => [m.id, m.parent]), [['base', null], ['a', 'base']]);
  assert.equal(models.data[1].root, adapterA);

  const duplicate = await post(server.url, '/load_lora_adapter', { lora_name: 'a', lora_path: adapterB });
  assert.equal(duplicate.status, 400);
  assert.deepEqual(errorOf(duplicate), {
    message: "The lora adapter 'a' has already been loaded. If you want to load the adapter in place, set 'load_inplace' to True.",
    type: 'InvalidUserInput',
    param: null,
    code: 400,
  });
  const inplace = await post(server.url, '/load_lora_adapter', { lora_name: 'a', lora_path: adapterB, load_inplace: true });
  assert.equal(inplace.status, 200);

  const missing = await post(server.url, '/load_lora_adapter', { lora_name: 'gone', lora_path: join(work, 'no-such-adapter') });
  assert.equal(missing.status, 404);
  assert.deepEqual(errorOf(missing), { message: `Loading lora gone failed: No adapter found for ${join(work, 'no-such-adapter')}`, type: 'NotFoundError', param: null, code: 404 });

  const tooWide = await post(server.url, '/load_lora_adapter', { lora_name: 'wide', lora_path: adapterWide });
  assert.equal(tooWide.status, 400);
  assert.match(errorOf(tooWide).message, /^LoRA rank 8 is greater than max_lora_rank 4\./);
  assert.match(errorOf(tooWide).message, /--max-lora-rank/);

  const noPath = await post(server.url, '/load_lora_adapter', { lora_name: 'x' });
  assert.equal(noPath.status, 400);
  assert.equal(errorOf(noPath).message, "Both 'lora_name' and 'lora_path' must be provided.");

  const unknown = await post(server.url, '/unload_lora_adapter', { lora_name: 'zz' });
  assert.equal(unknown.status, 404);
  assert.deepEqual(errorOf(unknown), { message: "The lora adapter 'zz' cannot be found.", type: 'NotFoundError', param: null, code: 404 });
  const unload = await post(server.url, '/unload_lora_adapter', { lora_name: 'a' });
  assert.equal(unload.status, 200);
  assert.equal(unload.text, "Success: LoRA adapter 'a' removed successfully.");

  const gone = await post(server.url, '/completions', { model: 'a', prompt: 'hi', max_tokens: 2 });
  assert.equal(gone.status, 404);
  assert.deepEqual(errorOf(gone), { message: 'The model `a` does not exist.', type: 'NotFoundError', param: 'model', code: 404 });
});

test('a request naming an adapter uses it: its log-probs are the engine:DIR?adapter= policy\'s, not the base\'s', async () => {
  assert.equal((await post(server.url, '/load_lora_adapter', { lora_name: 'b', lora_path: adapterB })).status, 200);
  const withAdapter = await openEnginePolicy(dir, { threads: 1, adapter: adapterB });
  try {
    const body = { prompt: 'Q: 3+4\nA:', n: 2, max_tokens: 8, temperature: 1, seed: 5, logprobs: 0, return_tokens_as_token_ids: true };
    const [viaAdapter, viaBase] = await Promise.all([post(server.url, '/completions', { ...body, model: 'b' }), post(server.url, '/completions', { ...body, model: 'base' })]);
    assert.equal(viaAdapter.status, 200);
    assert.equal(viaAdapter.json.model, 'b');
    let largest = 0;
    for (const choice of viaAdapter.json.choices as Choice[]) {
      const tokens = ids(choice);
      const [reference] = await withAdapter.score({ items: [{ prompt: 'Q: 3+4\nA:', continuation: tokens }] });
      const [base] = await engine.score({ items: [{ prompt: 'Q: 3+4\nA:', continuation: tokens }] });
      choice.logprobs.token_logprobs.forEach((lp, t) => {
        assert.ok(Math.abs(lp - reference.logprobs[t]) < 1e-4, `token ${t}: served ${lp} vs engine:?adapter= ${reference.logprobs[t]}`);
        largest = Math.max(largest, Math.abs(lp - base.logprobs[t]));
      });
    }
    assert.ok(largest > 0.05, `the adapter changed no log-prob by more than ${largest}`);
    // The base request, batched beside the adapter's, saw no adapter.
    for (const choice of viaBase.json.choices as Choice[]) {
      const [base] = await engine.score({ items: [{ prompt: 'Q: 3+4\nA:', continuation: ids(choice) }] });
      choice.logprobs.token_logprobs.forEach((lp, t) => assert.ok(Math.abs(lp - base.logprobs[t]) < 1e-4, `base token ${t}: ${lp} vs ${base.logprobs[t]}`));
    }
    // Greedy decoding through the server and through the adapter policy gives the same tokens.
    const greedy = await post(server.url, '/completions', { model: 'b', prompt: 'Step 1', max_tokens: 12, temperature: 0, return_tokens_as_token_ids: true, logprobs: 0 });
    const [[direct]] = await withAdapter.sample({ prompts: ['Step 1'], n: 1, temperature: 0, maxTokens: 12 });
    assert.deepEqual(ids((greedy.json.choices as Choice[])[0]), (direct as { tokens: number[] }).tokens);
    // And after the adapter's requests, the base is still the base.
    const [[plain]] = await engine.sample({ prompts: ['Step 1'], n: 1, temperature: 0, maxTokens: 12 });
    const baseGreedy = await post(server.url, '/completions', { prompt: 'Step 1', max_tokens: 12, temperature: 0, return_tokens_as_token_ids: true, logprobs: 0 });
    assert.deepEqual(ids((baseGreedy.json.choices as Choice[])[0]), (plain as { tokens: number[] }).tokens);
  } finally {
    await withAdapter.close();
    await post(server.url, '/unload_lora_adapter', { lora_name: 'b' });
  }
});

test('50 load/unload cycles (a new version each step, as RL does) leave the engine memory flat', async () => {
  const used: number[] = [];
  for (let step = 0; step < 50; step++) {
    const name = `run-v${step}`;
    const load = await post(server.url, '/load_lora_adapter', { lora_name: name, lora_path: step % 2 === 0 ? adapterA : adapterB });
    assert.equal(load.status, 200, load.text);
    if (step > 0) assert.equal((await post(server.url, '/unload_lora_adapter', { lora_name: `run-v${step - 1}` })).status, 200);
    const sample = await post(server.url, '/completions', { model: name, prompt: 'Q: 1+1\nA:', max_tokens: 4, n: 2, seed: step, logprobs: 1, echo: true });
    assert.equal(sample.status, 200, sample.text);
    used.push(engine.model.arena.usedBytes);
  }
  await post(server.url, '/unload_lora_adapter', { lora_name: 'run-v49' });
  // The second cycle takes the second slot (v1 loads before v0 unloads); from then on nothing grows.
  assert.ok(used.slice(1).every((u) => u === used[1]), `arena bytes after each cycle: ${used.join(', ')}`);
  assert.ok(server.adapters!.slots <= 2, `${server.adapters!.slots} slots for one live adapter at a time`);
});

test('more than --max-loras adapters at once is refused with the flag named; runtime LoRA off names --enable-lora', async () => {
  for (const name of ['x1', 'x2', 'x3']) assert.equal((await post(server.url, '/load_lora_adapter', { lora_name: name, lora_path: adapterA })).status, 200);
  const fourth = await post(server.url, '/load_lora_adapter', { lora_name: 'x4', lora_path: adapterA });
  assert.equal(fourth.status, 400);
  assert.match(errorOf(fourth).message, /at most --max-loras 3 adapters at once; loaded: 'x1', 'x2', 'x3'/);
  for (const name of ['x1', 'x2', 'x3']) assert.equal((await post(server.url, '/unload_lora_adapter', { lora_name: name })).status, 200);

  const plain = await startCompletionServer(engine, { modelName: 'base' });
  try {
    for (const path of ['/load_lora_adapter', '/unload_lora_adapter']) {
      const off = await post(plain.url, path, { lora_name: 'a', lora_path: adapterA });
      assert.equal(off.status, 404);
      assert.equal(errorOf(off).type, 'Not Found');
      assert.match(errorOf(off).message, /--enable-lora/);
    }
  } finally {
    await plain.close();
  }
});
