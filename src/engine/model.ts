/**
 * A Llama-family decoder (HF `LlamaForCausalLM` / `Qwen2ForCausalLM` semantics) written llm.c-style:
 * every tensor is a preallocated buffer in the engine arena, every hot loop is a kernel call, and the
 * backward pass is written out by hand beside the forward pass.
 *
 * Per layer:  x = x + o_proj(attn(rope(q_proj(rmsnorm(x))), rope(k_proj(..)), v_proj(..)))
 *             x = x + down_proj(silu(gate_proj(rmsnorm(x))) * up_proj(rmsnorm(x)))
 * then a final rmsnorm and lm_head (tied to embed_tokens when tieWordEmbeddings).
 *
 * Two forward paths share the weights:
 * - `forward`/`backward`: teacher-forced training and scoring on a (B, T) batch of whole sequences,
 *   returning log p(target | prefix) per position and keeping what backward needs.
 * - `forwardCached`: sampling, new tokens against a KV cache (prefill and decode).
 */
import { inputError } from '../util/errors.js';
import type { Rng } from '../util/rng.js';
import type { ModelConfig } from './config.js';
import type { AttentionDims, Kernels } from './kernels/types.js';
import type { Arena } from './memory.js';

/**
 * One named parameter: HF name and shape, a view of the flat weights and the matching view of the flat
 * grads (empty when the model is frozen).
 */
export interface Parameter {
  name: string;
  shape: number[];
  data: Float32Array;
  grad: Float32Array;
}

export interface LlamaModelOptions {
  /**
   * false: a frozen model (inference, scoring, the RL reference): no gradient block, so its arena
   * footprint is about half a trainable one's, and `backward` refuses. Default true.
   */
  trainable?: boolean;
}

/** The tensors of one decoder layer (weights, or their gradients: same structure). */
interface LayerTensors {
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
interface ModelTensors {
  embed: Float32Array; // (V, C)
  layers: LayerTensors[];
  norm: Float32Array; // (C)
  lmHead: Float32Array; // (V, C)
}

/** Activations of one layer saved by the training forward for backward; rows N = B*T. */
interface LayerActivations {
  ln1: Float32Array; // (N, C) input_layernorm output
  rstd1: Float32Array; // (N)
  q: Float32Array; // (N, nHead*headDim) after RoPE
  k: Float32Array; // (N, nKvHead*headDim) after RoPE
  v: Float32Array; // (N, nKvHead*headDim)
  att: Float32Array; // (N, nHead*headDim) attention output before o_proj
  attLse: Float32Array; // (B, nHead, T)
  resMid: Float32Array; // (N, C) residual after the attention block
  ln2: Float32Array; // (N, C) post_attention_layernorm output
  rstd2: Float32Array; // (N)
  gate: Float32Array; // (N, I)
  up: Float32Array; // (N, I)
  h: Float32Array; // (N, I) silu(gate) * up
}

/** All training buffers for up to `rows` = B*T positions; allocated once, reused every step. */
interface Activations {
  rows: number;
  tokens: Int32Array; // (N)
  targets: Int32Array; // (N)
  positions: Int32Array; // (N) t within its sequence
  residual: Float32Array[]; // L+1 of (N, C): residual[l] is the input of layer l, residual[L] the final one
  layers: LayerActivations[];
  lnf: Float32Array; // (N, C)
  rstdf: Float32Array; // (N)
  logits: Float32Array; // (N, V); overwritten by dlogits in backward
  lse: Float32Array; // (N)
  logp: Float32Array; // (N)
  entropy: Float32Array; // (N)
  // Backward scratch shared by all layers.
  dlogp: Float32Array; // (N)
  dres: Float32Array; // (N, C) gradient of the residual stream
  dln: Float32Array; // (N, C)
  dq: Float32Array; // (N, nHead*headDim)
  dk: Float32Array; // (N, nKvHead*headDim)
  dv: Float32Array; // (N, nKvHead*headDim)
  datt: Float32Array; // (N, nHead*headDim)
  dgate: Float32Array; // (N, I)
  dup: Float32Array; // (N, I)
  dh: Float32Array; // (N, I)
}

/** Sampling state: KV caches for `batch` sequences of up to `maxT` positions, and row buffers. */
interface InferenceState {
  batch: number;
  maxT: number;
  rows: number; // rows one forwardCached call may process (B*Tq)
  kCache: Float32Array[]; // L of (batch, maxT, nKvHead*headDim)
  vCache: Float32Array[]; // L of (batch, maxT, nKvHead*headDim)
  tokens: Int32Array; // (rows)
  positions: Int32Array; // (rows)
  pos: Int32Array; // (batch)
  x: Float32Array; // (rows, C) residual stream
  ln: Float32Array; // (rows, C)
  rstd: Float32Array; // (rows)
  q: Float32Array; // (rows, nHead*headDim)
  k: Float32Array; // (rows, nKvHead*headDim)
  v: Float32Array; // (rows, nKvHead*headDim)
  att: Float32Array; // (rows, nHead*headDim)
  gate: Float32Array; // (rows, I)
  up: Float32Array; // (rows, I)
  h: Float32Array; // (rows, I)
  lastX: Float32Array; // (batch, C)
  logits: Float32Array; // (batch, V)
}

/** Rows per forwardCached call while prefilling a long prompt: bounds the row buffers' memory. */
export const PREFILL_CHUNK = 128;

/** Parameter offsets are aligned to 16 floats (64 bytes, a cache line) inside the flat block. */
const PARAM_ALIGN = 16;

/** A region at the top of the arena that can be given back when a larger one replaces it. */
interface ArenaBlock {
  start: number;
  end: number;
}

export class LlamaModel {
  readonly config: ModelConfig;
  /** Every parameter, flat, in `parameters()` order (with alignment gaps that stay zero). */
  readonly weights: Float32Array;
  /** Gradients, same layout as `weights`; empty when the model is frozen. */
  readonly grads: Float32Array;
  readonly trainable: boolean;

