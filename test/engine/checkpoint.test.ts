import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PRESETS, type ModelConfig } from '../../src/engine/config.js';
import { expectedTensors, loadModelFolder, parseHfConfig, saveModelFolder, toHfConfig, type NamedTensor } from '../../src/engine/checkpoint.js';
import { Arena } from '../../src/engine/memory.js';
import { writeSafetensors } from '../../src/engine/safetensors.js';
import { CharTokenizer } from '../../src/engine/tokenizer.js';
import { Rng } from '../../src/util/rng.js';

const FIXTURES = join(import.meta.dirname, '..', '..', '..', 'test', 'fixtures', 'hf');

interface Checksum {
  sum: number;
  absSum: number;
  first: number[];
  last: number;
  count: number;
}

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'prl-ckpt-'));
}

function allocTensors(config: ModelConfig, arena?: Arena): NamedTensor[] {
  return expectedTensors(config).map(({ name, shape }) => {
    const n = shape.reduce((a, b) => a * b, 1);
    return { name, shape, data: arena ? arena.allocF32(n) : new Float32Array(n) };
  });
}

function randomTensors(config: ModelConfig, seed: number): NamedTensor[] {
  const rng = new Rng(seed);
  const tensors = allocTensors(config);
  for (const t of tensors) for (let i = 0; i < t.data.length; i++) t.data[i] = rng.nextU32() / 2 ** 32 - 0.5;
  return tensors;
}

/** A copy of fixture `name` in a temp folder, for tests that damage it. */
function copyFixture(name: string): string {
  const dir = tempDir();
  for (const f of readdirSync(join(FIXTURES, name))) copyFileSync(join(FIXTURES, name, f), join(dir, f));
  return dir;
}

test('parseHfConfig applies the HF defaults for omitted fields', () => {
  const config = parseHfConfig(
    { model_type: 'llama', hidden_size: 64, intermediate_size: 128, num_hidden_layers: 3, num_attention_heads: 8, vocab_size: 100 },
    'config.json',
  );
  assert.deepEqual(config, {
    modelType: 'llama',
    vocabSize: 100,
    hiddenSize: 64,
    intermediateSize: 128,
    numHiddenLayers: 3,
    numAttentionHeads: 8,
    numKeyValueHeads: 8,
    headDim: 8,
    maxPositionEmbeddings: 2048,
    rmsNormEps: 1e-6,
    ropeTheta: 10000,
    attentionBias: false,
    tieWordEmbeddings: false,
  });
  const qwen = parseHfConfig(
    { model_type: 'qwen2', hidden_size: 64, intermediate_size: 128, num_hidden_layers: 1, num_attention_heads: 4, num_key_value_heads: 2, vocab_size: 10, tie_word_embeddings: true, eos_token_id: [3, 4] },
    'q.json',
  );
  assert.equal(qwen.attentionBias, true);
  assert.equal(qwen.tieWordEmbeddings, true);
  assert.deepEqual(qwen.eosTokenId, [3, 4]);
});

test('toHfConfig then parseHfConfig gives the config back, with architectures and torch_dtype', () => {
  for (const config of [PRESETS.tiny, { ...PRESETS.bench, modelType: 'qwen2' as const, attentionBias: true, tieWordEmbeddings: true, eosTokenId: 2 }]) {
    const json = toHfConfig(config);
    assert.deepEqual(json.architectures, [config.modelType === 'llama' ? 'LlamaForCausalLM' : 'Qwen2ForCausalLM']);
    assert.equal(json.torch_dtype, 'float32');
    assert.deepEqual(parseHfConfig(JSON.parse(JSON.stringify(json)), 'x'), config);
  }
});

