/**
 * `prl serve`'s chat completions (the folder's chat template), streaming (server-sent events parsed back
 * equal to the whole answer) and top log-probs (checked against teacher-forced scoring of each candidate).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { openEnginePolicy, type EnginePolicy } from '../../src/policy/engine.js';
import { startCompletionServer, type CompletionServer } from '../../src/serve/server.js';
import { makeTinyModelFolder } from '../helpers/model-folder.js';
import { errorOf, makeChatModelFolder, parseEvents, post } from './helpers.js';

const { dir } = makeChatModelFolder(11, 'prl-serve-chat-');
let engine: EnginePolicy;
let server: CompletionServer;
before(async () => {
  engine = await openEnginePolicy(dir, { threads: 1 });
  server = await startCompletionServer(engine, { modelName: 'tiny' });
});
after(async () => {
  await server.close();
  await engine.close();
  rmSync(dirname(dir), { recursive: true, force: true });
});

const messages = [
  { role: 'system', content: 'Be brief.' },
  { role: 'user', content: [{ type: 'text', text: '2+2?' }] },
];
/** CHAT_TEMPLATE rendered by hand for `messages`. */
const rendered = '<system>Be brief.\n<user>2+2?\n<assistant>';

interface TopEntry {
  token: string;
  logprob: number;
  bytes: number[];
}
interface ChatChoice {
  index: number;
  message: { role: string; content: string };
  logprobs: { content: Array<TopEntry & { top_logprobs: TopEntry[] }> } | null;
  finish_reason: string;
}
interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

test('chat completions render the chat template and answer in OpenAI\'s shape; the same as /v1/completions on the rendered ids', async () => {
  const chat = await post(server.url, '/chat/completions', { model: 'tiny', messages, max_tokens: 10, temperature: 0.8, seed: 4, n: 2 });
  assert.equal(chat.status, 200, chat.text);
  assert.equal(chat.json.object, 'chat.completion');
  assert.match(chat.json.id as string, /^chatcmpl-/);
  const usage = chat.json.usage as Usage;
  assert.equal(usage.prompt_tokens, rendered.length); // one token per character, no BOS: the template owns specials
  const choices = chat.json.choices as ChatChoice[];
  assert.deepEqual(choices.map((c) => [c.index, c.message.role, c.logprobs]), [[0, 'assistant', null], [1, 'assistant', null]]);
  assert.equal(usage.completion_tokens + usage.prompt_tokens, usage.total_tokens);

  const ids = engine.tokenizer.encode(rendered).ids;
  const plain = await post(server.url, '/completions', { prompt: ids, max_tokens: 10, temperature: 0.8, seed: 4, n: 2 });
  assert.deepEqual(choices.map((c) => [c.message.content, c.finish_reason]), (plain.json.choices as Array<{ text: string; finish_reason: string }>).map((c) => [c.text, c.finish_reason]));
});

test('chat logprobs with top_logprobs: each alternative\'s log-prob equals teacher-forced scoring; greedy picks the top one', async () => {
  const k = 3;
  const chat = await post(server.url, '/chat/completions', { messages, max_tokens: 6, temperature: 0, logprobs: true, top_logprobs: k, return_tokens_as_token_ids: true });
  assert.equal(chat.status, 200, chat.text);
  const [choice] = chat.json.choices as ChatChoice[];
  const content = choice.logprobs!.content;
  assert.equal(content.length, (chat.json.usage as Usage).completion_tokens);
  const prompt = engine.tokenizer.encode(rendered).ids;
  const sampled = content.map((e) => Number(e.token.slice('token_id:'.length)));
  for (let t = 0; t < content.length; t++) {
    const entry = content[t];
    assert.equal(entry.top_logprobs.length, k);
    // Greedy: the sampled token is the most likely one, with the same log-prob.
    assert.equal(entry.top_logprobs[0].token, entry.token);
    assert.ok(Math.abs(entry.top_logprobs[0].logprob - entry.logprob) < 1e-6);
    for (let j = 1; j < k; j++) assert.ok(entry.top_logprobs[j].logprob <= entry.top_logprobs[j - 1].logprob);
    assert.ok(entry.top_logprobs.reduce((s, e) => s + Math.exp(e.logprob), 0) <= 1 + 1e-6);
    const candidates = entry.top_logprobs.map((e) => Number(e.token.slice('token_id:'.length)));
    const scored = await engine.score({ items: candidates.map((c) => ({ prompt: [...prompt, ...sampled.slice(0, t)], continuation: [c] })) });
    entry.top_logprobs.forEach((e, j) => assert.ok(Math.abs(e.logprob - scored[j].logprobs[0]) < 1e-4, `position ${t} candidate ${j}: ${e.logprob} vs scored ${scored[j].logprobs[0]}`));
    assert.deepEqual(entry.bytes, [...Buffer.from(entry.token)]);
  }
});

