// An independent float64 reference: HF LlamaForCausalLM / Qwen2ForCausalLM forward, one sequence at a
// time, over parameters by HF name. Shared by the model and LoRA tests.
import { asFloat32, type WeightArray } from '../../src/engine/bf16.js';
import type { ModelConfig } from '../../src/engine/config.js';

/** A tiny Llama with grouped-query attention (4 heads over 2 KV heads, head_dim 6 != 16/4), for model tests. */
export const TINY_LLAMA_GQA: ModelConfig = {
  modelType: 'llama',
  vocabSize: 11,
  hiddenSize: 16,
  intermediateSize: 24,
  numHiddenLayers: 2,
  numAttentionHeads: 4,
  numKeyValueHeads: 2,
  headDim: 6,
  maxPositionEmbeddings: 160,
  rmsNormEps: 1e-5,
  ropeTheta: 10000,
  attentionBias: false,
  tieWordEmbeddings: false,
};

export type Params = Map<string, Float64Array>;

/** The model's parameters in float64 (bfloat16 ones widened exactly). */
export function paramsOf(model: { parameters(): Array<{ name: string; data: WeightArray }> }): Params {
  return new Map(model.parameters().map((p) => [p.name, Float64Array.from(asFloat32(p.data))]));
}

/** y (n, out) = x (n, in) · Wᵀ + bias. */
function linear(x: Float64Array[], W: Float64Array, bias: Float64Array | undefined, out: number): Float64Array[] {
  return x.map((row) => {
    const y = new Float64Array(out);
    for (let o = 0; o < out; o++) {
      let s = bias ? bias[o] : 0;
      for (let i = 0; i < row.length; i++) s += row[i] * W[o * row.length + i];
      y[o] = s;
    }
    return y;
  });
}

function rmsnorm(x: Float64Array[], w: Float64Array, eps: number): Float64Array[] {
  return x.map((row) => {
    const ms = row.reduce((s, v) => s + v * v, 0) / row.length;
    return row.map((v, i) => (v / Math.sqrt(ms + eps)) * w[i]);
  });
}

/** HF apply_rotary_pos_emb on one head vector at position t. */
function rotate(vec: Float64Array, t: number, theta: number): Float64Array {
  const D = vec.length, half = D / 2;
  return vec.map((v, i) => {
    const angle = t / Math.pow(theta, (2 * (i % half)) / D);
    const rotated = i < half ? -vec[i + half] : vec[i - half];
    return v * Math.cos(angle) + rotated * Math.sin(angle);
  });
}

/** Logits (T, V) of one sequence. */
export function referenceLogits(c: ModelConfig, P: Params, tokens: number[]): Float64Array[] {
  const C = c.hiddenSize, hd = c.headDim, nH = c.numAttentionHeads, nKv = c.numKeyValueHeads;
  const embed = P.get('model.embed_tokens.weight')!;
  let x = tokens.map((tok) => embed.slice(tok * C, tok * C + C));
  for (let l = 0; l < c.numHiddenLayers; l++) {
    const p = (name: string) => P.get(`model.layers.${l}.${name}`);
    const h = rmsnorm(x, p('input_layernorm.weight')!, c.rmsNormEps);
    const q = linear(h, p('self_attn.q_proj.weight')!, p('self_attn.q_proj.bias'), nH * hd);
    const k = linear(h, p('self_attn.k_proj.weight')!, p('self_attn.k_proj.bias'), nKv * hd);
    const v = linear(h, p('self_attn.v_proj.weight')!, p('self_attn.v_proj.bias'), nKv * hd);
    const head = (rows: Float64Array[], t: number, hh: number) => rows[t].slice(hh * hd, hh * hd + hd);
    const att = tokens.map((_, t) => {
      const row = new Float64Array(nH * hd);
      for (let hh = 0; hh < nH; hh++) {
        const kvh = Math.floor(hh / (nH / nKv)); // repeat_kv
        const qt = rotate(head(q, t, hh), t, c.ropeTheta);
        const scores = Array.from({ length: t + 1 }, (_, j) => {
          const kj = rotate(head(k, j, kvh), j, c.ropeTheta);
          return qt.reduce((s, qi, i) => s + qi * kj[i], 0) / Math.sqrt(hd);
        });
        const m = Math.max(...scores);
        const z = scores.reduce((s, si) => s + Math.exp(si - m), 0);
        scores.forEach((si, j) => {
          const pj = Math.exp(si - m) / z;
          const vj = head(v, j, kvh);
          for (let i = 0; i < hd; i++) row[hh * hd + i] += pj * vj[i];
        });
      }
      return row;
    });
    const o = linear(att, p('self_attn.o_proj.weight')!, p('self_attn.o_proj.bias'), C);
    x = x.map((row, t) => row.map((val, i) => val + o[t][i]));
    const h2 = rmsnorm(x, p('post_attention_layernorm.weight')!, c.rmsNormEps);
    const gate = linear(h2, p('mlp.gate_proj.weight')!, undefined, c.intermediateSize);
    const up = linear(h2, p('mlp.up_proj.weight')!, undefined, c.intermediateSize);
    const act = gate.map((g, t) => g.map((gi, i) => (gi / (1 + Math.exp(-gi))) * up[t][i]));
    const down = linear(act, p('mlp.down_proj.weight')!, undefined, C);
    x = x.map((row, t) => row.map((val, i) => val + down[t][i]));
  }
  const lmHead = c.tieWordEmbeddings ? embed : P.get('lm_head.weight')!;
  return linear(rmsnorm(x, P.get('model.norm.weight')!, c.rmsNormEps), lmHead, undefined, c.vocabSize);
}

export function referenceLogp(c: ModelConfig, P: Params, tokens: number[], targets: number[]): number[] {
  return referenceLogits(c, P, tokens).map((z, t) => {
    if (targets[t] < 0) return 0;
    const m = Math.max(...z);
    return z[targets[t]] - m - Math.log(z.reduce((s, zi) => s + Math.exp(zi - m), 0));
  });
}

