import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  GGML_TYPE_F32,
  readGgufHeader,
  readGgufTensorF32,
  writeGguf,
  type GgufValue,
} from '../../src/engine/gguf.js';
import { exportGguf, ggufTensorName, hfToGguf, permuteForLlamaRope, type HfModel } from '../../src/engine/gguf-export.js';
import { CHARS, SPECIALS, VOCAB, tinyConfig, tinyModel } from '../helpers/tiny-llama.js';
import { Rng } from '../../src/util/rng.js';
import { PrlError } from '../../src/util/errors.js';
import { byteLevelTokenizerJson } from '../helpers/bpe-tokenizer.js';

/**
 * Independent float64 forward of HF LlamaForCausalLM / Qwen2ForCausalLM (rotate-half RoPE): returns
 * log-softmax of the next-token logits after every position. (T, V)
 */
function referenceLogProbs(model: HfModel, tokens: number[]): Float64Array[] {
  const c = model.config;
  const W = new Map(model.tensors.map((t) => [t.name, t.data]));
  const get = (name: string): Float32Array => {
    const w = W.get(name);
    if (w === undefined) throw new Error(`missing ${name}`);
    return w;
  };
  const C = c.hiddenSize;
  const hd = c.headDim;
  const H = c.numAttentionHeads;
  const KV = c.numKeyValueHeads;
  // y = x W^T (+ b), W (out, in)
  const linear = (x: Float64Array, w: Float32Array, out: number, bias?: Float32Array): Float64Array => {
    const inDim = x.length;
    const y = new Float64Array(out);
    for (let o = 0; o < out; o++) {
      let s = bias === undefined ? 0 : bias[o];
      for (let i = 0; i < inDim; i++) s += x[i] * w[o * inDim + i];
      y[o] = s;
    }
    return y;
  };
  const rmsNorm = (x: Float64Array, w: Float32Array): Float64Array => {
    let ss = 0;
    for (const v of x) ss += v * v;
    const r = 1 / Math.sqrt(ss / x.length + c.rmsNormEps);
    return x.map((v, i) => v * r * w[i]);
  };
  const rope = (v: Float64Array, heads: number, pos: number): void => {
    for (let h = 0; h < heads; h++) {
      for (let j = 0; j < hd / 2; j++) {
        const angle = pos * Math.pow(c.ropeTheta, (-2 * j) / hd);
        const a = v[h * hd + j];
        const b = v[h * hd + j + hd / 2];
        v[h * hd + j] = a * Math.cos(angle) - b * Math.sin(angle);
        v[h * hd + j + hd / 2] = b * Math.cos(angle) + a * Math.sin(angle);
      }
    }
  };
  const emb = get('model.embed_tokens.weight');
  let xs = tokens.map((t) => Float64Array.from(emb.subarray(t * C, (t + 1) * C))); // (T, C)
  for (let l = 0; l < c.numHiddenLayers; l++) {
    const p = `model.layers.${l}.`;
    const bias = (n: string): Float32Array | undefined => (c.attentionBias ? get(p + `self_attn.${n}_proj.bias`) : undefined);
    const hs = xs.map((x) => rmsNorm(x, get(p + 'input_layernorm.weight')));
    const qs = hs.map((h, t) => {
      const q = linear(h, get(p + 'self_attn.q_proj.weight'), H * hd, bias('q'));
      rope(q, H, t);
      return q;
    });
    const ks = hs.map((h, t) => {
      const k = linear(h, get(p + 'self_attn.k_proj.weight'), KV * hd, bias('k'));
      rope(k, KV, t);
      return k;
    });
    const vs = hs.map((h) => linear(h, get(p + 'self_attn.v_proj.weight'), KV * hd, bias('v')));
    xs = xs.map((x, t) => {
      const att = new Float64Array(H * hd);
      for (let h = 0; h < H; h++) {
        const g = Math.floor(h / (H / KV));
        const scores = new Float64Array(t + 1);
        for (let s = 0; s <= t; s++) {
          let d = 0;
          for (let j = 0; j < hd; j++) d += qs[t][h * hd + j] * ks[s][g * hd + j];
          scores[s] = d / Math.sqrt(hd);
        }
        const m = Math.max(...scores);
        const e = scores.map((v) => Math.exp(v - m));
        const z = e.reduce((a, b) => a + b, 0);
        for (let s = 0; s <= t; s++) for (let j = 0; j < hd; j++) att[h * hd + j] += (e[s] / z) * vs[s][g * hd + j];
      }
      const o = linear(att, get(p + 'self_attn.o_proj.weight'), C, c.attentionBias && c.modelType === 'llama' ? get(p + 'self_attn.o_proj.bias') : undefined);
      const x1 = x.map((v, i) => v + o[i]);
      const h2 = rmsNorm(x1, get(p + 'post_attention_layernorm.weight'));
      const gate = linear(h2, get(p + 'mlp.gate_proj.weight'), c.intermediateSize);
      const up = linear(h2, get(p + 'mlp.up_proj.weight'), c.intermediateSize);
      const act = gate.map((g, i) => (g / (1 + Math.exp(-g))) * up[i]);
      const down = linear(act, get(p + 'mlp.down_proj.weight'), C);
      return x1.map((v, i) => v + down[i]);
    });
  }
  const head = c.tieWordEmbeddings ? emb : get('lm_head.weight');
  return xs.map((x) => {
    const logits = linear(rmsNorm(x, get('model.norm.weight')), head, c.vocabSize);
    const m = Math.max(...logits);
    const lse = m + Math.log(logits.reduce((a, v) => a + Math.exp(v - m), 0));
    return logits.map((v) => v - lse);
  });
}

