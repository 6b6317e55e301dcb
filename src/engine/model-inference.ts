/**
 * Sampling with a KV cache for `LlamaModel` (./model.ts): new tokens (a prompt's prefill or one decode
 * step) of several sequences at once, against the keys and values cached for their earlier positions.
 * The state and its buffers are allocated by ./model-buffers.ts (`allocInferenceState`).
 */
import { inputError } from '../util/errors.js';
import type { AttentionDims } from './kernels/types.js';
import type { LoraAdapter } from './lora.js';
import type { InferenceState } from './model-buffers.js';
import { linear, projectQkv, type LayerContext } from './model-layers.js';

/**
 * Runs Tq new tokens (B*Tq, row-major) of B sequences held in cache slots slot..slot+B-1, where the new
 * tokens of sequence b sit at positions pos[b]..pos[b]+Tq-1 (earlier positions must already be cached).
 * Writes their keys and values into the cache and returns the logits (B, V) of each sequence's last new
 * token: a view valid until the next call. Requires `prepareInference`; B*Tq <= max(batch, PREFILL_CHUNK).
 */
export function forwardCached(ctx: LayerContext, adapter: LoraAdapter | null, st: InferenceState, tokens: Int32Array, B: number, Tq: number, pos: Int32Array, slot: number): Float32Array {
  const { hiddenSize: C, intermediateSize: I, numAttentionHeads: nH, numKeyValueHeads: nKv, headDim: hd, numHiddenLayers: L, vocabSize: V, rmsNormEps: eps } = ctx.config;
  const R = B * Tq;
  if (R > st.rows || slot + B > st.batch) throw new Error(`LlamaModel.forwardCached: ${B}x${Tq} rows at slot ${slot} exceed the prepared ${st.batch} slots / ${st.rows} rows`);
  const qDim = nH * hd;
  const kvDim = nKv * hd;
  const k = ctx.kernels;
  for (let b = 0; b < B; b++) {
    if (pos[b] < 0 || pos[b] + Tq > st.maxT) throw new Error(`LlamaModel.forwardCached: positions ${pos[b]}..${pos[b] + Tq - 1} exceed the cache length ${st.maxT}`);
    st.pos[b] = pos[b];
    for (let t = 0; t < Tq; t++) {
      const token = tokens[b * Tq + t];
      if (!(token >= 0 && token < V)) throw inputError(`tokens[${b * Tq + t}]`, `token id ${token} is outside the vocabulary [0, ${V})`);
      st.tokens[b * Tq + t] = token;
      st.positions[b * Tq + t] = pos[b] + t;
    }
  }
  for (let r = 0; r < R; r++) st.x.set(ctx.w.embed.subarray(st.tokens[r] * C, st.tokens[r] * C + C), r * C);

  const dims: AttentionDims = { B, T: Tq, nHead: nH, nKvHead: nKv, headDim: hd };
  const slotSize = st.maxT * kvDim;
  for (let l = 0; l < L; l++) {
    const w = ctx.w.layers[l];
    const kCache = st.kCache[l].subarray(slot * slotSize, (slot + B) * slotSize); // (B, maxT, kvDim)
    const vCache = st.vCache[l].subarray(slot * slotSize, (slot + B) * slotSize);
    k.rmsnormForward(st.ln, st.rstd, st.x, w.inputNorm, R, C, eps);
    projectQkv(ctx, adapter, l, st.ln, st.q, st.k, st.v, st.positions, R, st.lora);
    for (let b = 0; b < B; b++) {
      // The Tq new rows of sequence b are contiguous in its cache slot.
      const src = b * Tq * kvDim;
      const dst = (b * st.maxT + st.pos[b]) * kvDim;
      kCache.set(st.k.subarray(src, src + Tq * kvDim), dst);
      vCache.set(st.v.subarray(src, src + Tq * kvDim), dst);
    }
    k.attentionCached(st.att, st.q, kCache, vCache, st.pos, Tq, st.maxT, dims); // (R, qDim)
    linear(ctx, adapter, st.x, st.att, w.wo, R, C, qDim, true, l, 'o', st.lora); // x += o_proj(att)
    if (w.bo) k.addBias(st.x, w.bo, R, C);
    k.rmsnormForward(st.ln, st.rstd, st.x, w.postNorm, R, C, eps);
    linear(ctx, adapter, st.gate, st.ln, w.wGate, R, I, C, false, l, 'gate', st.lora); // (R, I)
    linear(ctx, adapter, st.up, st.ln, w.wUp, R, I, C, false, l, 'up', st.lora); // (R, I)
    k.swigluForward(st.h, st.gate, st.up, R * I);
    linear(ctx, adapter, st.x, st.h, w.wDown, R, C, I, true, l, 'down', st.lora); // x += down_proj(h)
  }
  for (let b = 0; b < B; b++) {
    const row = (b * Tq + Tq - 1) * C;
    st.lastX.set(st.x.subarray(row, row + C), b * C);
  }
  k.rmsnormForward(st.ln, st.rstd, st.lastX, ctx.w.norm, B, C, eps);
  k.matmul(st.logits, st.ln, ctx.w.lmHead, B, V, C, 'nt', false); // (B, V)
  return st.logits.subarray(0, B * V);
}

/**
 * Copies the first `length` cached positions (keys and values, every layer) of slot `from` into
 * slots `to`: many continuations of one prefix then share a single prefill.
 */
export function copyCacheSlot(ctx: LayerContext, st: InferenceState, from: number, to: readonly number[], length: number): void {
  if (length < 0 || length > st.maxT) throw new Error(`LlamaModel.copyCacheSlot: length ${length} exceeds the cache length ${st.maxT}`);
  const kvDim = ctx.config.numKeyValueHeads * ctx.config.headDim;
  const slotSize = st.maxT * kvDim;
  for (const slot of [from, ...to]) {
    if (!(Number.isInteger(slot) && slot >= 0 && slot < st.batch)) throw new Error(`LlamaModel.copyCacheSlot: slot ${slot} is outside the prepared ${st.batch} slots`);
  }
  for (let l = 0; l < ctx.config.numHiddenLayers; l++) {
    for (const cache of [st.kCache[l], st.vCache[l]]) {
      const source = cache.subarray(from * slotSize, from * slotSize + length * kvDim);
      for (const slot of to) if (slot !== from) cache.set(source, slot * slotSize);
    }
  }
}
