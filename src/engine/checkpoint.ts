/**
 * Hugging Face model folders: config.json <-> ModelConfig, model.safetensors (single or sharded) into
 * the engine's tensors, and saving a folder that HF transformers (`LlamaForCausalLM` /
 * `Qwen2ForCausalLM`) loads as is.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { PrlError, describeValue, inputError } from '../util/errors.js';
import { readJsonFile, writeFolderAtomic, writeJsonAtomic } from '../util/fs.js';
import type { ModelConfig, ModelType } from './config.js';
import { type NamedTensor, type TensorSource, isReadableDtype, numElements, openSafetensorsFolder, writeSafetensors } from './safetensors.js';
import { type Tokenizer, loadTokenizer, tokenizerConfigJson } from './tokenizer.js';

export type { NamedTensor } from './safetensors.js';

const ARCHITECTURES: Record<ModelType, string> = { llama: 'LlamaForCausalLM', qwen2: 'Qwen2ForCausalLM' };

/**
 * Validates an HF config.json (`LlamaConfig` / `Qwen2Config`) and maps it to a ModelConfig, with HF's
 * defaults for omitted fields. `source` names the file in errors. Features the engine does not
 * implement (rope_scaling, mlp_bias, sliding windows, other activations) are errors, not silently
 * different numbers.
 */
export function parseHfConfig(json: unknown, source: string): ModelConfig {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw inputError(source, 'not a JSON object');
  const c = json as Record<string, unknown>;
  const at = (field: string): string => `${source}: ${field}`;

  const modelType = c.model_type;
  if (modelType !== 'llama' && modelType !== 'qwen2') {
    throw new PrlError(`${at('model_type')}: expected "llama" or "qwen2", got ${describeValue(modelType)}`);
  }
  const positiveInt = (field: string, fallback?: number): number => {
    const v = c[field] ?? fallback;
    if (v === undefined) throw new PrlError(`${at(field)}: required field is missing`);
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) throw new PrlError(`${at(field)}: expected a positive integer, got ${describeValue(v)}`);
    return v;
  };
  const positiveNumber = (field: string, fallback: number): number => {
    const v = c[field] ?? fallback;
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new PrlError(`${at(field)}: expected a positive number, got ${describeValue(v)}`);
    return v;
  };
  const bool = (field: string, fallback: boolean): boolean => {
    const v = c[field] ?? fallback;
    if (typeof v !== 'boolean') throw new PrlError(`${at(field)}: expected true or false, got ${describeValue(v)}`);
    return v;
  };
  const unsupported = (field: string, ok: (v: unknown) => boolean, what: string): void => {
    if (c[field] !== undefined && !ok(c[field])) throw new PrlError(`${at(field)}: ${describeValue(c[field])} is not supported (${what})`);
  };

  const hiddenSize = positiveInt('hidden_size');
  const intermediateSize = positiveInt('intermediate_size');
  const numHiddenLayers = positiveInt('num_hidden_layers');
  const numAttentionHeads = positiveInt('num_attention_heads');
  const vocabSize = positiveInt('vocab_size');
  const numKeyValueHeads = positiveInt('num_key_value_heads', numAttentionHeads);
  if (numAttentionHeads % numKeyValueHeads !== 0) {
    throw new PrlError(`${at('num_key_value_heads')}: ${numKeyValueHeads} does not divide num_attention_heads ${numAttentionHeads}`);
  }
  if (c.head_dim === undefined && hiddenSize % numAttentionHeads !== 0) {
    throw new PrlError(`${at('hidden_size')}: ${hiddenSize} is not divisible by num_attention_heads ${numAttentionHeads} and head_dim is not given`);
  }
  const headDim = positiveInt('head_dim', hiddenSize / numAttentionHeads);
  if (headDim % 2 !== 0) throw new PrlError(`${at('head_dim')}: ${headDim} must be even for rotary embeddings`);

  unsupported('rope_scaling', (v) => v === null, 'only plain RoPE is implemented; rope_scaling must be null');
  unsupported('hidden_act', (v) => v === 'silu', 'only "silu" is implemented');
  unsupported('mlp_bias', (v) => v === false, 'MLP biases are not implemented');
  unsupported('use_sliding_window', (v) => v === false, 'sliding-window attention is not implemented');
  const eos = c.eos_token_id;
  if (eos !== undefined && eos !== null && !isTokenId(eos) && !(Array.isArray(eos) && eos.every(isTokenId))) {
    throw new PrlError(`${at('eos_token_id')}: expected a token id or a list of token ids, got ${describeValue(eos)}`);
  }
  const bos = c.bos_token_id;
  if (bos !== undefined && bos !== null && !isTokenId(bos)) throw new PrlError(`${at('bos_token_id')}: expected a token id, got ${describeValue(bos)}`);

  const config: ModelConfig = {
    modelType,
    vocabSize,
    hiddenSize,
    intermediateSize,
    numHiddenLayers,
    numAttentionHeads,
    numKeyValueHeads,
    headDim,
    maxPositionEmbeddings: positiveInt('max_position_embeddings', 2048),
    rmsNormEps: positiveNumber('rms_norm_eps', 1e-6),
    ropeTheta: positiveNumber('rope_theta', 10000),
    // Qwen2Attention always has q/k/v biases, whatever attention_bias says.
    attentionBias: modelType === 'qwen2' ? true : bool('attention_bias', false),
    tieWordEmbeddings: bool('tie_word_embeddings', false),
  };
  if (isTokenId(bos)) config.bosTokenId = bos;
  if (isTokenId(eos) || Array.isArray(eos)) config.eosTokenId = eos as number | number[];
  return config;
}