test('streamed chat at temperature 0, parsed back, equals the whole answer; include_usage adds a usage chunk', async () => {
  const body = { messages, max_tokens: 12, temperature: 0, logprobs: true, top_logprobs: 2 };
  const whole = await post(server.url, '/chat/completions', body);
  const res = await fetch(`${server.url}/chat/completions`, { method: 'POST', body: JSON.stringify({ ...body, stream: true, stream_options: { include_usage: true } }) });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'text/event-stream');
  const events = parseEvents(await res.text());
  assert.equal(events.at(-1), '[DONE]');
  const chunks = events.slice(0, -1) as Array<{ object: string; id: string; choices: Array<{ delta: { role?: string; content?: string }; logprobs: { content: unknown[] } | null; finish_reason: string | null }>; usage: Usage | null }>;
  assert.ok(chunks.every((c) => c.object === 'chat.completion.chunk' && c.id === chunks[0].id));
  const usageChunk = chunks.at(-1)!;
  assert.deepEqual(usageChunk.choices, []);
  assert.deepEqual(usageChunk.usage, whole.json.usage);
  const tokenChunks = chunks.slice(0, -1);
  assert.ok(tokenChunks.every((c) => c.usage === null));
  assert.equal(tokenChunks[0].choices[0].delta.role, 'assistant');
  const [wholeChoice] = whole.json.choices as ChatChoice[];
  assert.equal(tokenChunks.map((c) => c.choices[0].delta.content ?? '').join(''), wholeChoice.message.content);
  assert.deepEqual(tokenChunks.flatMap((c) => c.choices[0].logprobs?.content ?? []), wholeChoice.logprobs!.content);
  assert.deepEqual(tokenChunks.map((c) => c.choices[0].finish_reason).filter((f) => f !== null), [wholeChoice.finish_reason]);
});

test('streamed completions (n = 2, seeded, log-probs 2) equal the whole answer per choice', async () => {
  const body = { prompt: 'Q: 9+1\nA:', n: 2, max_tokens: 8, temperature: 1, seed: 21, logprobs: 2, stop: ['\n'] };
  const whole = await post(server.url, '/completions', body);
  const streamed = await post(server.url, '/completions', { ...body, stream: true });
  const events = parseEvents(streamed.text);
  assert.equal(events.at(-1), '[DONE]');
  type Piece = { index: number; text: string; logprobs: { tokens: string[]; token_logprobs: number[]; top_logprobs: object[]; text_offset: number[] } | null; finish_reason: string | null };
  const pieces = (events.slice(0, -1) as Array<{ object: string; choices: Piece[] }>).map((c) => {
    assert.equal(c.object, 'text_completion');
    assert.equal(c.choices.length, 1);
    return c.choices[0];
  });
  const wholeChoices = whole.json.choices as Piece[];
  wholeChoices.forEach((w, index) => {
    const mine = pieces.filter((p) => p.index === index);
    assert.equal(mine.map((p) => p.text).join(''), w.text);
    assert.deepEqual(mine.filter((p) => p.finish_reason !== null).map((p) => p.finish_reason), [w.finish_reason]);
    assert.deepEqual(mine.flatMap((p) => p.logprobs?.tokens ?? []), w.logprobs!.tokens);
    assert.deepEqual(mine.flatMap((p) => p.logprobs?.top_logprobs ?? []), w.logprobs!.top_logprobs);
    assert.deepEqual(mine.flatMap((p) => p.logprobs?.text_offset ?? []), w.logprobs!.text_offset);
  });
});