test('writeGguf / readGgufHeader round-trip every value type, tensor bytes and alignment', () => {
  const metadata = new Map<string, GgufValue>([
    ['general.architecture', { type: 'string', value: 'llama' }],
    ['general.alignment', { type: 'uint32', value: 64 }],
    ['a.u8', { type: 'uint8', value: 255 }],
    ['a.i8', { type: 'int8', value: -128 }],
    ['a.u16', { type: 'uint16', value: 65535 }],
    ['a.i16', { type: 'int16', value: -32768 }],
    ['a.i32', { type: 'int32', value: -2147483648 }],
    ['a.f32', { type: 'float32', value: 0.5 }],
    ['a.f64', { type: 'float64', value: Math.PI }],
    ['a.bool', { type: 'bool', value: true }],
    ['a.u64', { type: 'uint64', value: 2n ** 63n + 5n }],
    ['a.i64', { type: 'int64', value: -(2n ** 62n) }],
    ['a.strings', { type: 'array', itemType: 'string', value: ['x', '', 'é▁\n'] }],
    ['a.ints', { type: 'array', itemType: 'int32', value: [1, -2, 3] }],
    ['a.floats', { type: 'array', itemType: 'float32', value: [0.25, -1.5] }],
    ['a.empty', { type: 'array', itemType: 'uint32', value: [] }],
  ]);
  const rng = new Rng(7);
  const tensors = [
    { name: 'odd', shape: [3, 5], data: Float32Array.from({ length: 15 }, () => rng.normal()) },
    { name: 'vec', shape: [7], data: Float32Array.from({ length: 7 }, () => rng.normal()) },
  ];
  const bytes = writeGguf(metadata, tensors);
  const header = readGgufHeader(bytes);
  assert.equal(header.version, 3);
  assert.equal(header.alignment, 64);
  assert.deepEqual(header.metadata, metadata);
  assert.equal(header.dataOffset % 64, 0);
  assert.deepEqual(
    header.tensors.map((t) => [t.name, t.shape, t.ggmlType]),
    [
      ['odd', [3, 5], GGML_TYPE_F32],
      ['vec', [7], GGML_TYPE_F32],
    ],
  );
  assert.equal(header.tensors[0].offset, 0);
  assert.equal(header.tensors[1].offset, 64); // 60 bytes padded to the alignment
  for (const t of tensors) assert.deepEqual(readGgufTensorF32(bytes, header, t.name), t.data);
  // The file's ne are fastest-first: the first dim stored for 'odd' is its inner size 5.
  const view = new DataView(bytes.buffer, bytes.byteOffset);
  assert.equal(view.getUint32(0, true), 0x46554747);
  assert.throws(() => readGgufHeader(bytes.subarray(0, 40), 'cut.gguf'), /cut\.gguf: truncated GGUF/);
});