  private readonly arena: Arena;
  private readonly kernels: Kernels;
  private readonly params: Parameter[];
  private readonly w: ModelTensors;
  /** Gradient views of `grads`; null when frozen. */
  private readonly g: ModelTensors | null;
  private readonly ropeCos: Float32Array; // (maxPos, headDim/2)
  private readonly ropeSin: Float32Array; // (maxPos, headDim/2)

  private acts: Activations | null = null;
  private actsBlock: ArenaBlock | null = null;
  private inference: InferenceState | null = null;
  private inferenceBlock: ArenaBlock | null = null;
  private lastShape: { B: number; T: number } | null = null;
  private logitsValid = false;
  private hiddenValid = false;

  constructor(config: ModelConfig, arena: Arena, kernels: Kernels, options: LlamaModelOptions = {}) {
    validateConfig(config);
    this.config = config;
    this.trainable = options.trainable ?? true;
    this.arena = arena;
    this.kernels = kernels;

    const specs = parameterSpecs(config);
    const offsets: number[] = [];
    let total = 0;
    for (const spec of specs) {
      offsets.push(total);
      total += Math.ceil(spec.shape.reduce((a, b) => a * b, 1) / PARAM_ALIGN) * PARAM_ALIGN;
    }
    this.weights = arena.allocF32(total);
    this.grads = this.trainable ? arena.allocF32(total) : new Float32Array(0);
    this.params = specs.map((spec, i) => {
      const size = spec.shape.reduce((a, b) => a * b, 1);
      return {
        name: spec.name,
        shape: spec.shape,
        data: this.weights.subarray(offsets[i], offsets[i] + size),
        grad: this.trainable ? this.grads.subarray(offsets[i], offsets[i] + size) : this.grads,
      };
    });
    this.w = structure(config, new Map(this.params.map((p) => [p.name, p.data])));
    this.g = this.trainable ? structure(config, new Map(this.params.map((p) => [p.name, p.grad]))) : null;

    [this.ropeCos, this.ropeSin] = ropeTables(arena, config.maxPositionEmbeddings, config.headDim, config.ropeTheta);
  }

  /** Parameters in a stable order with their exact HF names; `lm_head.weight` is absent when tied. */
  parameters(): Parameter[] {
    return this.params;
  }

  /** Number of trainable scalars (tied embeddings counted once). */
  get numParameters(): number {
    return this.params.reduce((sum, p) => sum + p.data.length, 0);
  }

  /** HF initialisation: weights ~ N(0, 0.02²) (`initializer_range`), norms = 1, biases = 0. */
  initRandom(rng: Rng): void {
    for (const p of this.params) {
      if (p.name.endsWith('norm.weight')) p.data.fill(1);
      else if (p.name.endsWith('.bias')) p.data.fill(0);
      else for (let i = 0; i < p.data.length; i++) p.data[i] = 0.02 * rng.normal();
    }
  }