test('parseHfConfig errors name the file and the field', () => {
  const base = { model_type: 'llama', hidden_size: 64, intermediate_size: 128, num_hidden_layers: 2, num_attention_heads: 4, vocab_size: 10 };
  const cases: Array<[Record<string, unknown>, RegExp]> = [
    [{ ...base, model_type: 'gpt2' }, /d\/config\.json: model_type: expected "llama" or "qwen2", got "gpt2"/],
    [{ ...base, intermediate_size: undefined }, /d\/config\.json: intermediate_size: required field is missing/],
    [{ ...base, vocab_size: 1.5 }, /d\/config\.json: vocab_size: expected a positive integer, got 1\.5/],
    [{ ...base, num_key_value_heads: 3 }, /d\/config\.json: num_key_value_heads: 3 does not divide num_attention_heads 4/],
    [{ ...base, rope_scaling: { type: 'linear', factor: 2 } }, /d\/config\.json: rope_scaling: object is not supported/],
    [{ ...base, hidden_act: 'gelu' }, /d\/config\.json: hidden_act: "gelu" is not supported/],
    [{ ...base, head_dim: 7 }, /d\/config\.json: head_dim: 7 must be even/],
    [{ ...base, tie_word_embeddings: 'yes' }, /d\/config\.json: tie_word_embeddings: expected true or false/],
  ];
  for (const [json, message] of cases) assert.throws(() => parseHfConfig(json, 'd/config.json'), message);
  assert.equal(parseHfConfig({ ...base, rope_scaling: null }, 'x').ropeTheta, 10000);
});

test('every reference fixture loads with the expected config and exact tensor values', () => {
  const expectedConfigs: Record<string, Partial<ModelConfig>> = {
    'llama-gqa': { modelType: 'llama', numKeyValueHeads: 2, headDim: 8, ropeTheta: 10000, rmsNormEps: 1e-6, tieWordEmbeddings: false, attentionBias: false },
    'llama-tied-bf16': { modelType: 'llama', numKeyValueHeads: 4, ropeTheta: 500000, rmsNormEps: 1e-5, tieWordEmbeddings: true, bosTokenId: 1, eosTokenId: 2 },
    'qwen2-bias-f16': { modelType: 'qwen2', numKeyValueHeads: 1, intermediateSize: 48, ropeTheta: 1e6, tieWordEmbeddings: true, attentionBias: true, eosTokenId: [2, 3] },
    'llama-headdim-sharded': { modelType: 'llama', hiddenSize: 32, numAttentionHeads: 4, headDim: 16, numKeyValueHeads: 2, tieWordEmbeddings: false },
  };
  assert.deepEqual(readdirSync(FIXTURES).sort(), Object.keys(expectedConfigs).sort());
  for (const [name, partial] of Object.entries(expectedConfigs)) {
    const folder = loadModelFolder(join(FIXTURES, name));
    for (const [field, value] of Object.entries(partial)) assert.deepEqual(folder.config[field as keyof ModelConfig], value, `${name}: ${field}`);
    const tensors = allocTensors(folder.config, new Arena(0));
    folder.fillTensors(tensors);
    folder.close();
    const expected = JSON.parse(readFileSync(join(FIXTURES, name, 'expected.json'), 'utf8')) as { checksums: Record<string, Checksum> };
    assert.deepEqual(tensors.map((t) => t.name).sort(), Object.keys(expected.checksums).sort(), name);
    for (const t of tensors) {
      const c = expected.checksums[t.name];
      const where = `${name}: ${t.name}`;
      assert.equal(t.data.length, c.count, where);
      // The file holds float32/f16/bf16 values that float64 represents exactly, so these are equal, not close.
      assert.deepEqual([...t.data.subarray(0, 4)], c.first, where);
      assert.equal(t.data[t.data.length - 1], c.last, where);
      let sum = 0;
      let absSum = 0;
      for (const v of t.data) {
        sum += v;
        absSum += Math.abs(v);
      }
      assert.ok(Math.abs(sum - c.sum) <= 1e-9 * c.absSum, `${where}: sum ${sum} vs ${c.sum}`);
      assert.ok(Math.abs(absSum - c.absSum) <= 1e-9 * c.absSum, `${where}: absSum`);
    }
  }
});

