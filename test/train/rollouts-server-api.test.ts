import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ServerApi, ServerFailure } from '../../src/train/rollouts/server-api.js';
import { PrlError } from '../../src/util/errors.js';

/** An SGLang-like fake: no vLLM routes, SGLang's load route, completions failing once with 503. */
async function fakeSglang(): Promise<{ url: string; seen: Array<{ path: string; auth?: string; body: Record<string, unknown> }>; close(): Promise<void> }> {
  const seen: Array<{ path: string; auth?: string; body: Record<string, unknown> }> = [];
  let completions = 0;
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let text = '';
    req.on('data', (d: Buffer) => (text += d.toString()));
    req.on('end', () => {
      const body = text === '' ? {} : (JSON.parse(text) as Record<string, unknown>);
      seen.push({ path: req.url ?? '', auth: req.headers.authorization, body });
      const send = (status: number, json: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(json));
      if (req.url === '/load_lora_adapter') {
        if (body.lora_name === 'run-v1') return send(400, { message: 'The LoRA adapter run-v1 is already loaded.' });
        if (body.lora_name === 'big') return send(400, { message: 'LoRA rank 64 exceeds max_lora_rank 16' });
        return send(200, { success: true });
      }
      if (req.url === '/v1/completions') {
        if (completions++ === 0) return send(503, { error: { message: 'busy' } });
        return send(200, { choices: [1, 0].map((index) => ({ index, text: '', logprobs: { tokens: ['token_id:5', `token_id:${index === 0 ? 2 : 6}`, 'token_id:7'], token_logprobs: [-1, -2, null], text_offset: [0, 0, 0] } })) });
      }
      return send(404, { detail: 'Not Found' });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

test('ServerApi against an SGLang-like server: detected by its routes, "already loaded" is success, other 4xx pass the message, 5xx retryable, choices cut after the first stop id', async () => {
  const fake = await fakeSglang();
  try {
    const api = new ServerApi(fake.url, 'sk-secret', 5000);
    assert.equal(await api.detectKind(), 'sglang');
    await api.loadAdapter('sglang', 'run-v1', '/sync/run-v1');
    await api.loadAdapter('sglang', 'run-v2', '/sync/run-v2');
    await assert.rejects(api.loadAdapter('sglang', 'big', '/sync/big'), (err: Error) => err instanceof PrlError && /max_lora_rank 16/.test(err.message));
    await assert.rejects(api.loadAdapter('vllm', 'run-v2', '/sync/run-v2'), /--enable-lora.*VLLM_ALLOW_RUNTIME_LORA_UPDATING=True/);
    const request = { model: 'run-v2', prompt: [1, 3], n: 2, maxTokens: 3, temperature: 1, topP: 1, stopIds: [2], seed: 9 };
    await assert.rejects(api.complete(request), (err: Error) => err instanceof ServerFailure && /503 busy/.test(err.message));
    const choices = await api.complete(request);
    // Choice 0 stops at id 2 (kept); choice 1 has no stop id; a null log-prob becomes NaN.
    assert.deepEqual(choices!.map((c) => c.tokens), [[5, 2], [5, 6, 7]]);
    assert.deepEqual(choices![0].logprobs, [-1, -2]);
    assert.ok(Number.isNaN(choices![1].logprobs[2]));
    const sent = fake.seen.find((s) => s.path === '/v1/completions')!;
    assert.deepEqual([sent.body.model, sent.body.prompt, sent.body.logprobs, sent.body.stop_token_ids, sent.body.return_tokens_as_token_ids], ['run-v2', [1, 3], 1, [2], true]);
    assert.ok(fake.seen.every((s) => s.auth === 'Bearer sk-secret'));
    const down = new ServerApi('http://127.0.0.1:9', undefined, 2000);
    await assert.rejects(down.models(), (err: Error) => err instanceof ServerFailure && err.message.includes('http://127.0.0.1:9'));
  } finally {
    await fake.close();
  }
});
