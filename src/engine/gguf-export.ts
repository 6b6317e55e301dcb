/**
 * Hugging Face Llama / Qwen2 model -> GGUF, as llama.cpp's convert_hf_to_gguf.py does it (`--outtype
 * f32|f16|q8_0`; 1-D tensors such as norms and biases stay F32, a matrix whose rows are not a multiple of
 * 32 falls back from Q8_0 to F16, as the converter's QuantError fallback does):
 * the same tensor names, the same metadata keys and, for the `llama` architecture, the same q/k row
 * permutation (see `permuteForLlamaRope`). The result loads in llama.cpp (and node-llama-cpp) and gives
 * the same log-probs as the HF model (test/engine/gguf.test.ts checks this against a float64 forward).
 */
import { widenBf16 } from './bf16.js';
import type { ModelConfig } from './config.js';
import { GGUF_DEFAULT_ALIGNMENT, Q8_0_BLOCK, writeGguf, type GgufTensorInput, type GgufTensorType, type GgufValue } from './gguf.js';
import type { LlamaModel } from './model.js';
import { inputError } from '../util/errors.js';
import { writeFileAtomic } from '../util/fs.js';

/** What export needs from a loaded model folder (config.json + model.safetensors + tokenizer.json). */
export interface HfModel {
  config: ModelConfig;
  tensors: Array<{ name: string; shape: number[]; data: Float32Array }>;
  tokenizerJson: unknown; // the parsed tokenizer.json
}

/**
 * The export of a model in memory (weights trained in this process, e.g. full fine-tuning): its
 * parameters (copied, so later training steps do not change the export) under their HF names.
 */
export function hfModelFromLlamaModel(model: LlamaModel, tokenizerJson: unknown): HfModel {
  return {
    config: model.config,
    tensors: model.parameters().map((p) => ({ name: p.name, shape: [...p.shape], data: p.data instanceof Uint16Array ? widenBf16(p.data) : Float32Array.from(p.data) })),
    tokenizerJson,
  };
}

/** GGUF tensor types an export can use for its matrices. */
export type GgufQuant = GgufTensorType;
export const GGUF_QUANTS: readonly GgufQuant[] = ['f32', 'f16', 'q8_0'];

/** llama.cpp's `general.file_type` (llama_ftype) of each export type. */
const FILE_TYPE: Record<GgufQuant, number> = { f32: 0, f16: 1, q8_0: 7 }; // ALL_F32, MOSTLY_F16, MOSTLY_Q8_0

/** The type a tensor is stored as under `quant`: 1-D stays F32; Q8_0 needs rows of a multiple of 32, else F16. */
export function ggufTensorType(shape: number[], quant: GgufQuant): GgufTensorType {
  if (shape.length <= 1 || quant === 'f32') return 'f32';
  if (quant === 'q8_0' && shape[shape.length - 1] % Q8_0_BLOCK !== 0) return 'f16';
  return quant;
}

/** llama.cpp token types (llama_token_type / gguf.TokenType). */
export const TOKEN_TYPE = { normal: 1, unknown: 2, control: 3, userDefined: 4, unused: 5, byte: 6 } as const;

/** SentencePiece's visible space; llama.cpp's `llama` (SPM) tokenizer swaps ' ' for it before lookup. */
const SPM_SPACE = '\u2581';

const LAYER_TENSORS: Record<string, string> = {
  'input_layernorm.weight': 'attn_norm.weight',
  'self_attn.q_proj.weight': 'attn_q.weight',
  'self_attn.k_proj.weight': 'attn_k.weight',
  'self_attn.v_proj.weight': 'attn_v.weight',
  'self_attn.o_proj.weight': 'attn_output.weight',
  'self_attn.q_proj.bias': 'attn_q.bias',
  'self_attn.k_proj.bias': 'attn_k.bias',
  'self_attn.v_proj.bias': 'attn_v.bias',
  'self_attn.o_proj.bias': 'attn_output.bias',
  'post_attention_layernorm.weight': 'ffn_norm.weight',
  'mlp.gate_proj.weight': 'ffn_gate.weight',
  'mlp.up_proj.weight': 'ffn_up.weight',
  'mlp.down_proj.weight': 'ffn_down.weight',
};