  zeroGrad(): void {
    this.grads.fill(0);
  }

  /**
   * Teacher-forced forward over tokens (B, T); returns logp (B*T) with logp[n] = log p(targets[n] | tokens
   * of the same sequence up to n), 0 where targets[n] < 0. The result is a view into the model's buffers,
   * valid until the next forward. Keeps the activations for `backward` and the logits for `entropy`.
   */
  forward(tokens: Int32Array, targets: Int32Array, B: number, T: number): Float32Array {
    const { hiddenSize: C, vocabSize: V, numHiddenLayers: L } = this.config;
    const N = B * T;
    this.checkBatch(tokens, targets, B, T);
    const a = this.ensureActivations(N);
    a.tokens.set(tokens.subarray(0, N));
    a.targets.set(targets.subarray(0, N));
    for (let n = 0; n < N; n++) a.positions[n] = n % T;

    const x0 = a.residual[0]; // (N, C)
    for (let n = 0; n < N; n++) x0.set(this.w.embed.subarray(a.tokens[n] * C, a.tokens[n] * C + C), n * C);

    const dims: AttentionDims = { B, T, nHead: this.config.numAttentionHeads, nKvHead: this.config.numKeyValueHeads, headDim: this.config.headDim };
    for (let l = 0; l < L; l++) this.layerForward(l, a, dims);

    const k = this.kernels;
    k.rmsnormForward(a.lnf, a.rstdf, a.residual[L], this.w.norm, N, C, this.config.rmsNormEps);
    k.matmul(a.logits, a.lnf, this.w.lmHead, N, V, C, 'nt', false); // (N, V)
    k.logSoftmaxGather(a.logp, a.lse, a.logits, a.targets, N, V);
    this.lastShape = { B, T };
    this.logitsValid = true;
    return a.logp.subarray(0, N);
  }

  /**
   * q, k, v (R, qDim / kvDim / kvDim) = projections of the normed rows ln (R, C), plus bias, with RoPE on
   * q and k at `positions`: shared by training (all rows) and the KV-cache path (the new rows).
   */
  private projectQkv(w: LayerTensors, ln: Float32Array, q: Float32Array, k: Float32Array, v: Float32Array, positions: Int32Array, R: number): void {
    const c = this.config;
    const C = c.hiddenSize;
    const hd = c.headDim;
    const qDim = c.numAttentionHeads * hd;
    const kvDim = c.numKeyValueHeads * hd;
    const K = this.kernels;
    K.matmul(q, ln, w.wq, R, qDim, C, 'nt', false); // (R, qDim)
    K.matmul(k, ln, w.wk, R, kvDim, C, 'nt', false); // (R, kvDim)
    K.matmul(v, ln, w.wv, R, kvDim, C, 'nt', false); // (R, kvDim)
    if (w.bq && w.bk && w.bv) {
      K.addBias(q, w.bq, R, qDim);
      K.addBias(k, w.bk, R, kvDim);
      K.addBias(v, w.bv, R, kvDim);
    }
    K.rope(q, positions, this.ropeCos, this.ropeSin, R, c.numAttentionHeads, hd, false);
    K.rope(k, positions, this.ropeCos, this.ropeSin, R, c.numKeyValueHeads, hd, false);
  }

  private layerForward(l: number, a: Activations, dims: AttentionDims): void {
    const { hiddenSize: C, intermediateSize: I, numAttentionHeads: nH, headDim: hd, rmsNormEps: eps } = this.config;
    const N = dims.B * dims.T;
    const qDim = nH * hd;
    const w = this.w.layers[l];
    const s = a.layers[l];
    const x = a.residual[l];
    const k = this.kernels;

    k.rmsnormForward(s.ln1, s.rstd1, x, w.inputNorm, N, C, eps);
    this.projectQkv(w, s.ln1, s.q, s.k, s.v, a.positions, N);
    k.attentionForward(s.att, s.attLse, s.q, s.k, s.v, dims); // (N, qDim)
    s.resMid.set(x.subarray(0, N * C));
    k.matmul(s.resMid, s.att, w.wo, N, C, qDim, 'nt', true); // resMid = x + o_proj(att)
    if (w.bo) k.addBias(s.resMid, w.bo, N, C);

    k.rmsnormForward(s.ln2, s.rstd2, s.resMid, w.postNorm, N, C, eps);
    k.matmul(s.gate, s.ln2, w.wGate, N, I, C, 'nt', false); // (N, I)
    k.matmul(s.up, s.ln2, w.wUp, N, I, C, 'nt', false); // (N, I)
    k.swigluForward(s.h, s.gate, s.up, N * I);
    const out = a.residual[l + 1];
    out.set(s.resMid.subarray(0, N * C));
    k.matmul(out, s.h, w.wDown, N, C, I, 'nt', true); // out = resMid + down_proj(h)
  }

