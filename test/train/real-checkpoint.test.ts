// A Hugging Face folder as a user brings one (byte-level BPE tokenizer, a chat template, the end ids in
// generation_config.json) trains with `prl rl --task math --lora-rank`: prompts are rendered as the user's
// turn, and a response ends at any of the model's end ids.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModelFolder } from '../../src/engine/checkpoint.js';
import { loadTokenizer } from '../../src/engine/tokenizer.js';
import { createCodec } from '../../src/tasks/codec.js';
import { getTask } from '../../src/tasks/index.js';
import { runPrl } from '../cli/run-cli.js';
import { instructFolder } from '../helpers/instruct-model.js';

test('generation_config.json end ids join config.json\'s, and a response ends at any of them', () => {
  const root = mkdtempSync(join(tmpdir(), 'prl-real-'));
  const { dir, endOfText, imEnd } = instructFolder(root);
  const folder = loadModelFolder(dir);
  folder.close();
  assert.deepEqual(folder.config.eosTokenId, [imEnd, endOfText]);
  const data = join(root, 'p.jsonl');
  writeFileSync(data, JSON.stringify({ problem: 'the cat', answer: '12' }) + '\n');
  const tokenizer = loadTokenizer(dir);
  const codec = createCodec(getTask('math', { trainData: data, evalData: data }), tokenizer, { endIds: [imEnd, endOfText] });
  assert.deepEqual(codec.stopIds, [imEnd, endOfText]);
  const [problem] = codec.problems('eval');
  const two = tokenizer.encode('12').ids;
  const after = tokenizer.encode('xx').ids;
  const read = codec.read(problem, [...two, endOfText, ...after]);
  assert.equal(read.text, '12', 'the response ends at <|endoftext|>, the second end id');
  assert.deepEqual(read.mask, [...two.map(() => 1), 1, ...after.map(() => 0)], 'the end token is trained, nothing after it');
});

test('prl rl --task math --lora-rank on an instruct-style folder renders prompts with its chat template (--chat-template none: raw)', () => {
  const root = mkdtempSync(join(tmpdir(), 'prl-real-rl-'));
  const { dir } = instructFolder(root);
  const data = join(root, 'math.jsonl');
  writeFileSync(data, ['What is 12?', 'the cat in the hat', 'then 123'].map((problem, i) => JSON.stringify({ problem, answer: String(i) })).join('\n') + '\n');
  const rl = (out: string, extra: string[]) =>
    runPrl(['rl', '--task', 'math', '--task-options', JSON.stringify({ trainData: data, evalData: data }), '--model', dir, '--lora-rank', '2', '--steps', '1',
      '--prompts-per-step', '1', '--group-size', '2', '--eval-every', '0', '--samples-per-step', '2', '--max-new-tokens', '6', '--threads', '1', '--quiet', '--out', out, ...extra]);
  const chat = rl(join(root, 'chat'), []);
  assert.equal(chat.status, 0, chat.stderr);
  const prompt = (out: string) => (JSON.parse(readFileSync(join(out, 'samples.jsonl'), 'utf8').split('\n')[0]) as { prompt: string }).prompt;
  assert.match(prompt(join(root, 'chat')), /^<\|user\|>.*\nPlease reason step by step[\s\S]*<\|assistant\|>$/);
  const raw = rl(join(root, 'raw'), ['--chat-template', 'none']);
  assert.equal(raw.status, 0, raw.stderr);
  assert.doesNotMatch(prompt(join(root, 'raw')), /<\|assistant\|>/);
  assert.ok(readFileSync(join(root, 'chat', 'adapter', 'adapter_config.json'), 'utf8').includes('"r": 2'));
});
