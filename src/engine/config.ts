/**
 * The model's hyperparameters, named after Hugging Face `LlamaConfig` / `Qwen2Config` fields but in
 * camelCase. `checkpoint.ts` maps config.json to and from this type and validates it.
 */
export type ModelType = 'llama' | 'qwen2';

export interface ModelConfig {
  modelType: ModelType;
  vocabSize: number; // vocab_size
  hiddenSize: number; // hidden_size (C)
  intermediateSize: number; // intermediate_size (MLP width)
  numHiddenLayers: number; // num_hidden_layers
  numAttentionHeads: number; // num_attention_heads
  numKeyValueHeads: number; // num_key_value_heads (grouped-query attention)
  headDim: number; // head_dim, default hidden_size / num_attention_heads
  maxPositionEmbeddings: number; // max_position_embeddings
  rmsNormEps: number; // rms_norm_eps
  ropeTheta: number; // rope_theta
  attentionBias: boolean; // q/k/v bias: always true for qwen2, attention_bias for llama
  tieWordEmbeddings: boolean; // tie_word_embeddings
  bosTokenId?: number;
  eosTokenId?: number | number[];
}

export type PresetName = 'tiny' | 'small' | 'bench';

/**
 * Built-in sizes. `bench` is the model every speed figure in bench/RESULTS.md refers to; `small` is the
 * default policy of the synthetic tasks (vocabSize is replaced by the task tokenizer's).
 */
export const PRESETS: Record<PresetName, ModelConfig> = {
  tiny: {
    modelType: 'llama',
    vocabSize: 32,
    hiddenSize: 64,
    intermediateSize: 192,
    numHiddenLayers: 2,
    numAttentionHeads: 4,
    numKeyValueHeads: 2,
    headDim: 16,
    maxPositionEmbeddings: 256,
    rmsNormEps: 1e-5,
    ropeTheta: 10000,
    attentionBias: false,
    tieWordEmbeddings: false,
  },
  small: {
    modelType: 'llama',
    vocabSize: 32,
    hiddenSize: 128,
    intermediateSize: 384,
    numHiddenLayers: 3,
    numAttentionHeads: 4,
    numKeyValueHeads: 2,
    headDim: 32,
    maxPositionEmbeddings: 256,
    rmsNormEps: 1e-5,
    ropeTheta: 10000,
    attentionBias: false,
    tieWordEmbeddings: true,
  },
  bench: {
    modelType: 'llama',
    vocabSize: 32,
    hiddenSize: 128,
    intermediateSize: 384,
    numHiddenLayers: 2,
    numAttentionHeads: 4,
    numKeyValueHeads: 4,
    headDim: 32,
    maxPositionEmbeddings: 256,
    rmsNormEps: 1e-5,
    ropeTheta: 10000,
    attentionBias: false,
    tieWordEmbeddings: false,
  },
};
