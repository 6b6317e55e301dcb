/**
 * Where a `LlamaModel`'s parameters live: HF names and shapes in state_dict order, their grouping by
 * layer, the RoPE tables and config validation.
 */
import { inputError } from '../util/errors.js';
import type { ModelConfig } from './config.js';
import type { WeightArray } from './bf16.js';
import type { Allocator } from './memory.js';

/**
 * The tensors of one decoder layer (weights, or their gradients: same structure). Matrices are `M`:
 * float32, or for the weights of a model held in bfloat16 (LlamaModelOptions.bf16Weights) possibly bf16 bits.
 */
export interface LayerTensors<M extends WeightArray = Float32Array> {
  inputNorm: Float32Array; // (C)
  wq: M; // (nHead*headDim, C)
  bq: Float32Array | null; // (nHead*headDim)
  wk: M; // (nKvHead*headDim, C)
  bk: Float32Array | null; // (nKvHead*headDim)
  wv: M; // (nKvHead*headDim, C)
  bv: Float32Array | null; // (nKvHead*headDim)
  wo: M; // (C, nHead*headDim)
  bo: Float32Array | null; // (C): HF Llama's o_proj bias (attention_bias); Qwen2 has none
  postNorm: Float32Array; // (C)
  wGate: M; // (I, C)
  wUp: M; // (I, C)
  wDown: M; // (C, I)
}

/** The whole model's tensors (weights, or their gradients); lmHead aliases embed when tied. */
export interface ModelTensors<M extends WeightArray = Float32Array> {
  embed: M; // (V, C)
  layers: LayerTensors<M>[];
  norm: Float32Array; // (C)
  lmHead: M; // (V, C)
}

/** Whether a parameter is a matrix (held in bfloat16 by a bf16 model); vectors (norms, biases) stay float32. */
export function isMatrix(spec: { shape: readonly number[] }): boolean {
  return spec.shape.length === 2;
}

/** Parameter names and shapes in HF state_dict order. */
export function parameterSpecs(config: ModelConfig): Array<{ name: string; shape: number[] }> {
  const { hiddenSize: C, intermediateSize: I, numAttentionHeads: nH, numKeyValueHeads: nKv, headDim: hd, vocabSize: V } = config;
  const specs: Array<{ name: string; shape: number[] }> = [{ name: 'model.embed_tokens.weight', shape: [V, C] }];
  for (let l = 0; l < config.numHiddenLayers; l++) {
    const p = `model.layers.${l}`;
    specs.push({ name: `${p}.self_attn.q_proj.weight`, shape: [nH * hd, C] });
    if (config.attentionBias) specs.push({ name: `${p}.self_attn.q_proj.bias`, shape: [nH * hd] });
    specs.push({ name: `${p}.self_attn.k_proj.weight`, shape: [nKv * hd, C] });
    if (config.attentionBias) specs.push({ name: `${p}.self_attn.k_proj.bias`, shape: [nKv * hd] });
    specs.push({ name: `${p}.self_attn.v_proj.weight`, shape: [nKv * hd, C] });
    if (config.attentionBias) specs.push({ name: `${p}.self_attn.v_proj.bias`, shape: [nKv * hd] });
    specs.push({ name: `${p}.self_attn.o_proj.weight`, shape: [C, nH * hd] });
    if (hasOutputBias(config)) specs.push({ name: `${p}.self_attn.o_proj.bias`, shape: [C] });
    specs.push({ name: `${p}.mlp.gate_proj.weight`, shape: [I, C] });
    specs.push({ name: `${p}.mlp.up_proj.weight`, shape: [I, C] });
    specs.push({ name: `${p}.mlp.down_proj.weight`, shape: [C, I] });
    specs.push({ name: `${p}.input_layernorm.weight`, shape: [C] });
    specs.push({ name: `${p}.post_attention_layernorm.weight`, shape: [C] });
  }
  specs.push({ name: 'model.norm.weight', shape: [C] });
  if (!config.tieWordEmbeddings) specs.push({ name: 'lm_head.weight', shape: [V, C] });
  return specs;
}

