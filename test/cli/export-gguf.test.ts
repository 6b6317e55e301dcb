import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readGgufHeader, readGgufTensorF32 } from '../../src/engine/gguf.js';
import { hfToGguf, type HfModel } from '../../src/engine/gguf-export.js';
import { modelConfigFromHf, readSafetensorsF32 } from '../../src/cli/commands/export-gguf.js';
import { tinyConfig, tinyModel } from '../helpers/tiny-llama.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

/** safetensors bytes: u64 header length, JSON header, data; F32 or BF16 (truncating the low 16 bits). */
function safetensors(tensors: HfModel['tensors'], dtype: 'F32' | 'BF16'): Buffer {
  const width = dtype === 'F32' ? 4 : 2;
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  let offset = 0;
  for (const t of tensors) {
    header[t.name] = { dtype, shape: t.shape, data_offsets: [offset, offset + t.data.length * width] };
    offset += t.data.length * width;
  }
  const json = Buffer.from(JSON.stringify(header));
  const out = Buffer.alloc(8 + json.length + offset);
  out.writeBigUInt64LE(BigInt(json.length), 0);
  json.copy(out, 8);
  let at = 8 + json.length;
  for (const t of tensors) {
    for (const v of t.data) {
      if (dtype === 'F32') out.writeFloatLE(v, at);
      else out.writeUInt16LE(new Uint32Array(Float32Array.of(v).buffer)[0] >>> 16, at);
      at += width;
    }
  }
  return out;
}

function hfConfigJson(model: HfModel): object {
  const c = model.config;
  return {
    architectures: [c.modelType === 'qwen2' ? 'Qwen2ForCausalLM' : 'LlamaForCausalLM'],
    model_type: c.modelType,
    vocab_size: c.vocabSize,
    hidden_size: c.hiddenSize,
    intermediate_size: c.intermediateSize,
    num_hidden_layers: c.numHiddenLayers,
    num_attention_heads: c.numAttentionHeads,
    num_key_value_heads: c.numKeyValueHeads,
    head_dim: c.headDim,
    max_position_embeddings: c.maxPositionEmbeddings,
    rms_norm_eps: c.rmsNormEps,
    rope_theta: c.ropeTheta,
    attention_bias: c.attentionBias,
    tie_word_embeddings: c.tieWordEmbeddings,
    bos_token_id: c.bosTokenId,
    eos_token_id: c.eosTokenId,
    torch_dtype: 'float32',
  };
}

test('prl export-gguf writes the GGUF of an HF folder; bad input exits non-zero naming the file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'prl-export-'));
  try {
    const model = tinyModel(tinyConfig('llama'), 31);
    writeFileSync(join(dir, 'config.json'), JSON.stringify(hfConfigJson(model)));
    writeFileSync(join(dir, 'model.safetensors'), safetensors(model.tensors, 'F32'));
    writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(model.tokenizerJson));
    const out = join(dir, 'out', 'model.gguf');
    const run = spawnSync(process.execPath, [MAIN, 'export-gguf', '--model', dir, '--out', out], { encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /wrote .*model\.gguf \(llama, /);

    const bytes = new Uint8Array(readFileSync(out));
    const header = readGgufHeader(bytes, out);
    const expected = hfToGguf(model);
    assert.deepEqual(header.metadata, expected.metadata);
    for (const t of expected.tensors) assert.deepEqual(readGgufTensorF32(bytes, header, t.name), t.data);

    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...hfConfigJson(model), hidden_size: 'big' }));
    const bad = spawnSync(process.execPath, [MAIN, 'export-gguf', '--model', dir, '--out', out], { encoding: 'utf8' });
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /config\.json: hidden_size: expected a positive integer, got "big"/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('readSafetensorsF32 widens BF16 exactly; modelConfigFromHf applies HF defaults', () => {
  const dir = mkdtempSync(join(tmpdir(), 'prl-export-'));
  try {
    const tensors = [{ name: 'w', shape: [2, 3], data: Float32Array.from([1, -2.5, 0.15625, 3e-3, 65504, -0]) }];
    const path = join(dir, 'm.safetensors');
    writeFileSync(path, safetensors(tensors, 'BF16'));
    const [read] = readSafetensorsF32(path);
    assert.deepEqual(read.shape, [2, 3]);
    // BF16 keeps the top 16 bits of each f32.
    const truncated = tensors[0].data.map((v) => new Float32Array(Uint32Array.of(new Uint32Array(Float32Array.of(v).buffer)[0] & 0xffff0000).buffer)[0]);
    assert.deepEqual(read.data, truncated);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const config = modelConfigFromHf(
    { model_type: 'qwen2', vocab_size: 10, hidden_size: 8, intermediate_size: 16, num_hidden_layers: 1, num_attention_heads: 2, max_position_embeddings: 32 },
    'config.json',
  );
  assert.equal(config.numKeyValueHeads, 2);
  assert.equal(config.headDim, 4);
  assert.equal(config.attentionBias, true);
  assert.equal(config.ropeTheta, 10000);
  assert.throws(() => modelConfigFromHf({ model_type: 'gpt2' }, 'c.json'), /c\.json: model_type: expected "llama" or "qwen2"/);
});