  /**
   * Backward of the last `forward`: given dlogp (B*T) = d loss / d logp per position, ACCUMULATES
   * d loss / d parameter into `grads` (call `zeroGrad` once per optimiser step). Overwrites the saved
   * logits, so call `entropy()` before this.
   */
  backward(dlogp: Float32Array): void {
    const grads = this.gradientViews('LlamaModel.backward');
    if (!this.lastShape || !this.acts || !this.logitsValid) throw new Error('LlamaModel.backward: call forward first (once per backward)');
    const { B, T } = this.lastShape;
    const { hiddenSize: C, vocabSize: V, numHiddenLayers: L } = this.config;
    const N = B * T;
    if (dlogp.length < N) throw inputError('LlamaModel.backward: dlogp', `has ${dlogp.length} values, expected B*T = ${N}`);
    const a = this.acts;
    const k = this.kernels;
    a.dlogp.set(dlogp.subarray(0, N));

    // Head: logits = lnf · lm_headᵀ. dlogits overwrites logits in place.
    const dlogits = a.logits;
    k.logSoftmaxGatherBackward(dlogits, a.dlogp, a.logits, a.lse, a.targets, N, V);
    this.logitsValid = false;
    k.matmul(a.dln, dlogits, this.w.lmHead, N, C, V, 'nn', false); // dlnf (N, C)
    k.matmul(grads.lmHead, dlogits, a.lnf, V, C, N, 'tn', true); // dW (V, C)
    a.dres.fill(0, 0, N * C);
    k.rmsnormBackward(a.dres, grads.norm, a.dln, a.residual[L], this.w.norm, a.rstdf, N, C);

    const dims: AttentionDims = { B, T, nHead: this.config.numAttentionHeads, nKvHead: this.config.numKeyValueHeads, headDim: this.config.headDim };
    for (let l = L - 1; l >= 0; l--) this.layerBackward(l, a, dims, grads.layers[l]);

    // Embedding: scatter-add the residual gradient into the rows of the looked-up tokens.
    const dEmbed = grads.embed;
    for (let n = 0; n < N; n++) {
      const row = a.tokens[n] * C;
      for (let c = 0; c < C; c++) dEmbed[row + c] += a.dres[n * C + c];
    }
  }