/**
 * Whether attention has an o_proj bias: HF `LlamaAttention` gives o_proj `bias=config.attention_bias`;
 * `Qwen2Attention` has q/k/v biases but none on o_proj.
 */
export function hasOutputBias(config: ModelConfig): boolean {
  return config.modelType === 'llama' && config.attentionBias;
}

/**
 * Groups named tensors (weights or grads) by layer; lm_head aliases embed_tokens when tied. Matrices
 * come out as `M`, vectors (norms, biases) as float32 (the model holds those in float32 always).
 */
export function structure<M extends WeightArray = Float32Array>(config: ModelConfig, byName: Map<string, WeightArray>): ModelTensors<M> {
  const get = (name: string) => byName.get(name)! as M;
  const vector = (name: string) => byName.get(name) as Float32Array | undefined;
  const embed = get('model.embed_tokens.weight');
  const layers: LayerTensors<M>[] = [];
  for (let l = 0; l < config.numHiddenLayers; l++) {
    const p = `model.layers.${l}`;
    layers.push({
      inputNorm: vector(`${p}.input_layernorm.weight`)!,
      wq: get(`${p}.self_attn.q_proj.weight`),
      bq: vector(`${p}.self_attn.q_proj.bias`) ?? null,
      wk: get(`${p}.self_attn.k_proj.weight`),
      bk: vector(`${p}.self_attn.k_proj.bias`) ?? null,
      wv: get(`${p}.self_attn.v_proj.weight`),
      bv: vector(`${p}.self_attn.v_proj.bias`) ?? null,
      wo: get(`${p}.self_attn.o_proj.weight`),
      bo: vector(`${p}.self_attn.o_proj.bias`) ?? null,
      postNorm: vector(`${p}.post_attention_layernorm.weight`)!,
      wGate: get(`${p}.mlp.gate_proj.weight`),
      wUp: get(`${p}.mlp.up_proj.weight`),
      wDown: get(`${p}.mlp.down_proj.weight`),
    });
  }
  return { embed, layers, norm: vector('model.norm.weight')!, lmHead: config.tieWordEmbeddings ? embed : get('lm_head.weight') };
}

/**
 * RoPE tables (maxPos, headDim/2): angle(pos, i) = pos · theta^(-2i/headDim) (Su et al. 2021; HF
 * `LlamaRotaryEmbedding` default rope type), computed in float64 then stored as float32.
 */
export function ropeTables(arena: Allocator, maxPos: number, headDim: number, theta: number): [Float32Array, Float32Array] {
  const half = headDim / 2;
  const cos = arena.allocF32(maxPos * half);
  const sin = arena.allocF32(maxPos * half);
  for (let pos = 0; pos < maxPos; pos++) {
    for (let i = 0; i < half; i++) {
      const angle = pos * Math.pow(theta, (-2 * i) / headDim);
      cos[pos * half + i] = Math.cos(angle);
      sin[pos * half + i] = Math.sin(angle);
    }
  }
  return [cos, sin];
}

export function validateConfig(c: ModelConfig): void {
  const positive = ['vocabSize', 'hiddenSize', 'intermediateSize', 'numHiddenLayers', 'numAttentionHeads', 'numKeyValueHeads', 'headDim', 'maxPositionEmbeddings'] as const;
  for (const key of positive) {
    if (!(Number.isInteger(c[key]) && c[key] > 0)) throw inputError(`model config: ${key}`, `must be a positive integer, got ${c[key]}`);
  }
  if (c.numAttentionHeads % c.numKeyValueHeads !== 0) {
    throw inputError('model config: numKeyValueHeads', `${c.numKeyValueHeads} must divide numAttentionHeads = ${c.numAttentionHeads}`);
  }
  if (c.headDim % 2 !== 0) throw inputError('model config: headDim', `must be even for RoPE, got ${c.headDim}`);
  if (!(c.rmsNormEps > 0)) throw inputError('model config: rmsNormEps', `must be positive, got ${c.rmsNormEps}`);
  if (!(c.ropeTheta > 0)) throw inputError('model config: ropeTheta', `must be positive, got ${c.ropeTheta}`);
}