test('completions logprobs k: top_logprobs is a dict per token with the top k and the sampled token; echo covers the prompt', async () => {
  const k = 2;
  const res = await post(server.url, '/completions', { prompt: 'abc', max_tokens: 5, temperature: 1, seed: 8, logprobs: k, echo: true, return_tokens_as_token_ids: true });
  assert.equal(res.status, 200, res.text);
  const [choice] = res.json.choices as Array<{ logprobs: { tokens: string[]; token_logprobs: Array<number | null>; top_logprobs: Array<Record<string, number> | null> } }>;
  const lp = choice.logprobs;
  assert.equal(lp.top_logprobs.length, lp.tokens.length);
  assert.equal(lp.top_logprobs[0], null); // the first prompt token has no context
  const sequence = lp.tokens.map((t) => Number(t.slice('token_id:'.length)));
  for (let t = 1; t < sequence.length; t++) {
    const dict = lp.top_logprobs[t]!;
    const keys = Object.keys(dict);
    assert.ok(keys.length === k || keys.length === k + 1, `position ${t}: ${keys.length} entries`);
    assert.ok(Math.abs(dict[lp.tokens[t]] - lp.token_logprobs[t]!) < 1e-4, `position ${t}: the sampled token's entry is its log-prob`);
    const scored = await engine.score({ items: keys.map((key) => ({ prompt: sequence.slice(0, t), continuation: [Number(key.slice('token_id:'.length))] })) });
    keys.forEach((key, j) => assert.ok(Math.abs(dict[key] - scored[j].logprobs[0]) < 1e-4, `position ${t} ${key}: ${dict[key]} vs ${scored[j].logprobs[0]}`));
  }
});

test('chat errors: bad messages and top_logprobs without logprobs name the field; a folder without a chat template is a 400', async () => {
  const cases: Array<[unknown, RegExp, string]> = [
    [{ messages: [] }, /^messages: must be a non-empty list/, 'messages'],
    [{ messages: [{ role: 'user' }, { content: 'x' }] }, /^messages\[1\]\.role: /, 'messages[1].role'],
    [{ messages: [{ role: 'user', content: [{ type: 'image_url' }] }] }, /only \{"type": "text"/, 'messages[0].content[0]'],
    [{ messages, top_logprobs: 2 }, /needs logprobs: true/, 'top_logprobs'],
    [{ messages, max_completion_tokens: 1000 }, /exceeds the model's 256 positions/, 'max_completion_tokens'],
  ];
  for (const [body, message, param] of cases) {
    const res = await post(server.url, '/chat/completions', body);
    assert.equal(res.status, 400, JSON.stringify(body));
    assert.match(errorOf(res).message, message);
    assert.equal(errorOf(res).param, param);
  }
  const plainDir = makeTinyModelFolder(2, 'prl-serve-notemplate-');
  const plain = await openEnginePolicy(plainDir, { threads: 1 });
  const noTemplate = await startCompletionServer(plain, { modelName: 'plain' });
  try {
    const res = await post(noTemplate.url, '/chat/completions', { messages });
    assert.equal(res.status, 400);
    assert.match(errorOf(res).message, /no chat_template in tokenizer_config\.json/);
  } finally {
    await noTemplate.close();
    await plain.close();
    rmSync(dirname(plainDir), { recursive: true, force: true });
  }
});