test('saveModelFolder then loadModelFolder round-trips config, weights and a char tokenizer', () => {
  const root = tempDir();
  try {
    const dir = join(root, 'model');
    const config: ModelConfig = { ...PRESETS.tiny, vocabSize: 14, tieWordEmbeddings: true };
    const tokenizer = new CharTokenizer({ alphabet: '0123456789+=', specialTokens: ['<pad>', '<eos>'], eos: '<eos>', pad: '<pad>' });
    const tensors = randomTensors(config, 7);
    saveModelFolder(dir, config, tensors, tokenizer);
    // Saving again replaces the folder atomically and leaves no temp folders behind.
    saveModelFolder(dir, config, tensors, tokenizer);
    assert.deepEqual(readdirSync(root), ['model']);
    assert.deepEqual(readdirSync(dir).sort(), ['config.json', 'generation_config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']);
    assert.deepEqual(JSON.parse(readFileSync(join(dir, 'generation_config.json'), 'utf8')), { eos_token_id: 1 });

    const folder = loadModelFolder(dir);
    assert.deepEqual(folder.config, { ...config, eosTokenId: 1 });
    assert.equal(folder.tokenizer?.eosId, 1);
    assert.deepEqual(folder.tokenizer?.encode('1+2=3').ids, [3, 12, 4, 13, 5]);
    const loaded = allocTensors(folder.config);
    folder.fillTensors(loaded);
    folder.close();
    for (let i = 0; i < tensors.length; i++) assert.deepEqual(loaded[i].data, tensors[i].data, tensors[i].name);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('saveModelFolder refuses a tensor set that does not match the config', () => {
  const root = tempDir();
  try {
    const tensors = randomTensors(PRESETS.tiny, 1).filter((t) => t.name !== 'model.norm.weight');
    assert.throws(() => saveModelFolder(join(root, 'm'), PRESETS.tiny, tensors), /tensor model\.norm\.weight is missing/);
    assert.deepEqual(readdirSync(root), []);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('loadModelFolder errors name the file and the tensor', () => {
  const dir = copyFixture('llama-gqa');
  try {
    const config = parseHfConfig(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')), 'config.json');
    const tensors = randomTensors(config, 3);
    const file = join(dir, 'model.safetensors');

    writeSafetensors(file, tensors.filter((t) => t.name !== 'model.layers.1.self_attn.k_proj.weight'));
    assert.throws(() => loadModelFolder(dir), { message: `${file}: tensor model.layers.1.self_attn.k_proj.weight is missing` });

    const wrong = tensors.map((t) => (t.name === 'model.layers.0.mlp.up_proj.weight' ? { ...t, shape: [32, 64] } : t));
    writeSafetensors(file, wrong);
    assert.throws(() => loadModelFolder(dir), { message: `${file}: tensor model.layers.0.mlp.up_proj.weight has shape [32,64], expected [64,32]` });

    writeSafetensors(file, tensors);
    // Rewrite one tensor's dtype as I32 (same byte size) in the header.
    const bytes = readFileSync(file);
    const headerLength = Number(bytes.readBigUInt64LE(0));
    const header = bytes.subarray(8, 8 + headerLength).toString('utf8').replace('{"dtype":"F32","shape":[32]', '{"dtype":"I32","shape":[32]');
    writeFileSync(file, Buffer.concat([bytes.subarray(0, 8), Buffer.from(header), bytes.subarray(8 + headerLength)]));
    assert.throws(() => loadModelFolder(dir), /model\.safetensors: tensor model\.layers\.0\.input_layernorm\.weight has unsupported dtype I32/);

    writeSafetensors(file, tensors);
    truncateSync(file, readFileSync(file).length - 100);
    assert.throws(() => loadModelFolder(dir), /model\.safetensors: tensor lm_head\.weight: data_offsets \[\d+,\d+\] are out of range .*truncated/);

    writeFileSync(join(dir, 'config.json'), JSON.stringify({ model_type: 'llama', hidden_size: 32 }));
    assert.throws(() => loadModelFolder(dir), { message: `${join(dir, 'config.json')}: intermediate_size: required field is missing` });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('expectedTensors: llama attention_bias adds an o_proj bias, qwen2 has none', () => {
  const names = (config: ModelConfig) => expectedTensors(config).map((t) => t.name);
  const llama = names({ ...PRESETS.tiny, attentionBias: true });
  assert.ok(llama.includes('model.layers.0.self_attn.o_proj.bias') && llama.includes('model.layers.1.self_attn.q_proj.bias'));
  assert.deepEqual(expectedTensors({ ...PRESETS.tiny, attentionBias: true }).find((t) => t.name.endsWith('o_proj.bias'))?.shape, [PRESETS.tiny.hiddenSize]);
  const qwen = names({ ...PRESETS.tiny, modelType: 'qwen2', attentionBias: true });
  assert.ok(qwen.includes('model.layers.0.self_attn.q_proj.bias') && !qwen.some((n) => n.endsWith('o_proj.bias')));
  assert.ok(!names(PRESETS.tiny).some((n) => n.endsWith('.bias')));
});