/** The llama.cpp name of an HF parameter, e.g. `model.layers.3.mlp.up_proj.weight` -> `blk.3.ffn_up.weight`. */
export function ggufTensorName(hfName: string): string {
  if (hfName === 'model.embed_tokens.weight') return 'token_embd.weight';
  if (hfName === 'model.norm.weight') return 'output_norm.weight';
  if (hfName === 'lm_head.weight') return 'output.weight';
  const m = /^model\.layers\.(\d+)\.(.+)$/.exec(hfName);
  if (m !== null && LAYER_TENSORS[m[2]] !== undefined) return `blk.${m[1]}.${LAYER_TENSORS[m[2]]}`;
  throw inputError(`tensor ${hfName}`, 'has no GGUF name (not a Llama/Qwen2 parameter)');
}

/**
 * Reorders the rows of a q or k projection (weight (heads*headDim, in) or bias (heads*headDim)) from HF's
 * rotate-half RoPE layout, where dimension j pairs with j + headDim/2, to the interleaved layout of
 * llama.cpp's `llama` architecture (normal RoPE), where 2j pairs with 2j+1. Per head, new row 2j+p is old
 * row p*headDim/2 + j: convert_hf_to_gguf.py's `reshape(n_head, 2, hd/2, ...).swapaxes(1, 2)`.
 */
export function permuteForLlamaRope(data: Float32Array, rows: number, numHeads: number): Float32Array {
  const cols = data.length / rows;
  const headDim = rows / numHeads;
  const half = headDim / 2;
  const out = new Float32Array(data.length);
  for (let h = 0; h < numHeads; h++) {
    for (let j = 0; j < half; j++) {
      for (let p = 0; p < 2; p++) {
        const src = (h * headDim + p * half + j) * cols;
        const dst = (h * headDim + 2 * j + p) * cols;
        out.set(data.subarray(src, src + cols), dst);
      }
    }
  }
  return out;
}

function u32(value: number): GgufValue {
  return { type: 'uint32', value };
}
/** Rounded here so that the metadata equals what a reader gets back from the file. */
function f32(value: number): GgufValue {
  return { type: 'float32', value: Math.fround(value) };
}
function str(value: string): GgufValue {
  return { type: 'string', value };
}

/** Architecture metadata (`<arch>.*`) as convert_hf_to_gguf.py writes it for Llama / Qwen2. */
export function ggufModelMetadata(config: ModelConfig, name = 'prl', quant: GgufQuant = 'f32'): Map<string, GgufValue> {
  const arch = config.modelType;
  const md = new Map<string, GgufValue>();
  md.set('general.architecture', str(arch));
  md.set('general.name', str(name));
  md.set('general.alignment', u32(GGUF_DEFAULT_ALIGNMENT));
  md.set('general.file_type', u32(FILE_TYPE[quant]));
  md.set(`${arch}.vocab_size`, u32(config.vocabSize));
  md.set(`${arch}.context_length`, u32(config.maxPositionEmbeddings));
  md.set(`${arch}.embedding_length`, u32(config.hiddenSize));
  md.set(`${arch}.block_count`, u32(config.numHiddenLayers));
  md.set(`${arch}.feed_forward_length`, u32(config.intermediateSize));
  md.set(`${arch}.attention.head_count`, u32(config.numAttentionHeads));
  md.set(`${arch}.attention.head_count_kv`, u32(config.numKeyValueHeads));
  md.set(`${arch}.attention.layer_norm_rms_epsilon`, f32(config.rmsNormEps));
  md.set(`${arch}.rope.freq_base`, f32(config.ropeTheta));
  md.set(`${arch}.rope.dimension_count`, u32(config.headDim));
  if (config.headDim * config.numAttentionHeads !== config.hiddenSize) {
    md.set(`${arch}.attention.key_length`, u32(config.headDim));
    md.set(`${arch}.attention.value_length`, u32(config.headDim));
  }
  return md;
}

interface AddedToken {
  id: number;
  content: string;
  special: boolean;
}

function hasByteLevel(component: unknown): boolean {
  if (component === null || typeof component !== 'object') return false;
  const c = component as { type?: unknown; pretokenizers?: unknown; decoders?: unknown };
  if (c.type === 'ByteLevel') return true;
  const parts = [c.pretokenizers, c.decoders].find(Array.isArray) as unknown[] | undefined;
  return parts !== undefined && parts.some(hasByteLevel);
}

