import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runPrl } from './run-cli.js';

const work = mkdtempSync(join(tmpdir(), 'prl-engine-cli-'));
after(() => rmSync(work, { recursive: true, force: true }));
const model = join(work, 'model');

interface GeneratedLine {
  text: string;
  tokens: number[];
  logprobs: number[];
  offsets: number[];
  finish_reason: string;
}

test('prl init writes a model folder whose vocabulary is the tokenizer\'s (or a config\'s, for token ids); bad presets are errors', () => {
  const run = runPrl(['init', '--preset', 'tiny', '--seed', '7', '--out', model, '--init-std', '0.1']);
  assert.equal(run.status, 0, run.stderr);
  const config = JSON.parse(readFileSync(join(model, 'config.json'), 'utf8')) as Record<string, unknown>;
  assert.equal(config.vocab_size, 3 + 95 + 2); // <bos>, <eos>, <unk>, printable ASCII, newline, tab
  assert.equal(config.hidden_size, 64);
  assert.equal(config.max_position_embeddings, 8192);
  assert.equal(config.bos_token_id, 0);
  assert.equal(config.eos_token_id, 1);
  // Same seed, same weights.
  const again = join(work, 'again');
  assert.equal(runPrl(['init', '--preset', 'tiny', '--seed', '7', '--out', again, '--init-std', '0.1']).status, 0);
  assert.deepEqual(readFileSync(join(again, 'model.safetensors')), readFileSync(join(model, 'model.safetensors')));

  const small = join(work, 'small');
  assert.equal(runPrl(['init', '--preset', 'bench', '--alphabet', 'ab\\n', '--out', small]).status, 0);
  assert.equal((JSON.parse(readFileSync(join(small, 'config.json'), 'utf8')) as { vocab_size: number }).vocab_size, 6);

  const custom = join(work, 'custom.json');
  writeFileSync(custom, JSON.stringify({ model_type: 'qwen2', hidden_size: 32, intermediate_size: 64, num_hidden_layers: 1, num_attention_heads: 2, vocab_size: 12 }));
  const bad = runPrl(['init', '--preset', custom, '--alphabet', 'abc', '--out', join(work, 'x')]);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /custom\.json: vocab_size: 12 differs from the --alphabet tokenizer's 6 tokens/);
  // Without --alphabet, the config's vocab_size makes a token-id model: no tokenizer.
  const ids = join(work, 'ids');
  const made = runPrl(['init', '--preset', custom, '--out', ids]);
  assert.equal(made.status, 0, made.stderr);
  assert.match(made.stdout, /vocab 12, token ids/);
  assert.equal((JSON.parse(readFileSync(join(ids, 'config.json'), 'utf8')) as { vocab_size: number }).vocab_size, 12);
  assert.equal(existsSync(join(ids, 'tokenizer.json')), false);
  assert.match(runPrl(['init', '--preset', 'huge', '--out', join(work, 'y')]).stderr, /--preset: expected tiny, bench or a config\.json file/);
});

test('prl generate: n seeded completions, reproducible; --stop cuts the text; --json log-probs', () => {
  const args = ['generate', '--model', model, '--prompt', 'Q: 1+1\\nA:', '-n', '3', '--max-tokens', '12', '--seed', '5', '--json'];
  const first = runPrl(args);
  assert.equal(first.status, 0, first.stderr);
  const lines = first.stdout.trim().split('\n').map((l) => JSON.parse(l) as GeneratedLine);
  assert.equal(lines.length, 3);
  assert.equal(runPrl(args).stdout, first.stdout);
  assert.notEqual(runPrl([...args.slice(0, -2), '--seed', '6', '--json']).stdout, first.stdout);
  for (const l of lines) {
    assert.equal(l.logprobs.length, l.tokens.length);
    assert.ok(l.logprobs.every((lp) => lp < 0));
  }
  const stopped = runPrl(['generate', '--model', model, '--prompt', 'x', '-n', '6', '--max-tokens', '60', '--temperature', '2', '--stop', 'e', '--json']);
  for (const l of stopped.stdout.trim().split('\n').map((x) => JSON.parse(x) as GeneratedLine)) {
    assert.ok(!l.text.includes('e'));
    if (l.finish_reason === 'length') assert.equal(l.tokens.length, 60);
  }
  const bad = runPrl(['generate', '--model', model, '--prompt', 'x', '--top-p', '0']);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /--top-p: must be a number in/);
});

