/**
 * `prl export-gguf --model DIR --out FILE.gguf`: writes an HF model folder (config.json,
 * model.safetensors, tokenizer.json) as an F32 GGUF that llama.cpp and node-llama-cpp load.
 */
import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ModelConfig } from '../../engine/config.js';
import { exportGguf, type HfModel } from '../../engine/gguf-export.js';
import { PrlError, describeValue, inputError } from '../../util/errors.js';
import { readJsonFile } from '../../util/fs.js';

/** HF config.json -> ModelConfig with HF's defaults; rope scaling is not supported by the export. */
export function modelConfigFromHf(json: unknown, source: string): ModelConfig {
  if (json === null || typeof json !== 'object') throw inputError(source, 'not a JSON object');
  const c = json as Record<string, unknown>;
  const int = (key: string, fallback?: number): number => {
    const v = c[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) throw inputError(`${source}: ${key}`, `expected a positive integer, got ${describeValue(v)}`);
    return v;
  };
  const num = (key: string, fallback: number): number => {
    const v = c[key] ?? fallback;
    if (typeof v !== 'number' || !(v > 0)) throw inputError(`${source}: ${key}`, `expected a positive number, got ${describeValue(v)}`);
    return v;
  };
  const modelType = c.model_type;
  if (modelType !== 'llama' && modelType !== 'qwen2') throw inputError(`${source}: model_type`, `expected "llama" or "qwen2", got ${describeValue(modelType)}`);
  if (c.rope_scaling !== undefined && c.rope_scaling !== null) throw inputError(`${source}: rope_scaling`, 'is not supported');
  const hiddenSize = int('hidden_size');
  const numAttentionHeads = int('num_attention_heads');
  const eos = c.eos_token_id;
  return {
    modelType,
    vocabSize: int('vocab_size'),
    hiddenSize,
    intermediateSize: int('intermediate_size'),
    numHiddenLayers: int('num_hidden_layers'),
    numAttentionHeads,
    numKeyValueHeads: int('num_key_value_heads', numAttentionHeads),
    headDim: int('head_dim', hiddenSize / numAttentionHeads),
    maxPositionEmbeddings: int('max_position_embeddings'),
    rmsNormEps: num('rms_norm_eps', 1e-6),
    ropeTheta: num('rope_theta', 10000),
    attentionBias: modelType === 'qwen2' ? true : c.attention_bias === true,
    tieWordEmbeddings: c.tie_word_embeddings === true,
    bosTokenId: typeof c.bos_token_id === 'number' ? c.bos_token_id : undefined,
    eosTokenId: typeof eos === 'number' || Array.isArray(eos) ? (eos as number | number[]) : undefined,
  };
}

/** 16-bit IEEE half -> number. */
function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac === 0 ? sign * Infinity : NaN;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/**
 * Tensors of a safetensors file (u64 header length, JSON header, raw little-endian data) as F32;
 * F16 and BF16 are widened exactly.
 */
export function readSafetensorsF32(path: string): HfModel['tensors'] {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw new PrlError(`${path}: cannot read (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  if (bytes.length < 8) throw inputError(path, 'too short for a safetensors file');
  const headerLength = Number(bytes.readBigUInt64LE(0));
  if (8 + headerLength > bytes.length) throw inputError(path, `header length ${headerLength} runs past the end of the file`);
  let header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  try {
    header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString('utf8')) as typeof header;
  } catch (err) {
    throw inputError(path, `header is not valid JSON (${(err as Error).message})`);
  }
  const base = 8 + headerLength;
  const tensors: HfModel['tensors'] = [];
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const numel = info.shape.reduce((a, b) => a * b, 1);
    const [start, end] = info.data_offsets;
    const width = info.dtype === 'F32' ? 4 : info.dtype === 'F16' || info.dtype === 'BF16' ? 2 : 0;
    if (width === 0) throw inputError(`${path}: ${name}`, `dtype ${info.dtype} is not supported (F32, F16, BF16)`);
    if (end - start !== numel * width || base + end > bytes.length) {
      throw inputError(`${path}: ${name}`, `data_offsets [${start}, ${end}] do not hold ${numel} ${info.dtype} values`);
    }
    const data = new Float32Array(numel);
    const at = base + start;
    const bits = new Uint32Array(1);
    const asFloat = new Float32Array(bits.buffer);
    for (let i = 0; i < numel; i++) {
      if (info.dtype === 'F32') data[i] = bytes.readFloatLE(at + 4 * i);
      else if (info.dtype === 'BF16') {
        bits[0] = bytes.readUInt16LE(at + 2 * i) << 16; // bf16 is the top half of an f32
        data[i] = asFloat[0];
      }
      else data[i] = halfToFloat(bytes.readUInt16LE(at + 2 * i));
    }
    tensors.push({ name, shape: info.shape, data });
  }
  return tensors;
}

/** Loads what the export needs from an HF model folder. */
export function readModelFolderForExport(dir: string): HfModel {
  const configPath = join(dir, 'config.json');
  return {
    config: modelConfigFromHf(readJsonFile(configPath), configPath),
    tensors: readSafetensorsF32(join(dir, 'model.safetensors')),
    tokenizerJson: readJsonFile(join(dir, 'tokenizer.json')),
  };
}

export function register(program: Command): void {
  program
    .command('export-gguf')
    .description('Write an HF model folder (config.json, model.safetensors, tokenizer.json) as an F32 GGUF for llama.cpp.')
    .requiredOption('--model <dir>', 'model folder')
    .requiredOption('--out <file>', 'GGUF file to write')
    .action((options: { model: string; out: string }) => {
      const model = readModelFolderForExport(options.model);
      const bytes = exportGguf(model, options.out);
      process.stdout.write(`wrote ${options.out} (${model.config.modelType}, ${model.tensors.length} tensors, ${bytes} bytes)\n`);
    });
}