  /** On entry a.dres holds d loss / d residual[l+1]; on exit d loss / d residual[l]. */
  private layerBackward(l: number, a: Activations, dims: AttentionDims, g: LayerTensors): void {
    const { hiddenSize: C, intermediateSize: I, numAttentionHeads: nH, numKeyValueHeads: nKv, headDim: hd } = this.config;
    const N = dims.B * dims.T;
    const qDim = nH * hd;
    const kvDim = nKv * hd;
    const w = this.w.layers[l];
    const s = a.layers[l];
    const k = this.kernels;

    // MLP block: out = resMid + h · W_downᵀ, h = swiglu(ln2 · W_gateᵀ, ln2 · W_upᵀ).
    k.matmul(a.dh, a.dres, w.wDown, N, I, C, 'nn', false); // dh (N, I)
    k.matmul(g.wDown, a.dres, s.h, C, I, N, 'tn', true); // dW_down (C, I)
    a.dgate.fill(0, 0, N * I);
    a.dup.fill(0, 0, N * I);
    k.swigluBackward(a.dgate, a.dup, a.dh, s.gate, s.up, N * I);
    k.matmul(a.dln, a.dgate, w.wGate, N, C, I, 'nn', false); // dln2 (N, C)
    k.matmul(a.dln, a.dup, w.wUp, N, C, I, 'nn', true);
    k.matmul(g.wGate, a.dgate, s.ln2, I, C, N, 'tn', true); // dW_gate (I, C)
    k.matmul(g.wUp, a.dup, s.ln2, I, C, N, 'tn', true); // dW_up (I, C)
    k.rmsnormBackward(a.dres, g.postNorm, a.dln, s.resMid, w.postNorm, s.rstd2, N, C); // dres = d resMid

    // Attention block: resMid = x + att · W_oᵀ (+ b_o).
    if (g.bo) k.biasBackward(g.bo, a.dres, N, C);
    k.matmul(a.datt, a.dres, w.wo, N, qDim, C, 'nn', false); // datt (N, qDim)
    k.matmul(g.wo, a.dres, s.att, C, qDim, N, 'tn', true); // dW_o (C, qDim)
    a.dq.fill(0, 0, N * qDim);
    a.dk.fill(0, 0, N * kvDim);
    a.dv.fill(0, 0, N * kvDim);
    k.attentionBackward(a.dq, a.dk, a.dv, a.datt, s.att, s.attLse, s.q, s.k, s.v, dims);
    // RoPE is a rotation, so its backward is the inverse rotation.
    k.rope(a.dq, a.positions, this.ropeCos, this.ropeSin, N, nH, hd, true);
    k.rope(a.dk, a.positions, this.ropeCos, this.ropeSin, N, nKv, hd, true);
    if (g.bq && g.bk && g.bv) {
      k.biasBackward(g.bq, a.dq, N, qDim);
      k.biasBackward(g.bk, a.dk, N, kvDim);
      k.biasBackward(g.bv, a.dv, N, kvDim);
    }
    k.matmul(a.dln, a.dq, w.wq, N, C, qDim, 'nn', false); // dln1 (N, C)
    k.matmul(a.dln, a.dk, w.wk, N, C, kvDim, 'nn', true);
    k.matmul(a.dln, a.dv, w.wv, N, C, kvDim, 'nn', true);
    k.matmul(g.wq, a.dq, s.ln1, qDim, C, N, 'tn', true); // dW_q (qDim, C)
    k.matmul(g.wk, a.dk, s.ln1, kvDim, C, N, 'tn', true); // dW_k (kvDim, C)
    k.matmul(g.wv, a.dv, s.ln1, kvDim, C, N, 'tn', true); // dW_v (kvDim, C)
    k.rmsnormBackward(a.dres, g.inputNorm, a.dln, a.residual[l], w.inputNorm, s.rstd1, N, C); // dres = d x
  }

  /**
   * The trunk alone (for value heads, e.g. a PAV verifier): embeddings, every layer and the final
   * RMSNorm over tokens (B, T), without lm_head. Returns the final-norm output (B*T, C), a view valid
   * until the next forward; keeps what `backwardHidden` needs.
   */
  forwardHidden(tokens: Int32Array, B: number, T: number): Float32Array {
    const { hiddenSize: C, numHiddenLayers: L } = this.config;
    const N = B * T;
    this.checkBatch(tokens, new Int32Array(N).fill(-1), B, T);
    const a = this.ensureActivations(N);
    a.tokens.set(tokens.subarray(0, N));
    for (let n = 0; n < N; n++) a.positions[n] = n % T;
    for (let n = 0; n < N; n++) a.residual[0].set(this.w.embed.subarray(a.tokens[n] * C, a.tokens[n] * C + C), n * C);
    const dims: AttentionDims = { B, T, nHead: this.config.numAttentionHeads, nKvHead: this.config.numKeyValueHeads, headDim: this.config.headDim };
    for (let l = 0; l < L; l++) this.layerForward(l, a, dims);
    this.kernels.rmsnormForward(a.lnf, a.rstdf, a.residual[L], this.w.norm, N, C, this.config.rmsNormEps);
    this.lastShape = { B, T };
    this.logitsValid = false;
    this.hiddenValid = true;
    return a.lnf.subarray(0, N * C);
  }