test('prl logprobs equals the sampler\'s log-probs of the same tokens, in input order; text = BOS + characters', () => {
  const gen = runPrl(['generate', '--model', model, '--prompt', 'Hi', '-n', '2', '--max-tokens', '10', '--seed', '1', '--json']);
  const samples = gen.stdout.trim().split('\n').map((l) => JSON.parse(l) as GeneratedLine);
  // BOS = 0; 'H' and 'i' are printable ASCII at id 3 + code - 32 (after <bos>, <eos>, <unk>).
  const prompt = [0, 3 + 'H'.charCodeAt(0) - 32, 3 + 'i'.charCodeAt(0) - 32];
  const input = join(work, 'in.jsonl');
  const output = join(work, 'out.jsonl');
  writeFileSync(input, [...samples.map((s) => ({ tokens: [...prompt, ...s.tokens] })), { text: 'Hi' }, { tokens: [5] }].map((r) => JSON.stringify(r)).join('\n') + '\n');
  const run = runPrl(['logprobs', '--model', model, '--input', input, '--output', output]);
  assert.equal(run.status, 0, run.stderr);
  const out = readFileSync(output, 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { logprobs: number[] }).logprobs);
  assert.equal(out.length, 4);
  samples.forEach((s, i) => {
    assert.equal(out[i].length, prompt.length + s.tokens.length - 1);
    const tail = out[i].slice(prompt.length - 1);
    s.logprobs.forEach((lp, t) => assert.ok(Math.abs(lp - tail[t]) < 1e-4, `sample ${i} token ${t}: ${lp} vs ${tail[t]}`));
  });
  assert.deepEqual(out[2], out[0].slice(0, 2)); // the text "Hi" is BOS H i
  assert.deepEqual(out[3], []);

  const cases: Array<[string, RegExp]> = [
    ['{"tokens":[0,1]}\n{"tokens":[0,100]}\n', /bad\.jsonl:2: tokens\[1\]: token id 100 is outside the vocabulary \[0, 100\)/],
    ['{"tokens":[]}\n', /bad\.jsonl:1: tokens: is empty/],
    ['{"text":5}\n', /bad\.jsonl:1: text: expected a string, got 5/],
    ['{"other":1}\n', /bad\.jsonl:1: needs a "tokens" or a "text" field/],
  ];
  const badInput = join(work, 'bad.jsonl');
  const badOutput = join(work, 'bad-out.jsonl');
  for (const [text, message] of cases) {
    writeFileSync(badInput, text);
    const bad = runPrl(['logprobs', '--model', model, '--input', badInput, '--output', badOutput]);
    assert.equal(bad.status, 1, text);
    assert.match(bad.stderr, message);
    assert.equal(existsSync(badOutput), false, 'nothing is written on error');
  }
});