/**
 * Tokenizer metadata (`tokenizer.ggml.*`) for a Hugging Face tokenizer.json. Two kinds are supported:
 *
 * - Byte-level BPE (GPT-2 / Llama 3 / Qwen2 style, a `ByteLevel` pre-tokenizer or decoder): exported as
 *   llama.cpp's `gpt2` model with the vocab and merges unchanged and pre-tokenizer `qwen2` or `llama-bpe`.
 * - Character-level vocabularies (every ordinary token is one Unicode character; prl's synthetic tasks):
 *   exported as llama.cpp's `llama` (SentencePiece) model with no space prefix. Its tokenizer splits text
 *   into characters and only merges a pair when the merged string is itself a token, which never happens
 *   here, so every character maps to its own id and `detokenize` gives the text back: ids round-trip
 *   exactly. ' ' is stored as U+2581, the form the SPM tokenizer looks up. (`gpt2` with no merges would
 *   not do: it splits text into bytes, so a multi-byte character could never become its token.)
 *
 * Added tokens become CONTROL (special) or USER_DEFINED tokens; ids the vocab does not cover up to
 * `vocabSize` become UNUSED `[PAD<id>]` tokens, as convert_hf_to_gguf.py does. BOS is never added
 * automatically: prl's prompts carry exactly the ids prl's tokenizer gives.
 */
export function ggufTokenizerMetadata(tokenizerJson: unknown, config: ModelConfig): Map<string, GgufValue> {
  const where = 'tokenizer.json';
  if (tokenizerJson === null || typeof tokenizerJson !== 'object') throw inputError(where, 'not a JSON object');
  const tj = tokenizerJson as { model?: { type?: unknown; vocab?: unknown; merges?: unknown }; added_tokens?: unknown };
  const model = tj.model;
  if (model === undefined || model.vocab === null || typeof model.vocab !== 'object' || Array.isArray(model.vocab)) {
    throw inputError(`${where}: model.vocab`, 'missing or not a token -> id object (BPE, WordLevel or WordPiece)');
  }
  const vocabSize = config.vocabSize;
  const tokens: string[] = new Array<string>(vocabSize).fill('');
  const types: number[] = new Array<number>(vocabSize).fill(0);
  const place = (id: unknown, text: string, type: number, field: string): void => {
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id >= vocabSize) {
      throw inputError(`${where}: ${field}`, `id ${String(id)} of token ${JSON.stringify(text)} is outside [0, ${vocabSize})`);
    }
    tokens[id] = text;
    types[id] = type;
  };
  const addedTokens: AddedToken[] = Array.isArray(tj.added_tokens) ? (tj.added_tokens as AddedToken[]) : [];
  const addedIds = new Set(addedTokens.map((t) => t.id));
  const byteLevel = hasByteLevel((tokenizerJson as { pre_tokenizer?: unknown }).pre_tokenizer) ||
    hasByteLevel((tokenizerJson as { decoder?: unknown }).decoder);

  for (const [text, id] of Object.entries(model.vocab as Record<string, unknown>)) {
    if (addedIds.has(id as number)) continue;
    if (byteLevel) {
      place(id, text, TOKEN_TYPE.normal, `model.vocab[${JSON.stringify(text)}]`);
      continue;
    }
    if ([...text].length !== 1) {
      throw inputError(
        `${where}: model.vocab[${JSON.stringify(text)}]`,
        'only byte-level BPE or character-level vocabularies can be exported to GGUF; this token has several characters',
      );
    }
    if (text === SPM_SPACE) throw inputError(`${where}: model.vocab`, `U+2581 is reserved for the space in a GGUF SPM vocab`);
    place(id, text === ' ' ? SPM_SPACE : text, TOKEN_TYPE.normal, `model.vocab[${JSON.stringify(text)}]`);
  }
  for (const t of addedTokens) {
    place(t.id, t.content, t.special ? TOKEN_TYPE.control : TOKEN_TYPE.userDefined, `added_tokens id ${t.id}`);
  }
  for (let id = 0; id < vocabSize; id++) {
    if (types[id] === 0) {
      tokens[id] = `[PAD${id}]`;
      types[id] = TOKEN_TYPE.unused;
    }
  }

  const md = new Map<string, GgufValue>();
  if (byteLevel) {
    const merges = Array.isArray(model.merges) ? (model.merges as unknown[]) : [];
    md.set('tokenizer.ggml.model', str('gpt2'));
    md.set('tokenizer.ggml.pre', str(config.modelType === 'qwen2' ? 'qwen2' : 'llama-bpe'));
    md.set('tokenizer.ggml.tokens', { type: 'array', itemType: 'string', value: tokens });
    md.set('tokenizer.ggml.token_type', { type: 'array', itemType: 'int32', value: types });
    // tokenizers >= 0.20 stores a merge as a [left, right] pair, older files as "left right".
    const mergeStrings = merges.map((m) => (Array.isArray(m) ? m.join(' ') : String(m)));
    md.set('tokenizer.ggml.merges', { type: 'array', itemType: 'string', value: mergeStrings });
  } else {
    md.set('tokenizer.ggml.model', str('llama'));
    md.set('tokenizer.ggml.tokens', { type: 'array', itemType: 'string', value: tokens });
    md.set('tokenizer.ggml.scores', { type: 'array', itemType: 'float32', value: tokens.map(() => 0) });
    md.set('tokenizer.ggml.token_type', { type: 'array', itemType: 'int32', value: types });
    md.set('tokenizer.ggml.add_space_prefix', { type: 'bool', value: false });
  }
  if (config.bosTokenId !== undefined) md.set('tokenizer.ggml.bos_token_id', u32(config.bosTokenId));
  const eos = Array.isArray(config.eosTokenId) ? config.eosTokenId[0] : config.eosTokenId;
  if (eos !== undefined) md.set('tokenizer.ggml.eos_token_id', u32(eos));
  const unk = addedTokens.find((t) => t.content === '<unk>');
  if (unk !== undefined) md.set('tokenizer.ggml.unknown_token_id', u32(unk.id));
  const pad = addedTokens.find((t) => t.content === '<pad>' || t.content === '<|endoftext|>');
  if (pad !== undefined) md.set('tokenizer.ggml.padding_token_id', u32(pad.id));
  md.set('tokenizer.ggml.add_bos_token', { type: 'bool', value: false });
  md.set('tokenizer.ggml.add_eos_token', { type: 'bool', value: false });
  return md;
}