  /**
   * Backward of the last `forwardHidden`: given d loss / d hidden (B*T, C), ACCUMULATES d loss /
   * d parameter into `grads` (lm_head gets none).
   */
  backwardHidden(dhidden: Float32Array): void {
    const grads = this.gradientViews('LlamaModel.backwardHidden');
    if (!this.lastShape || !this.acts || !this.hiddenValid) throw new Error('LlamaModel.backwardHidden: call forwardHidden first (once per backwardHidden)');
    const { B, T } = this.lastShape;
    const { hiddenSize: C, numHiddenLayers: L } = this.config;
    const N = B * T;
    if (dhidden.length < N * C) throw inputError('LlamaModel.backwardHidden: dhidden', `has ${dhidden.length} values, expected B*T*C = ${N * C}`);
    const a = this.acts;
    this.hiddenValid = false;
    a.dln.set(dhidden.subarray(0, N * C));
    a.dres.fill(0, 0, N * C);
    this.kernels.rmsnormBackward(a.dres, grads.norm, a.dln, a.residual[L], this.w.norm, a.rstdf, N, C);
    const dims: AttentionDims = { B, T, nHead: this.config.numAttentionHeads, nKvHead: this.config.numKeyValueHeads, headDim: this.config.headDim };
    for (let l = L - 1; l >= 0; l--) this.layerBackward(l, a, dims, grads.layers[l]);
    for (let n = 0; n < N; n++) {
      const row = a.tokens[n] * C;
      for (let c = 0; c < C; c++) grads.embed[row + c] += a.dres[n * C + c];
    }
  }

  /** The logits (B*T, V) of the last `forward`: a view, valid until the next forward or backward. */
  logits(): Float32Array {
    if (!this.lastShape || !this.acts || !this.logitsValid) throw new Error('LlamaModel.logits: needs a forward not yet consumed by backward');
    return this.acts.logits.subarray(0, this.lastShape.B * this.lastShape.T * this.config.vocabSize);
  }

  /**
   * Entropy (nats) of the next-token distribution at every position of the last `forward`, from its
   * logits: H = lse - Σ_j p_j z_j. A view valid until the next forward; call before `backward`.
   */
  entropy(): Float32Array {
    if (!this.lastShape || !this.acts || !this.logitsValid) throw new Error('LlamaModel.entropy: needs the logits of a forward not yet consumed by backward');
    const N = this.lastShape.B * this.lastShape.T;
    const V = this.config.vocabSize;
    const a = this.acts;
    for (let n = 0; n < N; n++) {
      const row = n * V;
      const lse = a.lse[n];
      let expectedLogit = 0;
      for (let j = 0; j < V; j++) expectedLogit += Math.exp(a.logits[row + j] - lse) * a.logits[row + j];
      a.entropy[n] = lse - expectedLogit;
    }
    return a.entropy.subarray(0, N);
  }

  /**
   * Prepares KV caches for `batch` sequences of up to `maxT` positions. Buffers are reused when they
   * are big enough (the cache stride is then the larger prepared length), so repeated sampling does not
   * grow memory. Prepares at least `maxT`; the previous cache contents are not kept.
   */
  prepareInference(batch: number, maxT: number): void {
    if (maxT > this.config.maxPositionEmbeddings) {
      throw inputError('sampling', `needs ${maxT} positions, more than max_position_embeddings = ${this.config.maxPositionEmbeddings}`);
    }
    const have = this.inference;
    if (have && have.batch >= batch && have.maxT >= maxT) return;
    const { hiddenSize: C, intermediateSize: I, numAttentionHeads: nH, numKeyValueHeads: nKv, headDim: hd, numHiddenLayers: L, vocabSize: V } = this.config;
    const rows = Math.max(batch, PREFILL_CHUNK);
    const arena = this.arena;
    this.inferenceBlock = this.beginBlock(this.inferenceBlock);
    const cache = () => Array.from({ length: L }, () => arena.allocF32(batch * maxT * nKv * hd));
    this.inference = {
      batch,
      maxT,
      rows,
      kCache: cache(),
      vCache: cache(),
      tokens: arena.allocI32(rows),
      positions: arena.allocI32(rows),
      pos: arena.allocI32(batch),
      x: arena.allocF32(rows * C),
      ln: arena.allocF32(rows * C),
      rstd: arena.allocF32(rows),
      q: arena.allocF32(rows * nH * hd),
      k: arena.allocF32(rows * nKv * hd),
      v: arena.allocF32(rows * nKv * hd),
      att: arena.allocF32(rows * nH * hd),
      gate: arena.allocF32(rows * I),
      up: arena.allocF32(rows * I),
      h: arena.allocF32(rows * I),
      lastX: arena.allocF32(batch * C),
      logits: arena.allocF32(batch * V),
    };
    this.inferenceBlock.end = arena.mark();
  }

