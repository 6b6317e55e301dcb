import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PRESETS } from '../../src/engine/config.js';
import { initModelFolder } from '../../src/engine/io.js';
import { loraBlockFloats } from '../../src/engine/lora.js';
import { repoRoot, runPrl } from './run-cli.js';

const work = mkdtempSync(join(tmpdir(), 'prl-bench-model-'));
after(() => rmSync(work, { recursive: true, force: true }));

interface Line {
  [key: string]: string | number;
}

function jsonLines(stdout: string): Line[] {
  return stdout.trim().split('\n').map((l) => JSON.parse(l) as Line);
}

test('prl bench --model times a token-id model folder and prints well-formed JSON lines', () => {
  const dir = join(work, 'tiny');
  initModelFolder(dir, PRESETS.tiny, undefined, 0);
  const common = ['bench', '--model', dir, '--batch', '2', '--seq', '16', '--sample-batch', '3', '--prompt', '4', '--new-tokens', '5', '--threads', '1', '--iters', '2', '--json'];
  const run = runPrl(common);
  assert.equal(run.status, 0, run.stderr);
  const [train, sample, ...rest] = jsonLines(run.stdout);
  assert.equal(rest.length, 0);
  assert.equal(train.name, 'train-step');
  assert.ok(Number(train.ms) > 0 && Number(train.ms) < 10_000, `ms ${train.ms}`);
  assert.ok(Number(train.peak_rss_gib) > 0.01 && Number(train.peak_rss_gib) < 4, `peak RSS ${train.peak_rss_gib}`);
  assert.equal(train.arena_gib, train.estimate_gib);
  assert.deepEqual([train.batch, train.seq, train.layers, train.hidden, train.vocab, train.lora_rank, train.threads, train.trainable_params], [2, 16, 2, 64, 32, 0, 1, 102720]);
  assert.match(String(train.provider), /wasm/);
  assert.equal(sample.name, 'sample');
  assert.ok(Number(sample.tokens_per_s) > 0, `tokens/s ${sample.tokens_per_s}`);
  assert.deepEqual([sample.sample_batch, sample.prompt, sample.new_tokens], [3, 4, 5]);

  const lora = runPrl([...common, '--lora-rank', '4', '--train-only']);
  assert.equal(lora.status, 0, lora.stderr);
  const loraLines = jsonLines(lora.stdout);
  assert.deepEqual(loraLines.map((l) => l.name), ['train-step']);
  assert.equal(loraLines[0].lora_rank, 4);
  assert.equal(loraLines[0].trainable_params, loraBlockFloats(PRESETS.tiny, { rank: 4 }));

  const sampleOnly = runPrl([...common, '--sample-only']);
  assert.equal(sampleOnly.status, 0, sampleOnly.stderr);
  assert.deepEqual(jsonLines(sampleOnly.stdout).map((l) => l.name), ['sample']);
});

test('prl bench --shape refuses a plan past the memory limit before loading, and bad flags name themselves', () => {
  // A 4 GiB limit (as on a small machine) so that the refusal does not depend on this machine's memory.
  process.env.PRL_MEMORY_LIMIT_GIB = '4';
  try {
    const run = runPrl(['bench', '--shape', 'qwen2.5-0.5b', '--json']);
    assert.equal(run.status, 1);
    assert.equal(run.stdout, '');
    assert.match(run.stderr, /the qwen2\.5-0\.5b shape \(24 layers\), full fine-tuning at batch 4 x 256 and sampling 8 x \(32 \+ 32\) tokens, needs about 9\.\d\d GiB of engine memory \(.*\), more than the 4\.00 GiB of PRL_MEMORY_LIMIT_GIB\./);
    // Layers and batches as the estimate of this commit gives them; the model's allocations may shrink later.
    assert.match(run.stderr, /It would fit with: --layers \d+ or fewer; (--lora-rank 16( --batch \d)? \(about \d\.\d\d GiB\); )?--sample-only \(about 1\.\d\d GiB\)\.\n$/);

    const lora = runPrl(['bench', '--shape', 'qwen2.5-1.5b', '--lora-rank', '16', '--train-only']);
    assert.equal(lora.status, 1);
    assert.match(lora.stderr, /the qwen2\.5-1\.5b shape \(28 layers\), LoRA r16 training at batch 4 x 256, needs about \d+\.\d\d GiB of engine memory \(weights 5\.\d\d, LoRA adapter 0\.14, AdamW state 0\.14, training activations \d\.\d\d\)/);
    assert.match(lora.stderr, /It would fit with: --layers \d+ or fewer\.\n$/);
  } finally {
    delete process.env.PRL_MEMORY_LIMIT_GIB;
  }

  for (const [args, message] of [
    [['--shape', 'qwen3'], /--shape: unknown shape "qwen3"; expected one of qwen2\.5-0\.5b, qwen2\.5-1\.5b/],
    [['--shape', 'qwen2.5-0.5b', '--layers', '30'], /--layers: qwen2\.5-0\.5b has 24 layers, got 30/],
    [['--model', work, '--layers', '2'], /--layers: cuts a --shape model/],
    [['--shape', 'qwen2.5-0.5b', '--train-only', '--sample-only'], /give at most one of them/],
    [['--shape', 'qwen2.5-0.5b', '--lora-rank', '-1'], /--lora-rank: must be an integer >= 0/],
  ] as const) {
    const bad = runPrl(['bench', ...args]);
    assert.equal(bad.status, 1, `${args.join(' ')}: ${bad.stderr}`);
    assert.match(bad.stderr, message);
  }
});

test('bench/model-table.mjs puts fixed JSON lines side by side with prl / PyTorch ratios', () => {
  const prl = join(work, 'prl.jsonl');
  const torch = join(work, 'torch.jsonl');
  const meta = '"model":"qwen2.5-0.5b","layers":4,"hidden":896,"vocab":151936,"lora_rank":16,"threads":2';
  writeFileSync(prl, `{"name":"train-step","ms":12000,"batch":4,"seq":256,"peak_rss_gib":3,${meta},"provider":"wasm x2"}\n{"name":"sample","tokens_per_s":60,"sample_batch":8,"prompt":32,"new_tokens":32,"peak_rss_gib":3.5,${meta},"provider":"wasm x2"}\n`);
  writeFileSync(torch, `a log line\n{"name":"train-step","ms":8000,"batch":4,"seq":256,"peak_rss_gib":6,${meta},"provider":"torch"}\n`);
  const r = spawnSync(process.execPath, [join(repoRoot, 'bench/model-table.mjs'), prl, torch], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(
    r.stdout.trim(),
    [
      'qwen2.5-0.5b: 4 layers, hidden 896, vocab 151936; prl: wasm x2, 2 threads; PyTorch: torch, 2 threads',
      '',
      '| figure | prl | PyTorch | prl / PyTorch |',
      '|---|---:|---:|---:|',
      '| train step, ms (LoRA r16, 4 x 256) | 12000 | 8000 | 1.50x |',
      '| train peak RSS, GiB | 3.00 | 6.00 | 0.50x |',
      '| sample, tokens/s (8 x (32 + 32)) | 60.00 | - | - |',
      '| sample peak RSS, GiB | 3.50 | - | - |',
      '',
      'prl / PyTorch below 1 favours prl for time and RSS, above 1 for tokens/s.',
    ].join('\n'),
  );
});
