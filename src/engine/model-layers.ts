/**
 * One decoder layer of `LlamaModel` (./model.ts), forward and backward side by side, llm.c-style:
 *
 *   x = x + o_proj(attn(rope(q_proj(rmsnorm(x))), rope(k_proj(..)), v_proj(..)))
 *   x = x + down_proj(silu(gate_proj(rmsnorm(x))) * up_proj(rmsnorm(x)))
 *
 * plus the linear layer with its optional LoRA term, the q/k/v projection shared with the KV-cache path
 * (./model-inference.ts) and the embedding backward. `adapter` is the adapter the forward runs (or ran)
 * with, null for the base model.
 */
import { widenBf16, type WeightArray } from './bf16.js';
import type { ModelConfig } from './config.js';
import type { AttentionDims, Kernels } from './kernels/types.js';
import { loraBackward, loraForward, type LoraAdapter, type LoraScratch, type LoraTarget } from './lora.js';
import type { BackwardScratch, LayerBuffers } from './model-buffers.js';
import type { LayerTensors, ModelTensors } from './model-layout.js';

/** RoPE tables (maxPos, headDim/2), one copy per segment. */
export interface RopeTables {
  cos: Float32Array;
  sin: Float32Array;
}

/** What the layer code reads from the model: its config, kernels, weights and RoPE tables per layer. */
export interface LayerContext {
  config: ModelConfig;
  kernels: Kernels;
  w: ModelTensors<WeightArray>;
  /** rope[l]: the tables in layer l's segment. */
  rope: RopeTables[];
}

/**
 * y (R, out) (+)= x (R, in) · Wᵀ, plus the active adapter's scale · B A x on layer l's `target`
 * (saving scale · x Aᵀ into lora[target] for the backward).
 */
export function linear(ctx: LayerContext, adapter: LoraAdapter | null, y: Float32Array, x: Float32Array, W: WeightArray, R: number, out: number, inDim: number, accumulate: boolean, l: number, target: LoraTarget, lora: LoraScratch): void {
  ctx.kernels.matmul(y, x, W, R, out, inDim, 'nt', accumulate);
  const pair = adapter?.layers[l][target];
  if (adapter && pair) loraForward(ctx.kernels, pair, adapter.scale, y, x, lora[target]!, R);
}

/**
 * Backward of `linear` given dy (R, out): dx (R, in) (+)= dy · W, dW += dyᵀ · x when the base trains
 * (dW null when frozen), and the adapter's gradients and share of dx when the forward used one.
 */
export function linearBackward(ctx: LayerContext, adapter: LoraAdapter | null, dx: Float32Array, dy: Float32Array, x: Float32Array, W: WeightArray, dW: Float32Array | null, R: number, out: number, inDim: number, accumulate: boolean, l: number, target: LoraTarget, io: LayerBuffers): void {
  const k = ctx.kernels;
  k.matmul(dx, dy, W, R, inDim, out, 'nn', accumulate);
  if (dW) k.matmul(dW, dy, x, out, inDim, R, 'tn', true);
  const pair = adapter?.layers[l][target];
  if (adapter && pair) loraBackward(k, pair, adapter.scale, dx, dy, x, io.saved.lora[target]!, io.d.dLora, R);
}

/**
 * q, k, v (R, qDim / kvDim / kvDim) = projections of the normed rows ln (R, C), plus bias, with RoPE on
 * q and k at `positions`: shared by training (all rows) and the KV-cache path (the new rows).
 */
export function projectQkv(ctx: LayerContext, adapter: LoraAdapter | null, l: number, ln: Float32Array, q: Float32Array, k: Float32Array, v: Float32Array, positions: Int32Array, R: number, lora: LoraScratch): void {
  const c = ctx.config;
  const C = c.hiddenSize;
  const hd = c.headDim;
  const qDim = c.numAttentionHeads * hd;
  const kvDim = c.numKeyValueHeads * hd;
  const K = ctx.kernels;
  const w = ctx.w.layers[l];
  linear(ctx, adapter, q, ln, w.wq, R, qDim, C, false, l, 'q', lora); // (R, qDim)
  linear(ctx, adapter, k, ln, w.wk, R, kvDim, C, false, l, 'k', lora); // (R, kvDim)
  linear(ctx, adapter, v, ln, w.wv, R, kvDim, C, false, l, 'v', lora); // (R, kvDim)
  if (w.bq && w.bk && w.bv) {
    K.addBias(q, w.bq, R, qDim);
    K.addBias(k, w.bk, R, kvDim);
    K.addBias(v, w.bv, R, kvDim);
  }
  const { cos, sin } = ctx.rope[l];
  K.rope(q, positions, cos, sin, R, c.numAttentionHeads, hd, false);
  K.rope(k, positions, cos, sin, R, c.numKeyValueHeads, hd, false);
}