test('permuteForLlamaRope matches convert_hf_to_gguf.py reshape(n_head, 2, hd/2, in).swapaxes(1, 2)', () => {
  // 2 heads of dim 4, 1 input column: rows [h0: 0 1 2 3, h1: 4 5 6 7] -> per head [0 2 1 3].
  const w = Float32Array.from([0, 1, 2, 3, 4, 5, 6, 7]);
  assert.deepEqual(Array.from(permuteForLlamaRope(w, 8, 2)), [0, 2, 1, 3, 4, 6, 5, 7]);
  const w2 = Float32Array.from([0, 10, 1, 11, 2, 12, 3, 13]); // 4 rows x 2 cols, one head
  assert.deepEqual(Array.from(permuteForLlamaRope(w2, 4, 1)), [0, 10, 2, 12, 1, 11, 3, 13]);
});

test('hfToGguf maps names, metadata and tokenizer; checks shapes', () => {
  assert.equal(ggufTensorName('model.layers.1.self_attn.o_proj.weight'), 'blk.1.attn_output.weight');
  assert.equal(ggufTensorName('model.layers.0.self_attn.k_proj.bias'), 'blk.0.attn_k.bias');
  assert.throws(() => ggufTensorName('model.layers.0.mlp.weird'), PrlError);

  const llama = tinyModel(tinyConfig('llama'), 1);
  const { metadata, tensors } = hfToGguf(llama);
  assert.equal(metadata.get('general.architecture')?.value, 'llama');
  assert.equal(metadata.get('llama.rope.dimension_count')?.value, 8);
  assert.equal(metadata.get('llama.attention.head_count_kv')?.value, 2);
  assert.equal(metadata.get('tokenizer.ggml.model')?.value, 'llama');
  const vocab = metadata.get('tokenizer.ggml.tokens')?.value as string[];
  assert.equal(vocab.length, VOCAB);
  assert.equal(vocab[SPECIALS.length + CHARS.indexOf(' ')], '\u2581');
  assert.equal(vocab[SPECIALS.length + CHARS.indexOf('\n')], '\n');
  assert.deepEqual((metadata.get('tokenizer.ggml.token_type')?.value as number[]).slice(0, 4), [3, 3, 3, 1]);
  assert.ok(tensors.some((t) => t.name === 'output.weight'));
  const q = tensors.find((t) => t.name === 'blk.0.attn_q.weight')!;
  const hfQ = llama.tensors.find((t) => t.name === 'model.layers.0.self_attn.q_proj.weight')!;
  assert.notDeepEqual(q.data, hfQ.data); // permuted for llama

  const qwen = tinyModel(tinyConfig('qwen2'), 2);
  const converted = hfToGguf(qwen);
  assert.ok(!converted.tensors.some((t) => t.name === 'output.weight')); // tied
  const qwenQ = converted.tensors.find((t) => t.name === 'blk.0.attn_q.weight')!;
  assert.deepEqual(qwenQ.data, qwen.tensors.find((t) => t.name === 'model.layers.0.self_attn.q_proj.weight')!.data);

  const bad = tinyModel(tinyConfig('llama'), 3);
  bad.tensors[1] = { ...bad.tensors[1], shape: [31], data: new Float32Array(31) };
  assert.throws(() => hfToGguf(bad), /model\.layers\.0\.input_layernorm\.weight: shape \[31\], expected \[32\]/);
  const multiChar = tinyModel(tinyConfig('llama'), 4);
  (multiChar.tokenizerJson as { model: { vocab: Record<string, number> } }).model.vocab = { ab: 3 };
  assert.throws(() => hfToGguf(multiChar), /several characters/);
});