  /**
   * Runs Tq new tokens (B*Tq, row-major) of B sequences held in cache slots slot..slot+B-1, where the new
   * tokens of sequence b sit at positions pos[b]..pos[b]+Tq-1 (earlier positions must already be cached).
   * Writes their keys and values into the cache and returns the logits (B, V) of each sequence's last new
   * token: a view valid until the next call. Requires `prepareInference`; B*Tq <= max(batch, PREFILL_CHUNK).
   */
  forwardCached(tokens: Int32Array, B: number, Tq: number, pos: Int32Array, slot = 0): Float32Array {
    const st = this.inference;
    if (!st) throw new Error('LlamaModel.forwardCached: call prepareInference first');
    const { hiddenSize: C, intermediateSize: I, numAttentionHeads: nH, numKeyValueHeads: nKv, headDim: hd, numHiddenLayers: L, vocabSize: V, rmsNormEps: eps } = this.config;
    const R = B * Tq;
    if (R > st.rows || slot + B > st.batch) throw new Error(`LlamaModel.forwardCached: ${B}x${Tq} rows at slot ${slot} exceed the prepared ${st.batch} slots / ${st.rows} rows`);
    const qDim = nH * hd;
    const kvDim = nKv * hd;
    const k = this.kernels;
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
    for (let r = 0; r < R; r++) st.x.set(this.w.embed.subarray(st.tokens[r] * C, st.tokens[r] * C + C), r * C);

    const dims: AttentionDims = { B, T: Tq, nHead: nH, nKvHead: nKv, headDim: hd };
    const slotSize = st.maxT * kvDim;
    for (let l = 0; l < L; l++) {
      const w = this.w.layers[l];
      const kCache = st.kCache[l].subarray(slot * slotSize, (slot + B) * slotSize); // (B, maxT, kvDim)
      const vCache = st.vCache[l].subarray(slot * slotSize, (slot + B) * slotSize);
      k.rmsnormForward(st.ln, st.rstd, st.x, w.inputNorm, R, C, eps);
      this.projectQkv(w, st.ln, st.q, st.k, st.v, st.positions, R);
      for (let b = 0; b < B; b++) {
        // The Tq new rows of sequence b are contiguous in its cache slot.
        const src = b * Tq * kvDim;
        const dst = (b * st.maxT + st.pos[b]) * kvDim;
        kCache.set(st.k.subarray(src, src + Tq * kvDim), dst);
        vCache.set(st.v.subarray(src, src + Tq * kvDim), dst);
      }
      k.attentionCached(st.att, st.q, kCache, vCache, st.pos, Tq, st.maxT, dims); // (R, qDim)
      k.matmul(st.x, st.att, w.wo, R, C, qDim, 'nt', true); // x += o_proj(att)
      if (w.bo) k.addBias(st.x, w.bo, R, C);
      k.rmsnormForward(st.ln, st.rstd, st.x, w.postNorm, R, C, eps);
      k.matmul(st.gate, st.ln, w.wGate, R, I, C, 'nt', false); // (R, I)
      k.matmul(st.up, st.ln, w.wUp, R, I, C, 'nt', false); // (R, I)
      k.swigluForward(st.h, st.gate, st.up, R * I);
      k.matmul(st.x, st.h, w.wDown, R, C, I, 'nt', true); // x += down_proj(h)
    }
    for (let b = 0; b < B; b++) {
      const row = (b * Tq + Tq - 1) * C;
      st.lastX.set(st.x.subarray(row, row + C), b * C);
    }
    k.rmsnormForward(st.ln, st.rstd, st.lastX, this.w.norm, B, C, eps);
    k.matmul(st.logits, st.ln, this.w.lmHead, B, V, C, 'nt', false); // (B, V)
    return st.logits.subarray(0, B * V);
  }

  /**
   * Copies the first `length` cached positions (keys and values, every layer) of slot `from` into
   * slots `to`: many continuations of one prefix then share a single prefill.
   */
  copyCacheSlot(from: number, to: readonly number[], length: number): void {
    const st = this.inference;
    if (!st) throw new Error('LlamaModel.copyCacheSlot: call prepareInference first');
    if (length < 0 || length > st.maxT) throw new Error(`LlamaModel.copyCacheSlot: length ${length} exceeds the cache length ${st.maxT}`);
    const kvDim = this.config.numKeyValueHeads * this.config.headDim;
    const slotSize = st.maxT * kvDim;
    for (const slot of [from, ...to]) {
      if (!(Number.isInteger(slot) && slot >= 0 && slot < st.batch)) throw new Error(`LlamaModel.copyCacheSlot: slot ${slot} is outside the prepared ${st.batch} slots`);
    }
    for (let l = 0; l < this.config.numHiddenLayers; l++) {
      for (const cache of [st.kCache[l], st.vCache[l]]) {
        const source = cache.subarray(from * slotSize, from * slotSize + length * kvDim);
        for (const slot of to) if (slot !== from) cache.set(source, slot * slotSize);
      }
    }
  }

