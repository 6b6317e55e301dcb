// PEFT adapter folders against a reader and writer written in this file: an adapter "made elsewhere"
// (BF16 and F32 tensors, `.default` names, its own alpha and targets) is merged here in float64 into a
// plain HF folder, and prl's base + adapter must give that folder's log-probs. Then prl's own writer
// (names, shapes, config fields loaders need), the merge command's function, and refusals by name.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FallbackKernels } from '../../src/engine/kernels/fallback.js';
import { loadModel, mergeAdapterFolder } from '../../src/engine/io.js';
import { LoraAdapter } from '../../src/engine/lora.js';
import { Arena } from '../../src/engine/memory.js';
import type { LlamaModel } from '../../src/engine/model.js';
import { loadPeftAdapter, savePeftAdapter } from '../../src/engine/peft.js';
import { Rng } from '../../src/util/rng.js';
import { makeTinyModelFolder } from '../helpers/model-folder.js';

type Dtype = 'F32' | 'BF16';
interface RawTensor {
  dtype: Dtype;
  shape: number[];
  values: Float64Array;
}

/** Writes a safetensors file by hand; BF16 keeps the top 16 bits of each float32 (values are chosen representable). */
function writeRaw(path: string, tensors: Record<string, RawTensor>): void {
  const header: Record<string, unknown> = {};
  const chunks: Buffer[] = [];
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    const bytes = Buffer.alloc(t.values.length * (t.dtype === 'F32' ? 4 : 2));
    t.values.forEach((v, i) => {
      if (t.dtype === 'F32') bytes.writeFloatLE(v, i * 4);
      else bytes.writeUInt16LE(new Uint32Array(Float32Array.of(v).buffer)[0] >>> 16, i * 2);
    });
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes.length] };
    chunks.push(bytes);
    offset += bytes.length;
  }
  const json = Buffer.from(JSON.stringify(header));
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(json.length));
  writeFileSync(path, Buffer.concat([length, json, ...chunks]));
}

/** Reads every tensor of a safetensors file into float64 by hand. */
function readRaw(path: string): Map<string, RawTensor> {
  const buf = readFileSync(path);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<string, { dtype: Dtype; shape: number[]; data_offsets: [number, number] }>;
  const out = new Map<string, RawTensor>();
  for (const [name, e] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const start = 8 + n + e.data_offsets[0];
    const count = e.shape.reduce((a, b) => a * b, 1);
    const values = new Float64Array(count);
    for (let i = 0; i < count; i++) {
      if (e.dtype === 'F32') values[i] = buf.readFloatLE(start + 4 * i);
      else values[i] = new Float32Array(Uint32Array.of(buf.readUInt16LE(start + 2 * i) << 16).buffer)[0];
    }
    out.set(name, { dtype: e.dtype, shape: e.shape, values });
  }
  return out;
}

/** Quantised to bf16 by truncation, so that the value written is exactly the value read back. */
const bf16 = (x: number) => new Float32Array(Uint32Array.of(new Uint32Array(Float32Array.of(x).buffer)[0] & 0xffff0000).buffer)[0];

const MODULES = { q_proj: 'self_attn', v_proj: 'self_attn', up_proj: 'mlp', down_proj: 'mlp' } as const;

/** A PEFT folder as another tool would write it for the tiny preset: rank 4, alpha 6, four targets. */
function foreignAdapter(dir: string, config: Record<string, unknown> = {}, tensors?: (t: Record<string, RawTensor>) => void): string {
  mkdirSync(dir, { recursive: true });
  const rng = new Rng(21);
  const r = 4, C = 64, I = 192;
  const shapes: Record<string, [number, number]> = { q_proj: [64, C], v_proj: [32, C], up_proj: [I, C], down_proj: [C, I] };
  const raw: Record<string, RawTensor> = {};
  for (let l = 0; l < 2; l++) {
    for (const [module, parent] of Object.entries(MODULES)) {
      const [out, inDim] = shapes[module];
      const prefix = `base_model.model.model.layers.${l}.${parent}.${module}`;
      raw[`${prefix}.lora_A.default.weight`] = { dtype: 'BF16', shape: [r, inDim], values: Float64Array.from({ length: r * inDim }, () => bf16(0.3 * rng.normal())) };
      raw[`${prefix}.lora_B.default.weight`] = { dtype: 'F32', shape: [out, r], values: Float64Array.from({ length: out * r }, () => Math.fround(0.3 * rng.normal())) };
    }
  }
  tensors?.(raw);
  writeRaw(join(dir, 'adapter_model.safetensors'), raw);
  writeFileSync(join(dir, 'adapter_config.json'), JSON.stringify({ peft_type: 'LORA', r, lora_alpha: 6, target_modules: Object.keys(MODULES), bias: 'none', task_type: 'CAUSAL_LM', ...config }));
  return dir;
}