test('exported GGUF round-trips through the reader', () => {
  const dir = mkdtempSync(join(tmpdir(), 'prl-gguf-'));
  try {
    const model = tinyModel(tinyConfig('qwen2'), 5);
    const path = join(dir, 'm.gguf');
    const size = exportGguf(model, path);
    const bytes = new Uint8Array(readFileSync(path));
    assert.equal(bytes.length, size);
    const header = readGgufHeader(bytes, path);
    const { metadata, tensors } = hfToGguf(model);
    assert.deepEqual(header.metadata, metadata);
    assert.equal(header.dataOffset % 32, 0);
    for (const t of tensors) {
      const info = header.tensors.find((i) => i.name === t.name)!;
      assert.deepEqual(info.shape, t.shape);
      assert.equal(info.offset % 32, 0);
      assert.deepEqual(readGgufTensorF32(bytes, header, t.name), t.data);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Loads node-llama-cpp's policy, or the reason it cannot run here (the test then reports it as skipped). */
async function loadPolicyOrReason(path: string): Promise<import('../../src/policy/llamacpp.js').LlamaCppPolicy | string> {
  try {
    const { LlamaCppPolicy } = await import('../../src/policy/llamacpp.js');
    return await LlamaCppPolicy.load({ modelPath: path, contextSize: 64, threads: 1 });
  } catch (err) {
    return `node-llama-cpp cannot run here: ${(err as Error).message}`;
  }
}

for (const [modelType, attentionBias] of [['llama', false], ['qwen2', true], ['llama', true]] as const) {
  test(`llama.cpp log-probs of the exported ${modelType}${attentionBias ? ' (attention biases)' : ''} GGUF match a float64 HF forward`, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'prl-gguf-'));
    try {
      const model = tinyModel({ ...tinyConfig(modelType), attentionBias }, modelType === 'llama' ? 11 : 12);
      const path = join(dir, `${modelType}.gguf`);
      exportGguf(model, path);
      const policy = await loadPolicyOrReason(path);
      if (typeof policy === 'string') {
        t.skip(policy);
        return;
      }
      try {
        const rng = new Rng(99);
        const tokens = Array.from({ length: 40 }, () => rng.int(VOCAB));
        const [scored] = await policy.score([{ prompt: tokens.slice(0, 1), continuation: tokens.slice(1) }]);
        const reference = referenceLogProbs(model, tokens);
        let maxErr = 0;
        for (let i = 1; i < tokens.length; i++) maxErr = Math.max(maxErr, Math.abs(scored[i - 1] - reference[i - 1][tokens[i]]));
        assert.ok(maxErr < 2e-4, `max |log p llama.cpp - log p reference| = ${maxErr}`);
        // Scale check: the log-probs vary a lot between tokens, so a wrong permutation could not pass.
        const spread = Math.max(...scored) - Math.min(...scored);
        assert.ok(spread > 1, `log-prob spread ${spread} too small to be a meaningful check`);

        // The character-level tokenizer round-trips through llama.cpp's SPM tokenizer.
        const text = 'ab 12+3=15\né z';
        const ids = [...text].map((ch) => SPECIALS.length + CHARS.indexOf(ch));
        assert.deepEqual(policy.tokenize(text), ids);
        assert.equal(policy.detokenize(ids), text);
      } finally {
        await policy.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('a byte-level BPE tokenizer exports as gpt2 and llama.cpp tokenizes like HF tokenizers', async (t) => {
  const { json, size } = byteLevelTokenizerJson();
  const config = { ...tinyConfig('qwen2'), vocabSize: size, eosTokenId: size - 1, bosTokenId: undefined };
  const model = { ...tinyModel(config, 41), tokenizerJson: json };
  const { metadata } = hfToGguf(model);
  assert.equal(metadata.get('tokenizer.ggml.model')?.value, 'gpt2');
  assert.equal(metadata.get('tokenizer.ggml.pre')?.value, 'qwen2');
  assert.deepEqual((metadata.get('tokenizer.ggml.merges')?.value as string[]).slice(0, 2), ['Ġ t', 'h e']);

  const dir = mkdtempSync(join(tmpdir(), 'prl-gguf-'));
  try {
    const path = join(dir, 'bpe.gguf');
    exportGguf(model, path);
    const policy = await loadPolicyOrReason(path);
    if (typeof policy === 'string') {
      t.skip(policy);
      return;
    }
    try {
      const { Tokenizer } = await import('@huggingface/tokenizers');
      const hf = new Tokenizer(json, {});
      for (const text of ['the cat in the hat', 'x = 12 + 123;\n\nthen é? 🙂', "it's  the  end"]) {
        const ids = hf.encode(text).ids;
        assert.deepEqual(policy.tokenize(text), ids, text);
        assert.equal(policy.detokenize(ids), text);
      }
    } finally {
      await policy.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
