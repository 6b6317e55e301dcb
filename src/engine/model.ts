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
 *
 * A LoRA adapter (./lora.ts) can be attached: every adapted linear layer then adds scale · B A x, and
 * `adapterEnabled = false` gives back the base model (e.g. the RL reference) without a second copy.
 */
import { inputError } from '../util/errors.js';
import type { Rng } from '../util/rng.js';
import type { ModelConfig } from './config.js';
import type { AttentionDims, Kernels } from './kernels/types.js';
import { allocHeadScratch, headBackward, headForward, type HeadScratch } from './head.js';
import type { Arena } from './memory.js';
import { LORA_TARGETS, loraBackward, loraForward, targetShape, type LoraAdapter, type LoraScratch, type LoraTarget } from './lora.js';
import { parameterSpecs, ropeTables, structure, validateConfig, type LayerTensors, type ModelTensors } from './model-layout.js';

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
   * false: a frozen model (inference, scoring, the RL reference, the base under a LoRA adapter): no
   * gradient block, so its arena footprint is about half a trainable one's; `backward` then computes
   * only the adapter's gradients, and refuses without one. Default true.
   */
  trainable?: boolean;
  /**
   * true: per-layer activation checkpointing. The training forward keeps only each layer's input (the
   * residual stream) and one layer's activations; backward recomputes each layer's activations from its
   * input just before differentiating it. Same gradients bit for bit (the kernels are deterministic),
   * about L-1 layers' activations less memory, one more layer forward per layer in time. Default false.
   */
  recompute?: boolean;
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
  lora: LoraScratch; // per adapted target (N, r): scale · x Aᵀ
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
  head: HeadScratch; // (N, chunk) logits of one vocabulary chunk at a time (./head.ts)
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
  dLora: Float32Array; // (N, r) adapter scratch
  dNormDiscard: Float32Array; // (C) where a frozen model's RMSNorm weight gradients go
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
  lora: LoraScratch; // every adapted target shares one (rows, r) buffer
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
  /** Per-layer activation checkpointing (LlamaModelOptions.recompute). */
  readonly recompute: boolean;

  /** Where the model's tensors live (a server allocates adapters here too). */
  readonly arena: Arena;
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
  private adapterValue: LoraAdapter | null = null;
  /** Whether an attached adapter takes part in forward passes; false gives exactly the base model. */
  adapterEnabled = true;
  /** The adapter the last training forward ran with (the backward must use the same). */
  private forwardAdapter: LoraAdapter | null = null;
  /** Buffers' LoRA scratch covers every target at this rank at least (`reserveAdapterScratch`). */
  private reservedAdapterRank = 0;
  private lastShape: { B: number; T: number } | null = null;
  /** True while backward recomputes a layer: linear layers then use `forwardAdapter`. */
  private recomputing = false;
  private logitsValid = false;
  private hiddenValid = false;

  constructor(config: ModelConfig, arena: Arena, kernels: Kernels, options: LlamaModelOptions = {}) {
    validateConfig(config);
    this.config = config;
    this.trainable = options.trainable ?? true;
    this.recompute = options.recompute ?? false;
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

  get adapter(): LoraAdapter | null {
    return this.adapterValue;
  }

  /**
   * Attaches a LoRA adapter built for this config. Buffers sized without adapter scratch are dropped and
   * reallocated on the next forward, so attach before the first forward to keep the arena compact.
   */
  attachAdapter(adapter: LoraAdapter): void {
    if (adapter.layers.length !== this.config.numHiddenLayers) throw inputError('LoRA adapter', `has ${adapter.layers.length} layers, the model ${this.config.numHiddenLayers}`);
    adapter.layers.forEach((layer, l) => {
      for (const t of adapter.config.targets) {
        const [out, inDim] = targetShape(this.config, t);
        const pair = layer[t]!;
        if (pair.outDim !== out || pair.inDim !== inDim) {
          throw inputError(`LoRA adapter: layer ${l} ${t}`, `is (${pair.outDim}, ${pair.inDim}), the model's layer is (${out}, ${inDim})`);
        }
      }
    });
    this.adapterValue = adapter;
    this.forwardAdapter = null;
    if (adapter.config.rank > this.reservedAdapterRank) {
      this.acts = null;
      this.inference = null;
    }
  }

  /** Back to the base model; the buffers are kept. */
  detachAdapter(): void {
    this.adapterValue = null;
    this.forwardAdapter = null;
  }

  /**
   * Sizes the LoRA scratch of every buffer for adapters up to `rank` on all targets, so that swapping
   * adapters (a server applying a different one per request) never reallocates buffers in the arena.
   */
  reserveAdapterScratch(rank: number): void {
    if (!(Number.isInteger(rank) && rank > 0)) throw inputError('reserveAdapterScratch', `rank must be a positive integer, got ${rank}`);
    this.reservedAdapterRank = rank;
    this.acts = null;
    this.inference = null;
  }

  private activeAdapter(): LoraAdapter | null {
    if (this.recomputing) return this.forwardAdapter;
    return this.adapterEnabled ? this.adapterValue : null;
  }

  /**
   * Before layerBackward(l) under `recompute`: layer l's activations again, from its saved input, with
   * the adapter the forward ran with (all layers share one activation set, last written by layer l+1).
   * Also rewrites residual[l+1] with the same bits it already holds.
   */
  private recomputeLayer(l: number, a: Activations, dims: AttentionDims): void {
    // The forward's last layer left its activations in the shared set: nothing to redo there.
    if (!this.recompute || l === this.config.numHiddenLayers - 1) return;
    this.recomputing = true;
    try {
      this.layerForward(l, a, dims);
    } finally {
      this.recomputing = false;
    }
  }

  /**
   * y (R, out) (+)= x (R, in) · Wᵀ, plus the active adapter's scale · B A x on layer l's `target`
   * (saving scale · x Aᵀ into lora[target] for the backward).
   */
  private linear(y: Float32Array, x: Float32Array, W: Float32Array, R: number, out: number, inDim: number, accumulate: boolean, l: number, target: LoraTarget, lora: LoraScratch): void {
    this.kernels.matmul(y, x, W, R, out, inDim, 'nt', accumulate);
    const adapter = this.activeAdapter();
    const pair = adapter?.layers[l][target];
    if (adapter && pair) loraForward(this.kernels, pair, adapter.scale, y, x, lora[target]!, R);
  }

  /**
   * Backward of `linear` given dy (R, out): dx (R, in) (+)= dy · W, dW += dyᵀ · x when the base trains
   * (dW null when frozen), and the adapter's gradients and share of dx when the forward used one.
   */
  private linearBackward(dx: Float32Array, dy: Float32Array, x: Float32Array, W: Float32Array, dW: Float32Array | null, R: number, out: number, inDim: number, accumulate: boolean, l: number, target: LoraTarget, a: Activations): void {
    const k = this.kernels;
    k.matmul(dx, dy, W, R, inDim, out, 'nn', accumulate);
    if (dW) k.matmul(dW, dy, x, out, inDim, R, 'tn', true);
    const adapter = this.forwardAdapter;
    const pair = adapter?.layers[l][target];
    if (adapter && pair) loraBackward(k, pair, adapter.scale, dx, dy, x, a.layers[l].lora[target]!, a.dLora, R);
  }

  /**
   * Teacher-forced forward over tokens (B, T); returns logp (B*T) with logp[n] = log p(targets[n] | tokens
   * of the same sequence up to n), 0 where targets[n] < 0. The result is a view into the model's buffers,
   * valid until the next forward. Keeps the activations for `backward` and the entropies for `entropy`;
   * the (B*T, V) logits are never held (the head runs over the vocabulary in chunks, ./head.ts).
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
    headForward(k, a.head, a, a.lnf, this.w.lmHead, a.targets, N, V, C); // logp, lse, entropy (N)
    this.lastShape = { B, T };
    this.forwardAdapter = this.activeAdapter();
    this.logitsValid = true;
    return a.logp.subarray(0, N);
  }

  /**
   * q, k, v (R, qDim / kvDim / kvDim) = projections of the normed rows ln (R, C), plus bias, with RoPE on
   * q and k at `positions`: shared by training (all rows) and the KV-cache path (the new rows).
   */
  private projectQkv(l: number, ln: Float32Array, q: Float32Array, k: Float32Array, v: Float32Array, positions: Int32Array, R: number, lora: LoraScratch): void {
    const c = this.config;
    const C = c.hiddenSize;
    const hd = c.headDim;
    const qDim = c.numAttentionHeads * hd;
    const kvDim = c.numKeyValueHeads * hd;
    const K = this.kernels;
    const w = this.w.layers[l];
    this.linear(q, ln, w.wq, R, qDim, C, false, l, 'q', lora); // (R, qDim)
    this.linear(k, ln, w.wk, R, kvDim, C, false, l, 'k', lora); // (R, kvDim)
    this.linear(v, ln, w.wv, R, kvDim, C, false, l, 'v', lora); // (R, kvDim)
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
    this.projectQkv(l, s.ln1, s.q, s.k, s.v, a.positions, N, s.lora);
    k.attentionForward(s.att, s.attLse, s.q, s.k, s.v, dims); // (N, qDim)
    s.resMid.set(x.subarray(0, N * C));
    this.linear(s.resMid, s.att, w.wo, N, C, qDim, true, l, 'o', s.lora); // resMid = x + o_proj(att)
    if (w.bo) k.addBias(s.resMid, w.bo, N, C);

    k.rmsnormForward(s.ln2, s.rstd2, s.resMid, w.postNorm, N, C, eps);
    this.linear(s.gate, s.ln2, w.wGate, N, I, C, false, l, 'gate', s.lora); // (N, I)
    this.linear(s.up, s.ln2, w.wUp, N, I, C, false, l, 'up', s.lora); // (N, I)
    k.swigluForward(s.h, s.gate, s.up, N * I);
    const out = a.residual[l + 1];
    out.set(s.resMid.subarray(0, N * C));
    this.linear(out, s.h, w.wDown, N, C, I, true, l, 'down', s.lora); // out = resMid + down_proj(h)
  }

  /**
   * Backward of the last `forward`: given dlogp (B*T) = d loss / d logp per position, ACCUMULATES
   * d loss / d parameter into `grads` and the adapter's (call `zeroGrad` once per optimiser step).
   * Call `entropy()` before this.
   */
  backward(dlogp: Float32Array): void {
    const grads = this.baseGradients('LlamaModel.backward');
    if (!this.lastShape || !this.acts || !this.logitsValid) throw new Error('LlamaModel.backward: call forward first (once per backward)');
    const { B, T } = this.lastShape;
    const { hiddenSize: C, vocabSize: V, numHiddenLayers: L } = this.config;
    const N = B * T;
    if (dlogp.length < N) throw inputError('LlamaModel.backward: dlogp', `has ${dlogp.length} values, expected B*T = ${N}`);
    const a = this.acts;
    const k = this.kernels;
    a.dlogp.set(dlogp.subarray(0, N));

    // Head: logits = lnf · lm_headᵀ, recomputed and differentiated one vocabulary chunk at a time.
    this.logitsValid = false;
    headBackward(k, a.head, a.dln, grads?.lmHead ?? null, a.dlogp, a.lnf, this.w.lmHead, a.lse, a.targets, N, V, C); // dlnf (N, C)
    a.dres.fill(0, 0, N * C);
    k.rmsnormBackward(a.dres, grads?.norm ?? a.dNormDiscard, a.dln, a.residual[L], this.w.norm, a.rstdf, N, C);

    const dims: AttentionDims = { B, T, nHead: this.config.numAttentionHeads, nKvHead: this.config.numKeyValueHeads, headDim: this.config.headDim };
    for (let l = L - 1; l >= 0; l--) {
      this.recomputeLayer(l, a, dims);
      this.layerBackward(l, a, dims, grads?.layers[l] ?? null);
    }
    if (grads) this.embeddingBackward(grads.embed, a, N);
  }

  /** Scatter-adds the residual gradient into the embedding rows of the looked-up tokens. */
  private embeddingBackward(dEmbed: Float32Array, a: Activations, N: number): void {
    const C = this.config.hiddenSize;
    for (let n = 0; n < N; n++) {
      const row = a.tokens[n] * C;
      for (let c = 0; c < C; c++) dEmbed[row + c] += a.dres[n * C + c];
    }
  }

  /** On entry a.dres holds d loss / d residual[l+1]; on exit d loss / d residual[l]. */
  private layerBackward(l: number, a: Activations, dims: AttentionDims, g: LayerTensors | null): void {
    const { hiddenSize: C, intermediateSize: I, numAttentionHeads: nH, numKeyValueHeads: nKv, headDim: hd } = this.config;
    const N = dims.B * dims.T;
    const qDim = nH * hd;
    const kvDim = nKv * hd;
    const w = this.w.layers[l];
    const s = a.layers[l];
    const k = this.kernels;

    // MLP block: out = resMid + h · W_downᵀ, h = swiglu(ln2 · W_gateᵀ, ln2 · W_upᵀ).
    this.linearBackward(a.dh, a.dres, s.h, w.wDown, g?.wDown ?? null, N, C, I, false, l, 'down', a); // dh (N, I)
    a.dgate.fill(0, 0, N * I);
    a.dup.fill(0, 0, N * I);
    k.swigluBackward(a.dgate, a.dup, a.dh, s.gate, s.up, N * I);
    this.linearBackward(a.dln, a.dgate, s.ln2, w.wGate, g?.wGate ?? null, N, I, C, false, l, 'gate', a); // dln2 (N, C)
    this.linearBackward(a.dln, a.dup, s.ln2, w.wUp, g?.wUp ?? null, N, I, C, true, l, 'up', a);
    k.rmsnormBackward(a.dres, g?.postNorm ?? a.dNormDiscard, a.dln, s.resMid, w.postNorm, s.rstd2, N, C); // dres = d resMid

    // Attention block: resMid = x + att · W_oᵀ (+ b_o).
    if (g?.bo) k.biasBackward(g.bo, a.dres, N, C);
    this.linearBackward(a.datt, a.dres, s.att, w.wo, g?.wo ?? null, N, C, qDim, false, l, 'o', a); // datt (N, qDim)
    a.dq.fill(0, 0, N * qDim);
    a.dk.fill(0, 0, N * kvDim);
    a.dv.fill(0, 0, N * kvDim);
    k.attentionBackward(a.dq, a.dk, a.dv, a.datt, s.att, s.attLse, s.q, s.k, s.v, dims);
    // RoPE is a rotation, so its backward is the inverse rotation.
    k.rope(a.dq, a.positions, this.ropeCos, this.ropeSin, N, nH, hd, true);
    k.rope(a.dk, a.positions, this.ropeCos, this.ropeSin, N, nKv, hd, true);
    if (g?.bq && g.bk && g.bv) {
      k.biasBackward(g.bq, a.dq, N, qDim);
      k.biasBackward(g.bk, a.dk, N, kvDim);
      k.biasBackward(g.bv, a.dv, N, kvDim);
    }
    this.linearBackward(a.dln, a.dq, s.ln1, w.wq, g?.wq ?? null, N, qDim, C, false, l, 'q', a); // dln1 (N, C)
    this.linearBackward(a.dln, a.dk, s.ln1, w.wk, g?.wk ?? null, N, kvDim, C, true, l, 'k', a);
    this.linearBackward(a.dln, a.dv, s.ln1, w.wv, g?.wv ?? null, N, kvDim, C, true, l, 'v', a);
    k.rmsnormBackward(a.dres, g?.inputNorm ?? a.dNormDiscard, a.dln, a.residual[l], w.inputNorm, s.rstd1, N, C); // dres = d x
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
    this.forwardAdapter = this.activeAdapter();
    this.logitsValid = false;
    this.hiddenValid = true;
    return a.lnf.subarray(0, N * C);
  }

  /**
   * Backward of the last `forwardHidden`: given d loss / d hidden (B*T, C), ACCUMULATES d loss /
   * d parameter into `grads` and the adapter's (lm_head gets none).
   */
  backwardHidden(dhidden: Float32Array): void {
    const grads = this.baseGradients('LlamaModel.backwardHidden');
    if (!this.lastShape || !this.acts || !this.hiddenValid) throw new Error('LlamaModel.backwardHidden: call forwardHidden first (once per backwardHidden)');
    const { B, T } = this.lastShape;
    const { hiddenSize: C, numHiddenLayers: L } = this.config;
    const N = B * T;
    if (dhidden.length < N * C) throw inputError('LlamaModel.backwardHidden: dhidden', `has ${dhidden.length} values, expected B*T*C = ${N * C}`);
    const a = this.acts;
    this.hiddenValid = false;
    a.dln.set(dhidden.subarray(0, N * C));
    a.dres.fill(0, 0, N * C);
    this.kernels.rmsnormBackward(a.dres, grads?.norm ?? a.dNormDiscard, a.dln, a.residual[L], this.w.norm, a.rstdf, N, C);
    const dims: AttentionDims = { B, T, nHead: this.config.numAttentionHeads, nKvHead: this.config.numKeyValueHeads, headDim: this.config.headDim };
    for (let l = L - 1; l >= 0; l--) {
      this.recomputeLayer(l, a, dims);
      this.layerBackward(l, a, dims, grads?.layers[l] ?? null);
    }
    if (grads) this.embeddingBackward(grads.embed, a, N);
  }

  /**
   * The logits (B*T, V) of the last `forward`, recomputed into a new array (B*T*V floats: for tests and
   * diagnostics, not training; the forward itself never holds them). Call before `backward`.
   */
  logits(): Float32Array {
    if (!this.lastShape || !this.acts || !this.logitsValid) throw new Error('LlamaModel.logits: needs a forward not yet consumed by backward');
    const N = this.lastShape.B * this.lastShape.T;
    const { vocabSize: V, hiddenSize: C } = this.config;
    const mark = this.arena.mark();
    try {
      const logits = this.arena.allocF32(N * V); // kernels address arena memory; given back below
      this.kernels.matmul(logits, this.acts.lnf, this.w.lmHead, N, V, C, 'nt', false);
      return logits.slice();
    } finally {
      this.arena.release(mark);
    }
  }

  /**
   * Entropy (nats) of the next-token distribution at every position of the last `forward` (computed by
   * its chunked head). A view valid until the next forward; call before `backward`.
   */
  entropy(): Float32Array {
    if (!this.lastShape || !this.acts || !this.logitsValid) throw new Error('LlamaModel.entropy: needs a forward not yet consumed by backward');
    return this.acts.entropy.subarray(0, this.lastShape.B * this.lastShape.T);
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
      lora: this.loraScratch(() => arena.allocF32(rows * this.adapterRank()), true),
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
      this.projectQkv(l, st.ln, st.q, st.k, st.v, st.positions, R, st.lora);
      for (let b = 0; b < B; b++) {
        // The Tq new rows of sequence b are contiguous in its cache slot.
        const src = b * Tq * kvDim;
        const dst = (b * st.maxT + st.pos[b]) * kvDim;
        kCache.set(st.k.subarray(src, src + Tq * kvDim), dst);
        vCache.set(st.v.subarray(src, src + Tq * kvDim), dst);
      }
      k.attentionCached(st.att, st.q, kCache, vCache, st.pos, Tq, st.maxT, dims); // (R, qDim)
      this.linear(st.x, st.att, w.wo, R, C, qDim, true, l, 'o', st.lora); // x += o_proj(att)
      if (w.bo) k.addBias(st.x, w.bo, R, C);
      k.rmsnormForward(st.ln, st.rstd, st.x, w.postNorm, R, C, eps);
      this.linear(st.gate, st.ln, w.wGate, R, I, C, false, l, 'gate', st.lora); // (R, I)
      this.linear(st.up, st.ln, w.wUp, R, I, C, false, l, 'up', st.lora); // (R, I)
      k.swigluForward(st.h, st.gate, st.up, R * I);
      this.linear(st.x, st.h, w.wDown, R, C, I, true, l, 'down', st.lora); // x += down_proj(h)
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

  /** The base's gradient views, null when frozen; refuses when there is nothing to train at all. */
  private baseGradients(where: string): ModelTensors | null {
    if (!this.g && !this.forwardAdapter) throw new Error(`${where}: the model is frozen (built with trainable: false) and its forward ran without an adapter, so it has no gradients to compute`);
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

  private adapterRank(): number {
    return Math.max(this.adapterValue?.config.rank ?? 0, this.reservedAdapterRank);
  }

  /** Adapter scratch per adapted target: its own buffer each, or (`shared`) one for all. */
  private loraScratch(alloc: () => Float32Array, shared: boolean): LoraScratch {
    const scratch: LoraScratch = {};
    const targets = this.reservedAdapterRank > 0 ? LORA_TARGETS : this.adapterValue?.config.targets;
    if (!targets) return scratch;
    const one = shared ? alloc() : null;
    for (const t of targets) scratch[t] = one ?? alloc();
    return scratch;
  }

  /** L layers' activation sets: L distinct ones, or under `recompute` one shared by every layer. */
  private layerActivations(L: number, make: () => LayerActivations): LayerActivations[] {
    if (!this.recompute) return Array.from({ length: L }, make);
    const shared = make();
    return Array.from({ length: L }, () => shared);
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
      layers: this.layerActivations(L, () => ({
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
        lora: this.loraScratch(() => f32(N * this.adapterRank()), false),
      })),
      lnf: f32(N * C),
      rstdf: f32(N),
      head: allocHeadScratch(arena, N, V),
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
      dLora: f32(N * this.adapterRank()),
      dNormDiscard: f32(C),
    };
    this.actsBlock.end = arena.mark();
    this.logitsValid = false;
    this.hiddenValid = false;
    return this.acts;
  }
}