const engine = () => ({ arena: new Arena(0), kernels: new FallbackKernels() });
const SEQUENCES = [[0, 40, 41, 42, 15, 70, 33], [0, 66, 67, 2, 90, 91, 12, 13, 50]];

function logprobs(model: LlamaModel): Float32Array {
  const T = SEQUENCES[0].length - 1;
  const tokens = Int32Array.from(SEQUENCES[0].slice(0, T)), targets = Int32Array.from(SEQUENCES[0].slice(1));
  const first = Float32Array.from(model.forward(tokens, targets, 1, T));
  const T2 = SEQUENCES[1].length - 1;
  const second = model.forward(Int32Array.from(SEQUENCES[1].slice(0, T2)), Int32Array.from(SEQUENCES[1].slice(1)), 1, T2);
  return Float32Array.of(...first, ...second);
}

function assertClose(actual: Float32Array, expected: Float32Array, tol: number, what: string): number {
  let worst = 0;
  actual.forEach((x, i) => (worst = Math.max(worst, Math.abs(x - expected[i]))));
  assert.ok(worst < tol, `${what}: worst difference ${worst}`);
  return worst;
}

test('a PEFT folder made elsewhere (BF16 + F32, .default names) gives the log-probs of W + scale · B A merged in float64 here', () => {
  const base = makeTinyModelFolder(31);
  const root = mkdtempSync(join(tmpdir(), 'prl-peft-'));
  const adapterDir = foreignAdapter(join(root, 'adapter'));

  // Independent merge: base and adapter read by hand, merged in float64, written by hand.
  const merged = join(root, 'merged');
  mkdirSync(merged);
  for (const f of ['config.json', 'tokenizer.json']) copyFileSync(join(base, f), join(merged, f));
  const weights = readRaw(join(base, 'model.safetensors'));
  const adapter = readRaw(join(adapterDir, 'adapter_model.safetensors'));
  const scale = 6 / 4;
  for (const [name, A] of adapter) {
    if (!name.includes('lora_A')) continue;
    const B = adapter.get(name.replace('lora_A', 'lora_B'))!;
    const W = weights.get(name.replace('base_model.model.', '').replace('.lora_A.default', ''))!;
    const [r, inDim] = A.shape, out = B.shape[0];
    for (let o = 0; o < out; o++) for (let i = 0; i < inDim; i++) for (let j = 0; j < r; j++) W.values[o * inDim + i] += scale * B.values[o * r + j] * A.values[j * inDim + i];
  }
  writeRaw(join(merged, 'model.safetensors'), Object.fromEntries([...weights].map(([name, t]) => [name, { ...t, dtype: 'F32' as const }])));

  const expected = logprobs(loadModel(merged, engine(), { trainable: false }).model);
  const { model } = loadModel(base, engine(), { adapter: adapterDir });
  assert.equal(model.trainable, false, 'the base under an adapter is frozen');
  const adapted = logprobs(model);
  assertClose(adapted, expected, 2e-4, 'adapter vs independent merge');
  model.adapterEnabled = false;
  const plain = logprobs(model);
  assert.ok(plain.some((x, i) => Math.abs(x - expected[i]) > 1e-2), 'the adapter changes the model');
  assertClose(plain, logprobs(loadModel(base, engine(), { trainable: false }).model), 1e-7, 'adapter disabled vs base');

  // prl's merge command function gives the same folder's numbers.
  const prlMerged = join(root, 'prl-merged');
  mergeAdapterFolder(base, adapterDir, prlMerged);
  mergeAdapterFolder(base, adapterDir, prlMerged); // replaces an existing folder
  assertClose(logprobs(loadModel(prlMerged, engine(), { trainable: false }).model), expected, 2e-5, 'prl merge vs independent merge');
});

