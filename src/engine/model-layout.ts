/**
 * Where a `LlamaModel`'s parameters live: HF names and shapes in state_dict order, their grouping by
 * layer, the RoPE tables and config validation.
 */
import { inputError } from '../util/errors.js';
import type { ModelConfig } from './config.js';
import type { Allocator } from './memory.js';

/** The tensors of one decoder layer (weights, or their gradients: same structure). */
export interface LayerTensors {
  inputNorm: Float32Array; // (C)
  wq: Float32Array; // (nHead*headDim, C)
  bq: Float32Array | null; // (nHead*headDim)
  wk: Float32Array; // (nKvHead*headDim, C)
  bk: Float32Array | null; // (nKvHead*headDim)
  wv: Float32Array; // (nKvHead*headDim, C)
  bv: Float32Array | null; // (nKvHead*headDim)
  wo: Float32Array; // (C, nHead*headDim)
  bo: Float32Array | null; // (C): HF Llama's o_proj bias (attention_bias); Qwen2 has none
  postNorm: Float32Array; // (C)
  wGate: Float32Array; // (I, C)
  wUp: Float32Array; // (I, C)
  wDown: Float32Array; // (C, I)
}

/** The whole model's tensors (weights, or their gradients); lmHead aliases embed when tied. */
export interface ModelTensors {
  embed: Float32Array; // (V, C)
  layers: LayerTensors[];
  norm: Float32Array; // (C)
  lmHead: Float32Array; // (V, C)
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

/** Groups named tensors (weights or grads) by layer; lm_head aliases embed_tokens when tied. */
export function structure(config: ModelConfig, byName: Map<string, Float32Array>): ModelTensors {
  const get = (name: string) => byName.get(name)!;
  const embed = get('model.embed_tokens.weight');
  const layers: LayerTensors[] = [];
  for (let l = 0; l < config.numHiddenLayers; l++) {
    const p = `model.layers.${l}`;
    layers.push({
      inputNorm: get(`${p}.input_layernorm.weight`),
      wq: get(`${p}.self_attn.q_proj.weight`),
      bq: byName.get(`${p}.self_attn.q_proj.bias`) ?? null,
      wk: get(`${p}.self_attn.k_proj.weight`),
      bk: byName.get(`${p}.self_attn.k_proj.bias`) ?? null,
      wv: get(`${p}.self_attn.v_proj.weight`),
      bv: byName.get(`${p}.self_attn.v_proj.bias`) ?? null,
      wo: get(`${p}.self_attn.o_proj.weight`),
      bo: byName.get(`${p}.self_attn.o_proj.bias`) ?? null,
      postNorm: get(`${p}.post_attention_layernorm.weight`),
      wGate: get(`${p}.mlp.gate_proj.weight`),
      wUp: get(`${p}.mlp.up_proj.weight`),
      wDown: get(`${p}.mlp.down_proj.weight`),
    });
  }
  return { embed, layers, norm: get('model.norm.weight'), lmHead: config.tieWordEmbeddings ? embed : get('lm_head.weight') };
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
