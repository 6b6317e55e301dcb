/** A tiny random Llama / Qwen2 in HF layout with a character-level tokenizer, shared by the GGUF and llama.cpp tests. */
import type { ModelConfig } from '../../src/engine/config.js';
import type { HfModel } from '../../src/engine/gguf-export.js';
import { Rng } from '../../src/util/rng.js';

// A character-level vocab as prl's synthetic tasks use: three specials, then one token per character.
export const CHARS = [...'abcdefghijklmnopqrstuvwxyz0123456789 \n+=é'];
export const SPECIALS = ['<pad>', '<s>', '</s>'];
export const VOCAB = SPECIALS.length + CHARS.length; // 43

export function charTokenizerJson(): object {
  const vocab: Record<string, number> = {};
  SPECIALS.forEach((s, i) => (vocab[s] = i));
  CHARS.forEach((c, i) => (vocab[c] = SPECIALS.length + i));
  return {
    version: '1.0',
    added_tokens: SPECIALS.map((content, id) => ({
      id,
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: null,
    pre_tokenizer: null,
    post_processor: null,
    decoder: null,
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges: [] },
  };
}

export function tinyConfig(modelType: 'llama' | 'qwen2'): ModelConfig {
  return {
    modelType,
    vocabSize: VOCAB,
    hiddenSize: 32,
    intermediateSize: 48,
    numHiddenLayers: 2,
    numAttentionHeads: 4,
    numKeyValueHeads: 2,
    headDim: 8,
    maxPositionEmbeddings: 64,
    rmsNormEps: 1e-5,
    ropeTheta: modelType === 'qwen2' ? 1000000 : 500,
    attentionBias: modelType === 'qwen2',
    tieWordEmbeddings: modelType === 'qwen2',
    bosTokenId: 1,
    eosTokenId: 2,
  };
}

/** Random HF-named parameters; scales chosen so that attention and RoPE matter to the output. */
export function tinyModel(config: ModelConfig, seed: number): HfModel {
  const rng = new Rng(seed);
  const tensors: HfModel['tensors'] = [];
  const add = (name: string, shape: number[], scale: number, offset = 0): void => {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    for (let i = 0; i < data.length; i++) data[i] = offset + scale * rng.normal();
    tensors.push({ name, shape, data });
  };
  const C = config.hiddenSize;
  const q = config.numAttentionHeads * config.headDim;
  const kv = config.numKeyValueHeads * config.headDim;
  const F = config.intermediateSize;
  add('model.embed_tokens.weight', [config.vocabSize, C], 1);
  for (let l = 0; l < config.numHiddenLayers; l++) {
    const p = `model.layers.${l}.`;
    add(p + 'input_layernorm.weight', [C], 0.1, 1);
    add(p + 'self_attn.q_proj.weight', [q, C], 0.5);
    add(p + 'self_attn.k_proj.weight', [kv, C], 0.5);
    add(p + 'self_attn.v_proj.weight', [kv, C], 0.3);
    if (config.attentionBias) {
      add(p + 'self_attn.q_proj.bias', [q], 0.5);
      add(p + 'self_attn.k_proj.bias', [kv], 0.5);
      add(p + 'self_attn.v_proj.bias', [kv], 0.3);
    }
    add(p + 'self_attn.o_proj.weight', [C, q], 0.3);
    if (config.attentionBias && config.modelType === 'llama') add(p + 'self_attn.o_proj.bias', [C], 0.3);
    add(p + 'post_attention_layernorm.weight', [C], 0.1, 1);
    add(p + 'mlp.gate_proj.weight', [F, C], 0.3);
    add(p + 'mlp.up_proj.weight', [F, C], 0.3);
    add(p + 'mlp.down_proj.weight', [C, F], 0.3);
  }
  add('model.norm.weight', [C], 0.1, 1);
  if (!config.tieWordEmbeddings) add('lm_head.weight', [config.vocabSize, C], 0.3);
  return { config, tensors, tokenizerJson: charTokenizerJson() };
}