test('prl logprobs scores token ids on a folder without a tokenizer; a tokenizer larger than vocab_size is refused', () => {
  const ids = join(work, 'ids'); // the token-id model of the init test
  const input = join(work, 'ids-in.jsonl');
  writeFileSync(input, '{"tokens":[1,2,3,11]}\n');
  const run = runPrl(['logprobs', '--model', ids, '--input', input]);
  assert.equal(run.status, 0, run.stderr);
  assert.equal((JSON.parse(run.stdout) as { logprobs: number[] }).logprobs.length, 3);
  writeFileSync(input, '{"text":"abc"}\n');
  const text = runPrl(['logprobs', '--model', ids, '--input', input]);
  assert.equal(text.status, 1);
  assert.match(text.stderr, /ids-in\.jsonl:1: text: text needs the model folder's tokenizer\.json/);

  // A character tokenizer of 100 tokens in a folder whose config says 12.
  writeFileSync(join(ids, 'tokenizer.json'), readFileSync(join(model, 'tokenizer.json')));
  writeFileSync(input, '{"tokens":[1,2]}\n');
  const mismatch = runPrl(['logprobs', '--model', ids, '--input', input]);
  assert.equal(mismatch.status, 1);
  assert.match(mismatch.stderr, /ids\/tokenizer\.json: has 100 tokens, more than .*config\.json: vocab_size = 12/);
});

test('LoRA adapters: prl merge, then logprobs/generate with --adapter equal the merged folder; export-gguf --adapter; eval specs take ?adapter=', async () => {
  const { LoraAdapter } = await import('../../src/engine/lora.js');
  const { savePeftAdapter } = await import('../../src/engine/peft.js');
  const { Arena } = await import('../../src/engine/memory.js');
  const { parseHfConfig } = await import('../../src/engine/checkpoint.js');
  const { Rng } = await import('../../src/util/rng.js');
  const config = parseHfConfig(JSON.parse(readFileSync(join(model, 'config.json'), 'utf8')), 'config.json');
  const adapter = new LoraAdapter(config, new Arena(0), { rank: 2, targets: ['q', 'v', 'down'] });
  adapter.initRandom(new Rng(3));
  const rng = new Rng(4);
  for (const p of adapter.parameters()) if (p.name.includes('lora_B')) p.data.forEach((_, i) => (p.data[i] = 0.3 * rng.normal()));
  const adapterDir = join(work, 'adapter');
  savePeftAdapter(adapterDir, adapter, { baseModel: model });

  const merged = join(work, 'merged');
  const merge = runPrl(['merge', '--model', model, '--adapter', adapterDir, '--out', merged]);
  assert.equal(merge.status, 0, merge.stderr);
  const input = join(work, 'lora-seqs.jsonl');
  writeFileSync(input, [{ text: 'Q: 12+30\nA: 42' }, { text: 'hello there' }].map((r) => JSON.stringify(r)).join('\n') + '\n');
  const scores = (args: string[]) => {
    const run = runPrl(['logprobs', ...args, '--input', input]);
    assert.equal(run.status, 0, run.stderr);
    return run.stdout.trim().split('\n').flatMap((l) => (JSON.parse(l) as { logprobs: number[] }).logprobs);
  };
  const withAdapter = scores(['--model', model, '--adapter', adapterDir]);
  const fromMerged = scores(['--model', merged]);
  const base = scores(['--model', model]);
  withAdapter.forEach((lp, i) => assert.ok(Math.abs(lp - fromMerged[i]) < 2e-4, `token ${i}: ${lp} vs merged ${fromMerged[i]}`));
  assert.ok(withAdapter.some((lp, i) => Math.abs(lp - base[i]) > 1e-2), 'the adapter changes the log-probs');

  // Greedy decoding picks the same tokens (log-probs agree to float32 rounding, not bit for bit).
  const generate = (args: string[]) => (JSON.parse(runPrl(['generate', ...args, '--prompt', 'Q:', '--temperature', '0', '--max-tokens', '8', '--json']).stdout) as GeneratedLine).tokens;
  assert.deepEqual(generate(['--model', model, '--adapter', adapterDir]), generate(['--model', merged]));

  const ggufPath = join(work, 'adapter.gguf');
  const exported = runPrl(['export-gguf', '--model', model, '--adapter', adapterDir, '--out', ggufPath]);
  assert.equal(exported.status, 0, exported.stderr);
  const { readGgufHeader } = await import('../../src/engine/gguf.js');
  const header = readGgufHeader(new Uint8Array(readFileSync(ggufPath)));
  assert.equal(header.metadata.get('general.type')?.value, 'adapter');
  assert.equal(header.tensors.length, 2 * 3 * 2); // 2 layers x q, v, down x (lora_a, lora_b)

  const bad = runPrl(['logprobs', '--model', model, '--adapter', join(work, 'nowhere'), '--input', input]);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /nowhere\/adapter_config\.json: no such file/);

  const { openPolicy } = await import('../../src/policy/index.js');
  const scoreSpec = async (spec: string) => {
    const policy = await openPolicy(spec, {}, '--policy');
    try {
      assert.equal(policy.name, spec);
      const [scored] = await policy.score({ items: [{ prompt: 'Q: 12+30\nA:', continuation: ' 42' }] });
      return scored.logprobs;
    } finally {
      await policy.close();
    }
  };
  const specScores = await scoreSpec(`engine:${model}?adapter=${adapterDir}`);
  const mergedScores = await scoreSpec(`engine:${merged}`);
  specScores.forEach((lp, i) => assert.ok(Math.abs(lp - mergedScores[i]) < 2e-4, `token ${i}: ${lp} vs merged ${mergedScores[i]}`));
});
