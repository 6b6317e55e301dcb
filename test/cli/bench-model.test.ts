import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PRESETS, type ModelConfig } from '../../src/engine/config.js';
import { initModelFolder } from '../../src/engine/io.js';
import { FallbackKernels } from '../../src/engine/kernels/fallback.js';
import { LoraAdapter, loraBlockFloats } from '../../src/engine/lora.js';
import { Arena } from '../../src/engine/memory.js';
import { assertFits, estimateArenaBytes, type MemoryPlan } from '../../src/engine/memory-estimate.js';
import { LlamaModel } from '../../src/engine/model.js';
import { AdamW } from '../../src/engine/optim.js';
import { generate } from '../../src/engine/sampler.js';
import { PrlError } from '../../src/util/errors.js';
import { Rng } from '../../src/util/rng.js';
import { repoRoot, runPrl } from './run-cli.js';

const work = mkdtempSync(join(tmpdir(), 'prl-bench-model-'));
after(() => rmSync(work, { recursive: true, force: true }));

test('the arena estimate of the tiny preset matches a hand count', () => {
  // tiny: V 32, C 64, I 192, 2 layers, 4 heads / 2 KV of 16, 256 positions, untied, no bias.
  // Per layer q 64x64 + k 32x64 + v 32x64 + o 64x64 + gate/up/down 3 x 192x64 + two norms of 64 = 49,280;
  // embed 32x64 + 2 layers + norm 64 + lm_head 32x64 = 102,720 floats (all multiples of 16: no padding).
  const e = estimateArenaBytes({ config: PRESETS.tiny, trainable: true, optimizer: true, trainRows: 2 * 16 });
  const modelBytes = 102720 * 4;
  assert.equal(e.weights, modelBytes + 2 * 256 * 8 * 4); // + RoPE cos and sin, (256 positions, 8)
  assert.equal(e.gradients, modelBytes);
  assert.equal(e.optimizer, 2 * modelBytes);
  assert.equal(e.adapter, 0);
  assert.equal(e.sampling, 0);
  // N = 32 rows. Buffers round up to 64 bytes: an (N) vector is 128 bytes, (N, C) 8,192, (N, kv) 4,096,
  // (N, nHead) 512, (N, I) 24,576, (N, V) 4,096, (C) 256.
  const ids = 3 * 128; // tokens, targets, positions
  const residual = 3 * 8192; // L + 1 residual streams
  const layer = 3 * 8192 + 2 * 128 + 2 * 8192 + 2 * 4096 + 512 + 3 * 24576; // ln1 resMid ln2, rstd x2, q att, k v, attLse, gate up h
  const head = 8192 + 128 + 4096 + 3 * 128; // lnf, rstdf, logits, lse logp entropy
  const backward = 128 + 2 * 8192 + 2 * 8192 + 2 * 4096 + 3 * 24576 + 256; // dlogp, dres dln, dq datt, dk dv, dgate dup dh, dNormDiscard
  assert.equal(e.activations, ids + residual + 2 * layer + head + backward);
  assert.equal(e.activations, 400128);
  assert.equal(e.total, e.weights + e.gradients + e.optimizer + e.activations);
});

/** A qwen2-style config with q/k/v biases and tied embeddings, small enough for the reference kernels. */
const qwenTiny: ModelConfig = { ...PRESETS.tiny, modelType: 'qwen2', attentionBias: true, tieWordEmbeddings: true, vocabSize: 50, intermediateSize: 100 };