  private gradientViews(where: string): ModelTensors {
    if (!this.g) throw new Error(`${where}: the model is frozen (built with trainable: false), so it has no gradients to compute`);
    return this.g;
  }

  private checkBatch(tokens: Int32Array, targets: Int32Array, B: number, T: number): void {
    const N = B * T;
    const V = this.config.vocabSize;
    if (!(Number.isInteger(B) && B > 0 && Number.isInteger(T) && T > 0)) throw inputError('LlamaModel.forward', `bad batch shape B=${B}, T=${T}`);
    if (T > this.config.maxPositionEmbeddings) throw inputError('LlamaModel.forward', `sequence length ${T} exceeds max_position_embeddings = ${this.config.maxPositionEmbeddings}`);
    if (tokens.length < N) throw inputError('LlamaModel.forward: tokens', `has ${tokens.length} ids, expected B*T = ${N}`);
    if (targets.length < N) throw inputError('LlamaModel.forward: targets', `has ${targets.length} ids, expected B*T = ${N}`);
    for (let n = 0; n < N; n++) {
      if (!(tokens[n] >= 0 && tokens[n] < V)) throw inputError(`tokens[${n}]`, `token id ${tokens[n]} is outside the vocabulary [0, ${V})`);
      if (targets[n] >= V) throw inputError(`targets[${n}]`, `token id ${targets[n]} is outside the vocabulary [0, ${V})`);
    }
  }

  /**
   * Starts (re)allocating a buffer block. When the previous block is still the last thing in the arena
   * it is given back first, so growing to a larger shape reuses its space; otherwise the old block stays
   * allocated (other owners allocated after it) and the new one goes on top.
   */
  private beginBlock(previous: ArenaBlock | null): ArenaBlock {
    if (previous && this.arena.mark() === previous.end) this.arena.release(previous.start);
    const start = this.arena.mark();
    return { start, end: start };
  }

  private ensureActivations(N: number): Activations {
    if (this.acts && this.acts.rows >= N) return this.acts;
    const { hiddenSize: C, intermediateSize: I, numAttentionHeads: nH, numKeyValueHeads: nKv, headDim: hd, numHiddenLayers: L, vocabSize: V } = this.config;
    const arena = this.arena;
    const f32 = (n: number) => arena.allocF32(n);
    this.actsBlock = this.beginBlock(this.actsBlock);
    this.acts = {
      rows: N,
      tokens: arena.allocI32(N),
      targets: arena.allocI32(N),
      positions: arena.allocI32(N),
      residual: Array.from({ length: L + 1 }, () => f32(N * C)),
      layers: Array.from({ length: L }, () => ({
        ln1: f32(N * C),
        rstd1: f32(N),
        q: f32(N * nH * hd),
        k: f32(N * nKv * hd),
        v: f32(N * nKv * hd),
        att: f32(N * nH * hd),
        attLse: f32(N * nH),
        resMid: f32(N * C),
        ln2: f32(N * C),
        rstd2: f32(N),
        gate: f32(N * I),
        up: f32(N * I),
        h: f32(N * I),
      })),
      lnf: f32(N * C),
      rstdf: f32(N),
      logits: f32(N * V),
      lse: f32(N),
      logp: f32(N),
      entropy: f32(N),
      dlogp: f32(N),
      dres: f32(N * C),
      dln: f32(N * C),
      dq: f32(N * nH * hd),
      dk: f32(N * nKv * hd),
      dv: f32(N * nKv * hd),
      datt: f32(N * nH * hd),
      dgate: f32(N * I),
      dup: f32(N * I),
      dh: f32(N * I),
    };
    this.actsBlock.end = arena.mark();
    this.logitsValid = false;
    this.hiddenValid = false;
    return this.acts;
  }
}

/** Parameter names and shapes in HF state_dict order. */
function parameterSpecs(config: ModelConfig): Array<{ name: string; shape: number[] }> {
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
function structure(config: ModelConfig, byName: Map<string, Float32Array>): ModelTensors {
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
export function ropeTables(arena: Arena, maxPos: number, headDim: number, theta: number): [Float32Array, Float32Array] {
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

function validateConfig(c: ModelConfig): void {
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
