// F16 and Q8_0 GGUF tensors: exact binary16 rounding, ggml's Q8_0 block on a hand-worked example, which
// tensors an export quantizes (as convert_hf_to_gguf.py does), and llama.cpp loading f16 / q8_0 exports
// with log-probs close to the f32 export's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModelFolder } from '../../src/engine/checkpoint.js';
import {
  GGML_TYPE_F16,
  GGML_TYPE_F32,
  GGML_TYPE_Q8_0,
  f16BitsToF32,
  f32ToF16Bits,
  readGgufHeader,
  readGgufTensor,
  writeGguf,
} from '../../src/engine/gguf.js';
import { exportGguf, ggufTensorType, hfToGguf, type HfModel } from '../../src/engine/gguf-export.js';
import { readJsonFile } from '../../src/util/fs.js';
import { PrlError } from '../../src/util/errors.js';
import { Rng } from '../../src/util/rng.js';
import { instructFolder } from '../helpers/instruct-model.js';

const noMetadata = () => new Map([['general.alignment', { type: 'uint32' as const, value: 32 }]]);

test('f16: representable values round-trip exactly; others round to nearest even, overflow to infinity', () => {
  const exact = [0, -0, 1, -2, 0.5, 1 + 2 ** -10, 65504, -65504, 2 ** -14, 2 ** -24, 3 * 2 ** -24, 1000.5, 0.333251953125];
  const bytes = writeGguf(noMetadata(), [{ name: 'h', shape: [exact.length], data: Float32Array.from(exact), type: 'f16' }]);
  const header = readGgufHeader(bytes);
  assert.equal(header.tensors[0].ggmlType, GGML_TYPE_F16);
  assert.deepEqual(Array.from(readGgufTensor(bytes, header, 'h')), exact);
  assert.ok(Object.is(readGgufTensor(bytes, header, 'h')[1], -0));
  // Hand-worked bits: 1 = 0x3c00, -2 = 0xc000, 65504 = 0x7bff, 2^-24 = 0x0001 (smallest subnormal).
  assert.deepEqual([1, -2, 65504, 2 ** -24].map(f32ToF16Bits), [0x3c00, 0xc000, 0x7bff, 0x0001]);
  // Ties go to the even mantissa; halfway past the largest finite value is infinity; half the smallest subnormal is 0.
  assert.equal(f16BitsToF32(f32ToF16Bits(1 + 2 ** -11)), 1);
  assert.equal(f16BitsToF32(f32ToF16Bits(1 + 3 * 2 ** -11)), 1 + 2 ** -9);
  assert.equal(f16BitsToF32(f32ToF16Bits(1 + 2 ** -11 + 2 ** -20)), 1 + 2 ** -10);
  assert.equal(f16BitsToF32(f32ToF16Bits(65520)), Infinity);
  assert.equal(f16BitsToF32(f32ToF16Bits(2 ** -25)), 0);
  assert.equal(f16BitsToF32(f32ToF16Bits(3 * 2 ** -26)), 2 ** -24);
  assert.ok(Number.isNaN(f16BitsToF32(f32ToF16Bits(NaN))));
});

test('q8_0: a hand-worked block (d = amax / 127, q = round half away from zero) and the 34-byte layout', () => {
  // Block 0: amax 127 so d = 1 and q = round(x). Block 1: all zero (d = 0, q = 0). Block 2: amax 2.54, d = 0.02.
  const block0 = [127, -63.5, 1.5, 0.49, -0.5, 2.5, -2.5, 0.51, ...Array.from({ length: 24 }, (_, i) => i - 12)];
  const block2 = Array.from({ length: 32 }, (_, i) => (i === 7 ? -2.54 : 0.01 * i));
  const data = Float32Array.from([...block0, ...new Array<number>(32).fill(0), ...block2]);
  const bytes = writeGguf(noMetadata(), [{ name: 'q', shape: [3, 32], data, type: 'q8_0' }]);
  const header = readGgufHeader(bytes);
  assert.equal(header.tensors[0].ggmlType, GGML_TYPE_Q8_0);
  const view = new DataView(bytes.buffer, bytes.byteOffset + header.dataOffset, 3 * 34);
  assert.equal(view.getUint16(0, true), 0x3c00, 'd = 1 stored as f16');
  const q0 = Array.from({ length: 32 }, (_, i) => view.getInt8(2 + i));
  assert.deepEqual(q0.slice(0, 8), [127, -64, 2, 0, -1, 3, -3, 1]);
  assert.deepEqual(q0.slice(8), Array.from({ length: 24 }, (_, i) => i - 12));
  assert.equal(view.getUint16(34, true), 0);
  for (let i = 0; i < 32; i++) assert.equal(view.getInt8(36 + i), 0);
  const d2 = f16BitsToF32(view.getUint16(68, true));
  assert.ok(Math.abs(d2 - 0.02) < 0.02 * 2 ** -11, `d = ${d2}`);
  assert.equal(view.getInt8(70 + 7), -127);
  assert.equal(view.getInt8(70 + 31), Math.round(0.31 / Math.fround(0.02)), 'q uses the f32 d (16), not the f16 one');
  // Dequantized: d (f16) * q.
  const back = readGgufTensor(bytes, header, 'q');
  assert.deepEqual(Array.from(back.subarray(0, 8)), [127, -64, 2, 0, -1, 3, -3, 1]);
  for (let i = 0; i < 32; i++) assert.equal(back[64 + i], Math.fround(d2 * view.getInt8(70 + i)));

  assert.throws(() => writeGguf(noMetadata(), [{ name: 'odd', shape: [2, 48], data: new Float32Array(96), type: 'q8_0' }]), (err: Error) => err instanceof PrlError && /odd: q8_0 needs rows of a multiple of 32/.test(err.message));
});