/** Builds and runs exactly what `plan` describes on a fresh arena; returns the arena's used bytes. */
function measureArena(plan: MemoryPlan, B: number, T: number, prompt: number, newTokens: number): number {
  const arena = new Arena(0);
  const kernels = new FallbackKernels();
  const model = new LlamaModel(plan.config, arena, kernels, { trainable: plan.trainable });
  model.initRandom(new Rng(0));
  let trained: { weights: Float32Array; grads: Float32Array; parameters(): Array<{ name: string; shape: number[]; data: Float32Array }> } = model;
  if (plan.loraRank) {
    const adapter = new LoraAdapter(plan.config, arena, { rank: plan.loraRank });
    model.attachAdapter(adapter);
    trained = adapter;
  }
  if (plan.optimizer) {
    new AdamW(trained, arena, kernels, { lr: 1e-3 });
    const tokens = Int32Array.from({ length: B * T }, (_, n) => n % plan.config.vocabSize);
    model.forward(tokens, tokens, B, T);
    model.backward(new Float32Array(B * T).fill(-0.01));
  }
  if (plan.sample) generate(model, Array.from({ length: plan.sample.batch }, () => Array(prompt).fill(3)), { maxNewTokens: newTokens, rng: new Rng(1) });
  return arena.usedBytes;
}

test('the arena estimate equals what the model, adapter, AdamW, a training step and sampling allocate', () => {
  const cases: Array<[string, MemoryPlan]> = [
    ['full fine-tuning and sampling', { config: qwenTiny, trainable: true, optimizer: true, trainRows: 3 * 10, sample: { batch: 2, maxT: 5 + 4 - 1 } }],
    ['LoRA r4 over a frozen base and sampling', { config: qwenTiny, trainable: false, loraRank: 4, optimizer: true, trainRows: 3 * 10, sample: { batch: 2, maxT: 5 + 4 - 1 } }],
    ['a frozen model sampling only', { config: PRESETS.tiny, trainable: false, optimizer: false, sample: { batch: 3, maxT: 5 + 4 - 1 } }],
  ];
  for (const [name, plan] of cases) {
    assert.equal(estimateArenaBytes(plan).total, measureArena(plan, 3, 10, 5, 4), name);
  }
  const lora = estimateArenaBytes(cases[1][1]);
  assert.equal(lora.adapter, 2 * loraBlockFloats(qwenTiny, { rank: 4 }) * 4);
  assert.equal(lora.gradients, 0);
});

test('a plan past 4 GiB is refused with its estimate and the hints; one that fits is returned', () => {
  // 1,000,000 x 512 embeddings untied: 2 x 1.91 GiB of weights, the same again of gradients.
  const big: ModelConfig = { ...PRESETS.tiny, vocabSize: 1_000_000, hiddenSize: 512, numAttentionHeads: 8, headDim: 64 };
  const plan: MemoryPlan = { config: big, trainable: true, optimizer: true, trainRows: 64 };
  assert.throws(() => assertFits(plan, 'this model', ['--frozen']), (err: Error) => {
    assert.ok(err instanceof PrlError);
    assert.match(err.message, /^this model needs about 1[45]\.\d\d GiB of engine memory \(weights 3\.8\d, gradients 3\.8\d, AdamW state 7\.6\d, training activations 0\.\d\d\), more than the 4\.00 GiB/);
    assert.match(err.message, /It would fit with: --frozen\.$/);
    return true;
  });
  assert.equal(assertFits({ config: PRESETS.tiny, trainable: true, optimizer: true }, 'tiny').total, 427264 + 410880 + 2 * 410880);
});

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

test('prl bench --shape refuses the 24-layer 0.5B full fine-tune before loading, and bad flags name themselves', () => {
  const run = runPrl(['bench', '--shape', 'qwen2.5-0.5b', '--json']);
  assert.equal(run.status, 1);
  assert.equal(run.stdout, '');
  assert.match(run.stderr, /the qwen2\.5-0\.5b shape \(24 layers\), full fine-tuning at batch 4 x 256 and sampling 8 x \(32 \+ 32\) tokens, needs about 9\.\d\d GiB of engine memory/);
  assert.match(run.stderr, /It would fit with: --layers \d or fewer; --sample-only \(about 1\.\d\d GiB\)\./);

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