/**
 * Text node-llama-cpp tokenizes while it loads any model (LlamaModel.getWarnings: "some test text here",
 * after a "\n" or BOS prefix). llama.cpp's SPM tokenizer turns a character missing from the vocab into
 * byte tokens, and where the vocab has neither `<0xXX>` nor the raw byte, `byte_to_token` throws
 * std::out_of_range, which nothing catches: the process aborts. So a character-level vocab that lacks one
 * of these characters cannot be loaded by node-llama-cpp at all.
 */
const NODE_LLAMA_CPP_PROBE_TEXT = 'some test text here\n';

/**
 * Why node-llama-cpp would abort loading a GGUF with this tokenizer (`tokenizer.ggml.model` and its
 * tokens), or undefined when it loads. Only SPM (`llama`) vocabularies without byte tokens are at risk.
 */
export function llamaCppVocabProblem(tokenizerModel: string, tokens: readonly string[]): string | undefined {
  if (tokenizerModel !== 'llama') return undefined;
  const vocab = new Set(tokens);
  const missing = [...new Set(NODE_LLAMA_CPP_PROBE_TEXT)].filter((ch) => {
    const hex = `<0x${ch.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}>`;
    return !vocab.has(ch === ' ' ? SPM_SPACE : ch) && !vocab.has(hex);
  });
  if (missing.length === 0) return undefined;
  return `its character vocabulary lacks ${missing.map((c) => JSON.stringify(c)).join(', ')}, which node-llama-cpp tokenizes while loading; llama.cpp aborts the process (std::out_of_range) on such a vocabulary`;
}

/** `llamaCppVocabProblem` for an HF tokenizer.json, as `ggufTokenizerMetadata` would export it. */
export function llamaCppTokenizerProblem(tokenizerJson: unknown, config: ModelConfig): string | undefined {
  const md = ggufTokenizerMetadata(tokenizerJson, config);
  return llamaCppVocabProblem(String(md.get('tokenizer.ggml.model')?.value), md.get('tokenizer.ggml.tokens')?.value as string[]);
}

/**
 * The GGUF metadata and tensors of an HF model: names mapped, q/k permuted for `llama`, `output.weight`
 * omitted when the embeddings are tied (llama.cpp then reuses token_embd). Shapes are checked against
 * the config so that a wrong tensor fails here, naming it, rather than inside llama.cpp.
 */