test('savePeftAdapter writes the PEFT layout (names, shapes, config fields) and loads back bit-identical', () => {
  const base = makeTinyModelFolder(32);
  const { model } = loadModel(base, engine(), { trainable: false });
  const arena = new Arena(0);
  const adapter = new LoraAdapter(model.config, arena, { rank: 3, rslora: true, targets: ['k', 'o', 'gate'] });
  adapter.initRandom(new Rng(5));
  for (const p of adapter.parameters()) if (p.name.includes('lora_B')) p.data.forEach((_, i) => (p.data[i] = 0.01 * (i % 7)));
  const dir = join(mkdtempSync(join(tmpdir(), 'prl-peft-')), 'out');
  savePeftAdapter(dir, adapter, { baseModel: base });

  const config = JSON.parse(readFileSync(join(dir, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
  assert.deepEqual(
    { peft_type: config.peft_type, r: config.r, lora_alpha: config.lora_alpha, use_rslora: config.use_rslora, target_modules: config.target_modules, bias: config.bias, task_type: config.task_type, base: config.base_model_name_or_path, dropout: config.lora_dropout, fan: config.fan_in_fan_out, inference: config.inference_mode },
    { peft_type: 'LORA', r: 3, lora_alpha: 6, use_rslora: true, target_modules: ['k_proj', 'o_proj', 'gate_proj'], bias: 'none', task_type: 'CAUSAL_LM', base, dropout: 0, fan: false, inference: true },
  );
  const raw = readRaw(join(dir, 'adapter_model.safetensors'));
  assert.equal(raw.size, 2 * 3 * 2);
  assert.deepEqual(raw.get('base_model.model.model.layers.1.self_attn.o_proj.lora_A.weight')!.shape, [3, 64]);
  assert.deepEqual(raw.get('base_model.model.model.layers.1.self_attn.o_proj.lora_B.weight')!.shape, [64, 3]);
  assert.deepEqual(raw.get('base_model.model.model.layers.0.mlp.gate_proj.lora_B.weight')!.shape, [192, 3]);
  assert.deepEqual(raw.get('base_model.model.model.layers.0.self_attn.k_proj.lora_A.weight')!.values, Float64Array.from(adapter.layers[0].k!.a));

  const loaded = loadPeftAdapter(dir, model.config, new Arena(0));
  assert.deepEqual(loaded.config, adapter.config);
  assert.deepEqual(loaded.weights, adapter.weights);
});

test('bad PEFT folders are refused naming the tensor or field', () => {
  const { config } = loadModel(makeTinyModelFolder(33), engine(), { trainable: false }).model;
  const root = mkdtempSync(join(tmpdir(), 'prl-peft-'));
  let n = 0;
  const refused = (pattern: RegExp, cfg: Record<string, unknown> = {}, tensors?: (t: Record<string, RawTensor>) => void) =>
    assert.throws(() => loadPeftAdapter(foreignAdapter(join(root, `a${n++}`), cfg, tensors), config, new Arena(0)), pattern);

  refused(/layers\.1\.mlp\.down_proj\.lora_B\.default\.weight has shape \[64, 5\], the base model needs \[64, 4\]/, {}, (t) => {
    t['base_model.model.model.layers.1.mlp.down_proj.lora_B.default.weight'] = { dtype: 'F32', shape: [64, 5], values: new Float64Array(320) };
  });
  refused(/layers\.0\.self_attn\.v_proj\.lora_A\.weight is missing/, {}, (t) => {
    delete t['base_model.model.model.layers.0.self_attn.v_proj.lora_A.default.weight'];
  });
  refused(/lm_head\.lora_A\.weight is not a LoRA matrix/, {}, (t) => {
    t['base_model.model.lm_head.lora_A.weight'] = { dtype: 'F32', shape: [4, 64], values: new Float64Array(256) };
  });
  refused(/target_modules: "embed_tokens" is not a linear module/, { target_modules: ['q_proj', 'embed_tokens'] });
  refused(/adapter_config\.json: r: expected a positive integer, got 0/, { r: 0 });
  refused(/rank_pattern: .* is not supported/, { rank_pattern: { q_proj: 8 } });
  refused(/use_dora: true is not supported/, { use_dora: true });
  const broken = foreignAdapter(join(root, 'broken'));
  writeFileSync(join(broken, 'adapter_config.json'), '{"r": 4,');
  assert.throws(() => loadPeftAdapter(broken, config, new Arena(0)), /adapter_config\.json: not valid JSON/);
});
