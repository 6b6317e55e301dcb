/**
 * Sampling with a KV cache for `LlamaModel` (./model.ts): new tokens (a prompt's prefill or one decode
 * step) of several sequences at once, against the keys and values cached for their earlier positions.
 * The state and its buffers are allocated by ./model-buffers.ts (`allocInferenceState`).
 */
import { inputError } from '../util/errors.js';
import type { AttentionDims } from './kernels/types.js';
import type { LoraAdapter } from './lora.js';
import type { InferenceState, RowBuffers } from './model-buffers.js';
import { embedRows, linear, projectQkv, type LayerContext } from './model-layers.js';

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
  const head = st.head;
  for (let b = 0; b < B; b++) {
    if (pos[b] < 0 || pos[b] + Tq > st.maxT) throw new Error(`LlamaModel.forwardCached: positions ${pos[b]}..${pos[b] + Tq - 1} exceed the cache length ${st.maxT}`);
    head.pos[b] = pos[b];
    for (let t = 0; t < Tq; t++) {
      const token = tokens[b * Tq + t];
      if (!(token >= 0 && token < V)) throw inputError(`tokens[${b * Tq + t}]`, `token id ${token} is outside the vocabulary [0, ${V})`);
      st.tokens[b * Tq + t] = token;
      head.positions[b * Tq + t] = pos[b] + t;
    }
  }
  const dims: AttentionDims = { B, T: Tq, nHead: nH, nKvHead: nKv, headDim: hd };
  const slotSize = st.maxT * kvDim;
  let rows = st.layerRows[0] ?? head; // the row buffers of the segment the residual stream is in
  embedRows(ctx.w.embed, st.tokens, R, C, rows.x);
  const withPositions = new Set<RowBuffers>([head]);
  for (let l = 0; l < L; l++) {
    const w = ctx.w.layers[l];
    const io = st.layerRows[l];
    if (io !== rows) {
      io.x.set(rows.x.subarray(0, R * C)); // the residual stream moves to layer l's segment
      rows = io;
    }
    if (!withPositions.has(io)) {
      io.positions.set(head.positions.subarray(0, R));
      io.pos.set(head.pos.subarray(0, B));
      withPositions.add(io);
    }
    const kCache = st.kCache[l].subarray(slot * slotSize, (slot + B) * slotSize); // (B, maxT, kvDim)
    const vCache = st.vCache[l].subarray(slot * slotSize, (slot + B) * slotSize);
    k.rmsnormForward(io.ln, io.rstd, io.x, w.inputNorm, R, C, eps);
    projectQkv(ctx, adapter, l, io.ln, io.q, io.k, io.v, io.positions, R, io.lora);
    for (let b = 0; b < B; b++) {
      // The Tq new rows of sequence b are contiguous in its cache slot.
      const src = b * Tq * kvDim;
      const dst = (b * st.maxT + io.pos[b]) * kvDim;
      kCache.set(io.k.subarray(src, src + Tq * kvDim), dst);
      vCache.set(io.v.subarray(src, src + Tq * kvDim), dst);
    }
    k.attentionCached(io.att, io.q, kCache, vCache, io.pos, Tq, st.maxT, dims); // (R, qDim)
    linear(ctx, adapter, io.x, io.att, w.wo, R, C, qDim, true, l, 'o', io.lora); // x += o_proj(att)
    if (w.bo) k.addBias(io.x, w.bo, R, C);
    k.rmsnormForward(io.ln, io.rstd, io.x, w.postNorm, R, C, eps);
    linear(ctx, adapter, io.gate, io.ln, w.wGate, R, I, C, false, l, 'gate', io.lora); // (R, I)
    linear(ctx, adapter, io.up, io.ln, w.wUp, R, I, C, false, l, 'up', io.lora); // (R, I)
    k.swigluForward(io.h, io.gate, io.up, R * I);
    linear(ctx, adapter, io.x, io.h, w.wDown, R, C, I, true, l, 'down', io.lora); // x += down_proj(h)
  }
  for (let b = 0; b < B; b++) {
    const row = (b * Tq + Tq - 1) * C;
    st.lastX.set(rows.x.subarray(row, row + C), b * C);
  }
  k.rmsnormForward(head.ln, head.rstd, st.lastX, ctx.w.norm, B, C, eps);
  k.matmul(st.logits, head.ln, ctx.w.lmHead, B, V, C, 'nt', false); // (B, V)
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