/** Layer l over io.input (N, C) into io.output, saving what the backward needs in io.saved. */
export function layerForward(ctx: LayerContext, adapter: LoraAdapter | null, l: number, io: LayerBuffers, dims: AttentionDims): void {
  const { hiddenSize: C, intermediateSize: I, numAttentionHeads: nH, headDim: hd, rmsNormEps: eps } = ctx.config;
  const N = dims.B * dims.T;
  const qDim = nH * hd;
  const w = ctx.w.layers[l];
  const s = io.saved;
  const x = io.input;
  const k = ctx.kernels;

  k.rmsnormForward(s.ln1, s.rstd1, x, w.inputNorm, N, C, eps);
  projectQkv(ctx, adapter, l, s.ln1, s.q, s.k, s.v, io.positions, N, s.lora);
  k.attentionForward(s.att, s.attLse, s.q, s.k, s.v, dims); // (N, qDim)
  s.resMid.set(x.subarray(0, N * C));
  linear(ctx, adapter, s.resMid, s.att, w.wo, N, C, qDim, true, l, 'o', s.lora); // resMid = x + o_proj(att)
  if (w.bo) k.addBias(s.resMid, w.bo, N, C);

  k.rmsnormForward(s.ln2, s.rstd2, s.resMid, w.postNorm, N, C, eps);
  linear(ctx, adapter, s.gate, s.ln2, w.wGate, N, I, C, false, l, 'gate', s.lora); // (N, I)
  linear(ctx, adapter, s.up, s.ln2, w.wUp, N, I, C, false, l, 'up', s.lora); // (N, I)
  k.swigluForward(s.h, s.gate, s.up, N * I);
  const out = io.output;
  out.set(s.resMid.subarray(0, N * C));
  linear(ctx, adapter, out, s.h, w.wDown, N, C, I, true, l, 'down', s.lora); // out = resMid + down_proj(h)
}

/** On entry io.d.dres holds d loss / d residual[l+1]; on exit d loss / d residual[l]. */
export function layerBackward(ctx: LayerContext, adapter: LoraAdapter | null, l: number, io: LayerBuffers, dims: AttentionDims, g: LayerTensors | null): void {
  const { hiddenSize: C, intermediateSize: I, numAttentionHeads: nH, numKeyValueHeads: nKv, headDim: hd } = ctx.config;
  const N = dims.B * dims.T;
  const qDim = nH * hd;
  const kvDim = nKv * hd;
  const w = ctx.w.layers[l];
  const s = io.saved;
  const d = io.d;
  const k = ctx.kernels;
  const { cos, sin } = ctx.rope[l];

  // MLP block: out = resMid + h · W_downᵀ, h = swiglu(ln2 · W_gateᵀ, ln2 · W_upᵀ).
  linearBackward(ctx, adapter, d.dh, d.dres, s.h, w.wDown, g?.wDown ?? null, N, C, I, false, l, 'down', io); // dh (N, I)
  d.dgate.fill(0, 0, N * I);
  d.dup.fill(0, 0, N * I);
  k.swigluBackward(d.dgate, d.dup, d.dh, s.gate, s.up, N * I);
  linearBackward(ctx, adapter, d.dln, d.dgate, s.ln2, w.wGate, g?.wGate ?? null, N, I, C, false, l, 'gate', io); // dln2 (N, C)
  linearBackward(ctx, adapter, d.dln, d.dup, s.ln2, w.wUp, g?.wUp ?? null, N, I, C, true, l, 'up', io);
  k.rmsnormBackward(d.dres, g?.postNorm ?? d.dNormDiscard, d.dln, s.resMid, w.postNorm, s.rstd2, N, C); // dres = d resMid

  // Attention block: resMid = x + att · W_oᵀ (+ b_o).
  if (g?.bo) k.biasBackward(g.bo, d.dres, N, C);
  linearBackward(ctx, adapter, d.datt, d.dres, s.att, w.wo, g?.wo ?? null, N, C, qDim, false, l, 'o', io); // datt (N, qDim)
  d.dq.fill(0, 0, N * qDim);
  d.dk.fill(0, 0, N * kvDim);
  d.dv.fill(0, 0, N * kvDim);
  k.attentionBackward(d.dq, d.dk, d.dv, d.datt, s.att, s.attLse, s.q, s.k, s.v, dims);
  // RoPE is a rotation, so its backward is the inverse rotation.
  k.rope(d.dq, io.positions, cos, sin, N, nH, hd, true);
  k.rope(d.dk, io.positions, cos, sin, N, nKv, hd, true);
  if (g?.bq && g.bk && g.bv) {
    k.biasBackward(g.bq, d.dq, N, qDim);
    k.biasBackward(g.bk, d.dk, N, kvDim);
    k.biasBackward(g.bv, d.dv, N, kvDim);
  }
  linearBackward(ctx, adapter, d.dln, d.dq, s.ln1, w.wq, g?.wq ?? null, N, qDim, C, false, l, 'q', io); // dln1 (N, C)
  linearBackward(ctx, adapter, d.dln, d.dk, s.ln1, w.wk, g?.wk ?? null, N, kvDim, C, true, l, 'k', io);
  linearBackward(ctx, adapter, d.dln, d.dv, s.ln1, w.wv, g?.wv ?? null, N, kvDim, C, true, l, 'v', io);
  k.rmsnormBackward(d.dres, g?.inputNorm ?? d.dNormDiscard, d.dln, io.input, w.inputNorm, s.rstd1, N, C); // dres = d x
}

/** out (N, C) = rows tokens[0..N) of the embeddings (V, C), bfloat16 rows widened exactly. */
export function embedRows(embed: WeightArray, tokens: Int32Array, N: number, C: number, out: Float32Array): void {
  for (let n = 0; n < N; n++) {
    const row = embed.subarray(tokens[n] * C, tokens[n] * C + C);
    if (row instanceof Uint16Array) widenBf16(row, out.subarray(n * C, n * C + C));
    else out.set(row, n * C);
  }
}

/** Scatter-adds the residual gradient d (N, C) into the embedding rows of the looked-up tokens. */
export function embeddingBackward(ctx: LayerContext, dEmbed: Float32Array, tokens: Int32Array, d: BackwardScratch, N: number): void {
  const C = ctx.config.hiddenSize;
  for (let n = 0; n < N; n++) {
    const row = tokens[n] * C;
    for (let c = 0; c < C; c++) dEmbed[row + c] += d.dres[n * C + c];
  }
}
