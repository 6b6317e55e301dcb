import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readGgufHeader, readGgufTensorF32, writeGguf } from '../../src/engine/gguf.js';
import { hfToGguf, type HfModel } from '../../src/engine/gguf-export.js';
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

test('prl export-gguf reads BF16 weights through the checkpoint loader, widening them exactly', () => {
  const dir = mkdtempSync(join(tmpdir(), 'prl-export-'));
  try {
    const model = tinyModel(tinyConfig('qwen2'), 32);
    writeFileSync(join(dir, 'config.json'), JSON.stringify(hfConfigJson(model)));
    writeFileSync(join(dir, 'model.safetensors'), safetensors(model.tensors, 'BF16'));
    writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(model.tokenizerJson));
    const out = join(dir, 'model.gguf');
    const run = spawnSync(process.execPath, [MAIN, 'export-gguf', '--model', dir, '--out', out], { encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
    // BF16 keeps the top 16 bits of each f32.
    const bf16 = (data: Float32Array) => data.map((v) => new Float32Array(Uint32Array.of(new Uint32Array(Float32Array.of(v).buffer)[0] & 0xffff0000).buffer)[0]);
    const expected = hfToGguf({ ...model, tensors: model.tensors.map((t) => ({ ...t, data: bf16(t.data) })) });
    const bytes = new Uint8Array(readFileSync(out));
    const header = readGgufHeader(bytes, out);
    for (const t of expected.tensors) assert.deepEqual(readGgufTensorF32(bytes, header, t.name), t.data, t.name);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('prl export-gguf --quant f16|q8_0 writes the file hfToGguf + writeGguf give; an unknown type is refused naming --quant', () => {
  const dir = mkdtempSync(join(tmpdir(), 'prl-export-'));
  try {
    const model = tinyModel(tinyConfig('qwen2'), 33);
    writeFileSync(join(dir, 'config.json'), JSON.stringify(hfConfigJson(model)));
    writeFileSync(join(dir, 'model.safetensors'), safetensors(model.tensors, 'F32'));
    writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(model.tokenizerJson));
    for (const quant of ['f16', 'q8_0'] as const) {
      const out = join(dir, `${quant}.gguf`);
      const run = spawnSync(process.execPath, [MAIN, 'export-gguf', '--model', dir, '--out', out, '--quant', quant], { encoding: 'utf8' });
      assert.equal(run.status, 0, run.stderr);
      assert.match(run.stdout, new RegExp(`\\(qwen2, ${quant}, `));
      const expected = hfToGguf(model, quant);
      assert.ok(expected.tensors.some((t) => t.type === quant) && expected.tensors.some((t) => t.type === 'f32'));
      assert.deepEqual(new Uint8Array(readFileSync(out)), writeGguf(expected.metadata, expected.tensors));
    }
    const bad = spawnSync(process.execPath, [MAIN, 'export-gguf', '--model', dir, '--out', join(dir, 'x.gguf'), '--quant', 'q4_0'], { encoding: 'utf8' });
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /--quant: "q4_0" is not one of f32, f16, q8_0/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