export function hfToGguf(model: HfModel, quant: GgufQuant = 'f32'): { metadata: Map<string, GgufValue>; tensors: GgufTensorInput[] } {
  const c = model.config;
  const qRows = c.numAttentionHeads * c.headDim;
  const kvRows = c.numKeyValueHeads * c.headDim;
  const expected = (hfName: string): number[] | undefined => {
    const m = /^model\.layers\.(\d+)\.(.+)$/.exec(hfName);
    if (m === null) {
      if (hfName === 'model.embed_tokens.weight' || hfName === 'lm_head.weight') return [c.vocabSize, c.hiddenSize];
      if (hfName === 'model.norm.weight') return [c.hiddenSize];
      return undefined;
    }
    if (Number(m[1]) >= c.numHiddenLayers) throw inputError(`tensor ${hfName}`, `layer ${m[1]} >= num_hidden_layers ${c.numHiddenLayers}`);
    const shapes: Record<string, number[]> = {
      'input_layernorm.weight': [c.hiddenSize],
      'post_attention_layernorm.weight': [c.hiddenSize],
      'self_attn.q_proj.weight': [qRows, c.hiddenSize],
      'self_attn.k_proj.weight': [kvRows, c.hiddenSize],
      'self_attn.v_proj.weight': [kvRows, c.hiddenSize],
      'self_attn.o_proj.weight': [c.hiddenSize, qRows],
      'self_attn.q_proj.bias': [qRows],
      'self_attn.k_proj.bias': [kvRows],
      'self_attn.v_proj.bias': [kvRows],
      'self_attn.o_proj.bias': [c.hiddenSize],
      'mlp.gate_proj.weight': [c.intermediateSize, c.hiddenSize],
      'mlp.up_proj.weight': [c.intermediateSize, c.hiddenSize],
      'mlp.down_proj.weight': [c.hiddenSize, c.intermediateSize],
    };
    return shapes[m[2]];
  };

  const tensors: GgufTensorInput[] = [];
  for (const t of model.tensors) {
    if (t.name === 'lm_head.weight' && c.tieWordEmbeddings) continue;
    const name = ggufTensorName(t.name);
    const shape = expected(t.name);
    if (shape === undefined || shape.join(',') !== t.shape.join(',')) {
      throw inputError(`tensor ${t.name}`, `shape [${t.shape.join(', ')}], expected [${(shape ?? []).join(', ')}] from config.json`);
    }
    let data = t.data;
    if (c.modelType === 'llama') {
      // Normal (interleaved) RoPE in llama.cpp's `llama` arch; qwen2 uses NEOX RoPE = HF's rotate-half.
      if (/self_attn\.q_proj\.(weight|bias)$/.test(t.name)) data = permuteForLlamaRope(data, qRows, c.numAttentionHeads);
      if (/self_attn\.k_proj\.(weight|bias)$/.test(t.name)) data = permuteForLlamaRope(data, kvRows, c.numKeyValueHeads);
    }
    tensors.push({ name, shape: t.shape, data, type: ggufTensorType(t.shape, quant) });
  }
  const required = ['token_embd.weight', 'output_norm.weight'];
  if (!c.tieWordEmbeddings) required.push('output.weight');
  for (let i = 0; i < c.numHiddenLayers; i++) {
    for (const n of ['attn_norm', 'attn_q', 'attn_k', 'attn_v', 'attn_output', 'ffn_norm', 'ffn_gate', 'ffn_up', 'ffn_down']) {
      required.push(`blk.${i}.${n}.weight`);
    }
    if (c.attentionBias) required.push(`blk.${i}.attn_q.bias`, `blk.${i}.attn_k.bias`, `blk.${i}.attn_v.bias`);
    if (c.attentionBias && c.modelType === 'llama') required.push(`blk.${i}.attn_output.bias`);
  }
  const present = new Set(tensors.map((t) => t.name));
  const missing = required.filter((n) => !present.has(n));
  if (missing.length > 0) throw inputError('model tensors', `missing for GGUF export: ${missing.slice(0, 5).join(', ')}`);

  const metadata = ggufModelMetadata(c, 'prl', quant);
  for (const [k, v] of ggufTokenizerMetadata(model.tokenizerJson, c)) metadata.set(k, v);
  return { metadata, tensors };
}

/** Writes `model` as a GGUF file (matrices as `quant`) at `outPath`, atomically. Returns the file size in bytes. */
export function exportGguf(model: HfModel, outPath: string, quant: GgufQuant = 'f32'): number {
  const { metadata, tensors } = hfToGguf(model, quant);
  const bytes = writeGguf(metadata, tensors);
  writeFileAtomic(outPath, bytes);
  return bytes.length;
}