test('export types: 1-D tensors stay f32, matrices take the type, q8_0 falls back to f16 on rows not a multiple of 32', () => {
  assert.equal(ggufTensorType([64], 'q8_0'), 'f32');
  assert.equal(ggufTensorType([64, 32], 'q8_0'), 'q8_0');
  assert.equal(ggufTensorType([64, 48], 'q8_0'), 'f16');
  assert.equal(ggufTensorType([64, 48], 'f16'), 'f16');
  assert.equal(ggufTensorType([64, 48], 'f32'), 'f32');
  const root = mkdtempSync(join(tmpdir(), 'prl-gguf-quant-'));
  try {
    const model = readFolder(instructFolder(root).dir);
    const { metadata, tensors } = hfToGguf(model, 'q8_0');
    assert.equal(metadata.get('general.file_type')?.value, 7); // LLAMA_FTYPE_MOSTLY_Q8_0
    const types = new Map(tensors.map((t) => [t.name, t.type]));
    assert.equal(types.get('token_embd.weight'), 'q8_0');
    assert.equal(types.get('blk.0.ffn_down.weight'), 'q8_0');
    assert.equal(types.get('blk.0.attn_norm.weight'), 'f32');
    assert.equal(types.get('blk.0.attn_q.bias'), 'f32');
    assert.equal(hfToGguf(model, 'f16').metadata.get('general.file_type')?.value, 1);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

function readFolder(dir: string): HfModel {
  const folder = loadModelFolder(dir);
  try {
    return { config: folder.config, tensors: folder.readAllTensors(), tokenizerJson: readJsonFile(join(dir, 'tokenizer.json')) };
  } finally {
    folder.close();
  }
}

test('llama.cpp loads f16 and q8_0 exports; log-probs stay close to the f32 export', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'prl-gguf-quant-'));
  try {
    const model = readFolder(instructFolder(root).dir);
    const rng = new Rng(5);
    const tokens = Array.from({ length: 48 }, () => rng.int(model.config.vocabSize - 7));
    const scores = new Map<string, number[]>();
    for (const quant of ['f32', 'f16', 'q8_0'] as const) {
      const path = join(root, `${quant}.gguf`);
      exportGguf(model, path, quant);
      const header = readGgufHeader(readFileBytes(path));
      const embd = header.tensors.find((x) => x.name === 'token_embd.weight')!;
      assert.equal(embd.ggmlType, { f32: GGML_TYPE_F32, f16: GGML_TYPE_F16, q8_0: GGML_TYPE_Q8_0 }[quant]);
      let policy: import('../../src/policy/llamacpp.js').LlamaCppPolicy;
      try {
        const { LlamaCppPolicy } = await import('../../src/policy/llamacpp.js');
        policy = await LlamaCppPolicy.load({ modelPath: path, contextSize: 64, threads: 1 });
      } catch (err) {
        return t.skip(`node-llama-cpp cannot run here: ${(err as Error).message}`);
      }
      try {
        const [scored] = await policy.score([{ prompt: tokens.slice(0, 1), continuation: tokens.slice(1) }]);
        scores.set(quant, scored);
      } finally {
        await policy.close();
      }
    }
    const f32 = scores.get('f32')!;
    const diff = (quant: string): { mean: number; max: number } => {
      const d = scores.get(quant)!.map((v, i) => Math.abs(v - f32[i]));
      return { mean: d.reduce((a, b) => a + b, 0) / d.length, max: Math.max(...d) };
    };
    const f16 = diff('f16');
    const q8 = diff('q8_0');
    t.diagnostic(`|log p - log p(f32)|: f16 mean ${f16.mean.toExponential(2)} max ${f16.max.toExponential(2)}; q8_0 mean ${q8.mean.toExponential(2)} max ${q8.max.toExponential(2)}`);
    // Measured on this model (weights std 0.1, hidden 32, 47 tokens): f16 mean 3.2e-4, max 1.2e-3; q8_0 mean
    // 8.1e-3, max 3.1e-2. The bounds leave about 3x room.
    assert.ok(f16.max < 5e-3 && f16.mean < 1e-3, `f16 mean ${f16.mean} max ${f16.max}`);
    assert.ok(q8.max < 0.1 && q8.mean < 3e-2, `q8_0 mean ${q8.mean} max ${q8.max}`);
    assert.ok(q8.mean > 0 && f16.mean > 0, 'the quantized files are not the f32 one');
    const spread = Math.max(...f32) - Math.min(...f32);
    assert.ok(spread > 1, `log-probs vary (${spread}), so a broken file would show`);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

function readFileBytes(path: string): Uint8Array {
  return new Uint8Array(readFileSync(path));
}