function isTokenId(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** The config.json for `config`: standard HF field names plus `architectures` and `torch_dtype`. */
export function toHfConfig(config: ModelConfig): Record<string, unknown> {
  const out: Record<string, unknown> = {
    architectures: [ARCHITECTURES[config.modelType]],
    model_type: config.modelType,
    vocab_size: config.vocabSize,
    hidden_size: config.hiddenSize,
    intermediate_size: config.intermediateSize,
    num_hidden_layers: config.numHiddenLayers,
    num_attention_heads: config.numAttentionHeads,
    num_key_value_heads: config.numKeyValueHeads,
    head_dim: config.headDim,
    max_position_embeddings: config.maxPositionEmbeddings,
    rms_norm_eps: config.rmsNormEps,
    rope_theta: config.ropeTheta,
    rope_scaling: null,
    hidden_act: 'silu',
    attention_dropout: 0.0,
    initializer_range: 0.02,
    tie_word_embeddings: config.tieWordEmbeddings,
    torch_dtype: 'float32',
    use_cache: true,
  };
  if (config.modelType === 'llama') {
    out.attention_bias = config.attentionBias;
    out.mlp_bias = false;
  } else {
    out.use_sliding_window = false;
    out.sliding_window = null;
    out.max_window_layers = config.numHiddenLayers;
  }
  if (config.bosTokenId !== undefined) out.bos_token_id = config.bosTokenId;
  if (config.eosTokenId !== undefined) out.eos_token_id = config.eosTokenId;
  return out;
}

/** Every tensor a model with `config` has, with HF names and (out, in) shapes, in HF's order. */
export function expectedTensors(config: ModelConfig): Array<{ name: string; shape: number[] }> {
  const { hiddenSize: C, intermediateSize: F, numAttentionHeads: H, numKeyValueHeads: KV, headDim: D, vocabSize: V } = config;
  const out = [{ name: 'model.embed_tokens.weight', shape: [V, C] }];
  for (let i = 0; i < config.numHiddenLayers; i++) {
    const p = `model.layers.${i}`;
    out.push({ name: `${p}.input_layernorm.weight`, shape: [C] });
    out.push({ name: `${p}.self_attn.q_proj.weight`, shape: [H * D, C] });
    out.push({ name: `${p}.self_attn.k_proj.weight`, shape: [KV * D, C] });
    out.push({ name: `${p}.self_attn.v_proj.weight`, shape: [KV * D, C] });
    if (config.attentionBias) {
      out.push({ name: `${p}.self_attn.q_proj.bias`, shape: [H * D] });
      out.push({ name: `${p}.self_attn.k_proj.bias`, shape: [KV * D] });
      out.push({ name: `${p}.self_attn.v_proj.bias`, shape: [KV * D] });
    }
    out.push({ name: `${p}.self_attn.o_proj.weight`, shape: [C, H * D] });
    // HF LlamaAttention: o_proj bias = attention_bias; Qwen2Attention: no o_proj bias.
    if (config.attentionBias && config.modelType === 'llama') out.push({ name: `${p}.self_attn.o_proj.bias`, shape: [C] });
    out.push({ name: `${p}.post_attention_layernorm.weight`, shape: [C] });
    out.push({ name: `${p}.mlp.gate_proj.weight`, shape: [F, C] });
    out.push({ name: `${p}.mlp.up_proj.weight`, shape: [F, C] });
    out.push({ name: `${p}.mlp.down_proj.weight`, shape: [C, F] });
  }
  out.push({ name: 'model.norm.weight', shape: [C] });
  if (!config.tieWordEmbeddings) out.push({ name: 'lm_head.weight', shape: [V, C] });
  return out;
}

const shapeText = (shape: readonly number[]): string => `[${shape.join(',')}]`;

/** Checks that `tensors` are exactly the expected set with the expected shapes; `where` names the source. */
function checkTensorSet(config: ModelConfig, tensors: readonly NamedTensor[], where: string): void {
  const byName = new Map(tensors.map((t) => [t.name, t]));
  for (const { name, shape } of expectedTensors(config)) {
    const t = byName.get(name);
    if (t === undefined) throw new PrlError(`${where}: tensor ${name} is missing`);
    if (shapeText(t.shape) !== shapeText(shape)) throw new PrlError(`${where}: tensor ${name} has shape ${shapeText(t.shape)}, expected ${shapeText(shape)}`);
  }
}

/**
 * Saves an HF model folder: config.json, model.safetensors (float32), generation_config.json and, with
 * a tokenizer, tokenizer.json and tokenizer_config.json. The folder is built beside `dir` and renamed
 * into place, so a reader never sees a half-written checkpoint (an existing `dir` is replaced).
 */
export function saveModelFolder(dir: string, config: ModelConfig, tensors: readonly NamedTensor[], tokenizer?: Tokenizer): void {
  checkTensorSet(config, tensors, `saveModelFolder(${dir})`);
  const expected = new Set(expectedTensors(config).map((t) => t.name));
  writeFolderAtomic(dir, (tmp) => {
    const hfConfig = toHfConfig(config);
    if (tokenizer !== undefined) {
      if (tokenizer.bosId !== undefined && config.bosTokenId === undefined) hfConfig.bos_token_id = tokenizer.bosId;
      if (tokenizer.eosId !== undefined && config.eosTokenId === undefined) hfConfig.eos_token_id = tokenizer.eosId;
    }
    writeJsonAtomic(join(tmp, 'config.json'), hfConfig);
    writeSafetensors(join(tmp, 'model.safetensors'), tensors.filter((t) => expected.has(t.name)), { format: 'pt' });
    const generation: Record<string, unknown> = {};
    if (hfConfig.bos_token_id !== undefined) generation.bos_token_id = hfConfig.bos_token_id;
    if (hfConfig.eos_token_id !== undefined) generation.eos_token_id = hfConfig.eos_token_id;
    writeJsonAtomic(join(tmp, 'generation_config.json'), generation);
    if (tokenizer !== undefined) {
      writeJsonAtomic(join(tmp, 'tokenizer.json'), tokenizer.toJSON());
      writeJsonAtomic(join(tmp, 'tokenizer_config.json'), tokenizerConfigJson(tokenizer));
    }
  });
}

/** An opened HF model folder. Call `close()` after `fillTensors`. */
export interface ModelFolder {
  dir: string;
  config: ModelConfig;
  /** The folder's tokenizer, or undefined when it has no tokenizer.json. */
  tokenizer: Tokenizer | undefined;
  /**
   * Fills each destination tensor from the checkpoint by name, checking first that every expected
   * tensor exists with the right shape. Extra tensors in the file (e.g. `rotary_emb.inv_freq`, or
   * `lm_head.weight` in a tied model) are ignored.
   */
  fillTensors(dest: readonly NamedTensor[]): void;
  /** Whether every matrix the model holds (embeddings, projections, lm_head) is stored as BF16. */
  storesBf16Matrices(): boolean;
  /** Every expected tensor (`expectedTensors` order) read into a fresh float32 array; extras are left out. */
  readAllTensors(): Array<{ name: string; shape: number[]; data: Float32Array }>;
  close(): void;
}

/** The eos_token_id(s) of a folder's generation_config.json; none without one. */
function generationEndIds(dir: string): number[] {
  const path = join(dir, 'generation_config.json');
  if (!existsSync(path)) return [];
  const json = readJsonFile(path);
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw inputError(path, 'not a JSON object');
  const eos = (json as Record<string, unknown>).eos_token_id;
  if (eos === undefined || eos === null) return [];
  if (isTokenId(eos)) return [eos];
  if (Array.isArray(eos) && eos.every(isTokenId)) return eos;
  throw inputError(`${path}: eos_token_id`, `expected a token id or a list of token ids, got ${describeValue(eos)}`);
}

/** Opens an HF model folder (config.json, model.safetensors or a sharded index, optional tokenizer). */
export function loadModelFolder(dir: string): ModelFolder {
  const configPath = join(dir, 'config.json');
  const config = parseHfConfig(readJsonFile(configPath), configPath);
  const generationEos = generationEndIds(dir);
  // HF's generate stops at generation_config.json's eos_token_id(s) (Qwen2.5-Instruct: <|im_end|> and <|endoftext|>).
  const ends = [...new Set([...generationEos, ...[config.eosTokenId ?? []].flat()])];
  if (ends.length > [config.eosTokenId ?? []].flat().length) config.eosTokenId = ends.length === 1 ? ends[0] : ends;
  const tokenizer = existsSync(join(dir, 'tokenizer.json')) ? loadTokenizer(dir) : undefined;
  // A tokenizer may have fewer tokens than the embedding (HF pads vocab_size), never more.
  if (tokenizer !== undefined && tokenizer.vocabSize > config.vocabSize) {
    throw inputError(join(dir, 'tokenizer.json'), `has ${tokenizer.vocabSize} tokens, more than ${configPath}: vocab_size = ${config.vocabSize}`);
  }
  const source = openSafetensorsFolder(dir);
  try {
    checkLayerCount(config, source, configPath);
    checkCheckpointTensors(config, source, dir);
  } catch (err) {
    source.close();
    throw err;
  }
  return {
    dir,
    config,
    tokenizer,
    fillTensors(dest: readonly NamedTensor[]): void {
      checkTensorSet(config, dest, `fillTensors: destination for ${dir}`);
      for (const t of dest) {
        if (source.entry(t.name) !== undefined) source.read(t.name, t.data);
      }
    },
    storesBf16Matrices: () => expectedTensors(config).every((t) => t.shape.length !== 2 || source.entry(t.name)?.dtype === 'BF16'),
    readAllTensors() {
      return expectedTensors(config).map(({ name, shape }) => {
        const data = new Float32Array(numElements(shape));
        source.read(name, data);
        return { name, shape, data };
      });
    },
    close: () => source.close(),
  };
}

/**
 * A layer count the checkpoint cannot hold is refused before the list of expected tensors is built:
 * num_hidden_layers 2^31 would otherwise exhaust memory listing names. Smaller shortfalls are left to
 * the per-tensor check, which names the missing tensor.
 */
function checkLayerCount(config: ModelConfig, source: TensorSource, configPath: string): void {
  const base = expectedTensors({ ...config, numHiddenLayers: 0 }).length;
  const layerTensors = config.numHiddenLayers * (expectedTensors({ ...config, numHiddenLayers: 1 }).length - base);
  const held = source.names().length;
  if (layerTensors > held) throw new PrlError(`${configPath}: num_hidden_layers ${config.numHiddenLayers} needs at least ${layerTensors} tensors, the checkpoint holds ${held}`);
}

/** Every expected tensor must be in the checkpoint with the expected shape; errors name the file. */
function checkCheckpointTensors(config: ModelConfig, source: TensorSource, dir: string): void {
  const defaultFile = existsSync(join(dir, 'model.safetensors.index.json')) ? join(dir, 'model.safetensors.index.json') : join(dir, 'model.safetensors');
  for (const { name, shape } of expectedTensors(config)) {
    const e = source.entry(name);
    if (e === undefined) throw new PrlError(`${defaultFile}: tensor ${name} is missing`);
    if (shapeText(e.shape) !== shapeText(shape) || numElements(e.shape) !== numElements(shape)) {
      throw new PrlError(`${e.path}: tensor ${name} has shape ${shapeText(e.shape)}, expected ${shapeText(shape)}`);
    }
    if (!isReadableDtype(e.dtype)) throw new PrlError(`${e.path}: tensor ${name} has unsupported dtype ${e.dtype} (supported: F32, F16, BF16)`);
  }
}
