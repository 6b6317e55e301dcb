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
 *
 * This class owns the weights, gradients and state; the layer math (forward and backward side by side)
 * is in ./model-layers.ts, the KV-cache path in ./model-inference.ts, the buffers in ./model-buffers.ts.
 */
import { inputError } from '../util/errors.js';
import type { Rng } from '../util/rng.js';
import type { ModelConfig } from './config.js';
import type { AttentionDims, Kernels } from './kernels/types.js';
import { headBackward, headForward } from './head.js';
import type { Arena } from './memory.js';
import { LORA_TARGETS, targetShape, type LoraAdapter } from './lora.js';
import { allocActivations, allocInferenceState, beginBlock, endBlock, segmentsInUse, type Activations, type ArenaBlock, type BackwardScratch, type InferenceState, type LoraScratchPlan } from './model-buffers.js';
import * as kvCache from './model-inference.js';
import { embedRows, embeddingBackward, layerBackward, layerForward, type LayerContext, type RopeTables } from './model-layers.js';
import { isMatrix, parameterSpecs, ropeTables, structure, validateConfig, type ModelTensors } from './model-layout.js';
import { toBf16Bits, type WeightArray } from './bf16.js';
import type { ParamShard } from './optim.js';
import { SamplingRows } from './sampling-rows.js';

export { PREFILL_CHUNK } from './model-buffers.js';

/**
 * One named parameter: HF name and shape, a view of the flat weights and the matching view of the flat
 * grads (empty when the model is frozen).
 */
export interface Parameter {
  name: string;
  shape: number[];
  /** float32, or bfloat16 bits for a matrix of a model held in bf16 (`bf16Weights`). */
  data: WeightArray;
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
  /**
   * The arena segment (engine memory, ./memory.ts) of each decoder layer, for models past one 4 GiB
   * memory: a layer's weights, gradients, activations and KV caches live there; the embeddings, final
   * norm and lm_head in segment 0. Default: every layer in segment 0. `planPlacement`
   * (./memory-estimate.ts) computes one from what the model will hold.
   */
  layerSegments?: readonly number[];
  /**
   * Hold the matrices (embeddings, projections, lm_head) as bfloat16 bits, as a bf16 checkpoint stores
   * them: half their memory, the same results (every kernel widens bfloat16 to float32 exactly as it
   * reads it). Frozen models only (`trainable: false`); norms and biases stay float32. Default false
   * (`loadModel` turns it on for frozen models of bf16 checkpoints).
   */
  bf16Weights?: boolean;
}

/** Parameter offsets are aligned to 16 floats (64 bytes, a cache line) inside the flat block. */
const PARAM_ALIGN = 16;

export class LlamaModel {
  readonly config: ModelConfig;
  /**
   * The parameters by segment: each shard holds, flat and in `parameters()` order (with alignment gaps
   * that stay zero), the parameters that live in its segment, and their gradients (empty when frozen).
   */
  readonly shards: readonly ParamShard[];
  readonly trainable: boolean;
  /** The arena segment of each layer (LlamaModelOptions.layerSegments). */
  readonly layerSegments: readonly number[];
  /** Per-layer activation checkpointing (LlamaModelOptions.recompute). */
  readonly recompute: boolean;

  /** Where the model's tensors live (a server allocates adapters here too). */
  readonly arena: Arena;
  private readonly kernels: Kernels;
  private readonly params: Parameter[];
  private readonly w: ModelTensors<WeightArray>;
  /** Gradient views of `grads`; null when frozen. */
  private readonly g: ModelTensors | null;
  /** What the layer code (./model-layers.ts, ./model-inference.ts) reads: config, kernels, weights, RoPE. */
  private readonly ctx: LayerContext;

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
  private logitsValid = false;
  private hiddenValid = false;

  constructor(config: ModelConfig, arena: Arena, kernels: Kernels, options: LlamaModelOptions = {}) {
    validateConfig(config);
    this.config = config;
    this.trainable = options.trainable ?? true;
    this.recompute = options.recompute ?? false;
    this.arena = arena;
    this.kernels = kernels;
    this.layerSegments = checkLayerSegments(options.layerSegments, config.numHiddenLayers);
    const bf16 = options.bf16Weights ?? false;
    if (bf16 && this.trainable) throw inputError('LlamaModel: bf16Weights', 'holds frozen models only (trainable: false); a trained model keeps float32 weights');

    const specs = parameterSpecs(config);
    const segmentOf = (name: string): number => {
      const layer = /^model\.layers\.(\d+)\./.exec(name);
      return layer ? this.layerSegments[Number(layer[1])] : 0;
    };
    const shards: ParamShard[] = [];
    const views = new Map<string, { data: WeightArray; grad: Float32Array }>();
    const size = (spec: { shape: number[] }) => spec.shape.reduce((a, b) => a * b, 1);
    const slot = (n: number, align: number) => Math.ceil(n / align) * align;
    for (const segment of segmentsInUse(this.layerSegments)) {
      const own = specs.filter((spec) => segmentOf(spec.name) === segment);
      const wide = own.filter((spec) => !(bf16 && isMatrix(spec))); // float32
      const narrow = own.filter((spec) => bf16 && isMatrix(spec)); // bfloat16
      const total = wide.reduce((sum, spec) => sum + slot(size(spec), PARAM_ALIGN), 0);
      const mem = arena.segment(segment);
      const shard: ParamShard = { segment, weights: mem.allocF32(total), grads: this.trainable ? mem.allocF32(total) : new Float32Array(0) };
      if (bf16) shard.weights16 = mem.allocU16(narrow.reduce((sum, spec) => sum + slot(size(spec), 2 * PARAM_ALIGN), 0));
      shards.push(shard);
      let offset = 0;
      for (const spec of wide) {
        const n = size(spec);
        views.set(spec.name, { data: shard.weights.subarray(offset, offset + n), grad: this.trainable ? shard.grads.subarray(offset, offset + n) : shard.grads });
        offset += slot(n, PARAM_ALIGN);
      }
      offset = 0;
      for (const spec of narrow) {
        const n = size(spec);
        views.set(spec.name, { data: shard.weights16!.subarray(offset, offset + n), grad: shard.grads });
        offset += slot(n, 2 * PARAM_ALIGN); // 64 bytes, as the float32 slots
      }
    }
    this.shards = shards;
    this.params = specs.map((spec) => ({ name: spec.name, shape: spec.shape, ...views.get(spec.name)! }));
    this.w = structure<WeightArray>(config, new Map(this.params.map((p) => [p.name, p.data])));
    this.g = this.trainable ? structure(config, new Map(this.params.map((p) => [p.name, p.grad]))) : null;

    // RoPE tables in every segment (the rope kernel reads them beside each layer's activations).
    const rope: RopeTables[] = [];
    for (const segment of segmentsInUse(this.layerSegments)) {
      const [cos, sin] = ropeTables(arena.segment(segment), config.maxPositionEmbeddings, config.headDim, config.ropeTheta);
      rope[segment] = { cos, sin };
    }
    this.ctx = { config, kernels, w: this.w, rope: this.layerSegments.map((s) => rope[s]) };
  }

  /** The flat weights of a float32 model held in one segment (tests, tools); a model over several has `shards`. */
  get weights(): Float32Array {
    const shard = this.singleShard('weights');
    if (shard.weights16) throw new Error('LlamaModel.weights: the model holds its matrices in bfloat16; use parameters()');
    return shard.weights;
  }

  /** The flat gradients of a model held in one segment; empty when frozen. */
  get grads(): Float32Array {
    return this.singleShard('grads').grads;
  }

  private singleShard(what: string): ParamShard {
    if (this.shards.length !== 1) throw new Error(`LlamaModel.${what}: the model spans ${this.shards.length} arena segments; use its shards`);
    return this.shards[0];
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
      const bits = p.data instanceof Uint16Array ? p.data : null; // bfloat16: rounded to nearest
      if (p.name.endsWith('norm.weight')) p.data.fill(1);
      else if (p.name.endsWith('.bias')) p.data.fill(0);
      else if (bits) for (let i = 0; i < bits.length; i++) bits[i] = toBf16Bits(0.02 * rng.normal());
      else for (let i = 0; i < p.data.length; i++) p.data[i] = 0.02 * rng.normal();
    }
  }

  zeroGrad(): void {
    for (const shard of this.shards) shard.grads.fill(0);
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
    if (adapter.layerSegments.some((s, l) => s !== this.layerSegments[l])) {
      throw new Error(`LlamaModel.attachAdapter: the adapter's layers are in arena segments [${adapter.layerSegments.join(', ')}], the model's in [${this.layerSegments.join(', ')}]; build the adapter with the model's layerSegments`);
    }
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
    return this.adapterEnabled ? this.adapterValue : null;
  }

  /**
   * Before layerBackward(l) under `recompute`: layer l's activations again, from its saved input, with
   * the adapter the forward ran with (a segment's layers share one activation set, last written by the
   * next layer of the segment). Also rewrites layer l's output with the same bits it already holds.
   */
  private recomputeLayer(l: number, a: Activations, dims: AttentionDims): void {
    // A segment's last layer left its activations in the shared set: nothing to redo there.
    if (!this.recompute || l === this.config.numHiddenLayers - 1 || this.layerSegments[l + 1] !== this.layerSegments[l]) return;
    layerForward(this.ctx, this.forwardAdapter, l, a.layers[l], dims);
  }

  /** Embeddings of a.tokens into residual[0], then every layer, the residual stream copied across segments. */
  private trunkForward(a: Activations, N: number, dims: AttentionDims): void {
    const { hiddenSize: C, numHiddenLayers: L } = this.config;
    embedRows(this.w.embed, a.tokens, N, C, a.residual[0]); // (N, C)
    for (const io of new Set(a.layers.map((io) => io.positions))) if (io !== a.positions) io.set(a.positions.subarray(0, N));
    for (let l = 0; l < L; l++) {
      const io = a.layers[l];
      layerForward(this.ctx, this.activeAdapter(), l, io, dims);
      if (io.output !== a.residual[l + 1]) a.residual[l + 1].set(io.output.subarray(0, N * C));
    }
  }

  /**
   * Backward through every layer given d loss / d residual[L] in a.d.dres (segment 0), moving it across
   * segments; then the embeddings. `grads` null: the adapter's gradients only.
   */
  private trunkBackward(a: Activations, N: number, dims: AttentionDims, grads: ModelTensors | null): void {
    const C = this.config.hiddenSize;
    let d: BackwardScratch = a.d;
    for (let l = this.config.numHiddenLayers - 1; l >= 0; l--) {
      const io = a.layers[l];
      if (io.d !== d) {
        io.d.dres.set(d.dres.subarray(0, N * C));
        d = io.d;
      }
      this.recomputeLayer(l, a, dims);
      layerBackward(this.ctx, this.forwardAdapter, l, io, dims, grads?.layers[l] ?? null);
    }
    if (grads) embeddingBackward(this.ctx, grads.embed, a.tokens, d, N);
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
    const dims: AttentionDims = { B, T, nHead: this.config.numAttentionHeads, nKvHead: this.config.numKeyValueHeads, headDim: this.config.headDim };
    this.trunkForward(a, N, dims);

    const k = this.kernels;
    k.rmsnormForward(a.lnf, a.rstdf, a.residual[L], this.w.norm, N, C, this.config.rmsNormEps);
    headForward(k, a.head, a, a.lnf, this.w.lmHead, a.targets, N, V, C); // logp, lse, entropy (N)
    this.lastShape = { B, T };
    this.forwardAdapter = this.activeAdapter();
    this.logitsValid = true;
    return a.logp.subarray(0, N);
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
    headBackward(k, a.head, a.d.dln, grads?.lmHead ?? null, a.dlogp, a.lnf, this.w.lmHead, a.lse, a.targets, N, V, C); // dlnf (N, C)
    a.d.dres.fill(0, 0, N * C);
    k.rmsnormBackward(a.d.dres, grads?.norm ?? a.d.dNormDiscard, a.d.dln, a.residual[L], this.w.norm, a.rstdf, N, C);
    const dims: AttentionDims = { B, T, nHead: this.config.numAttentionHeads, nKvHead: this.config.numKeyValueHeads, headDim: this.config.headDim };
    this.trunkBackward(a, N, dims, grads);
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
    const dims: AttentionDims = { B, T, nHead: this.config.numAttentionHeads, nKvHead: this.config.numKeyValueHeads, headDim: this.config.headDim };
    this.trunkForward(a, N, dims);
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
    a.d.dln.set(dhidden.subarray(0, N * C));
    a.d.dres.fill(0, 0, N * C);
    this.kernels.rmsnormBackward(a.d.dres, grads?.norm ?? a.d.dNormDiscard, a.d.dln, a.residual[L], this.w.norm, a.rstdf, N, C);
    const dims: AttentionDims = { B, T, nHead: this.config.numAttentionHeads, nKvHead: this.config.numKeyValueHeads, headDim: this.config.headDim };
    this.trunkBackward(a, N, dims, grads);
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
    this.inferenceBlock = beginBlock(this.arena, this.inferenceBlock, segmentsInUse(this.layerSegments));
    this.inference = allocInferenceState(this.arena, this.config, batch, maxT, this.loraScratchPlan(), this.layerSegments);
    endBlock(this.arena, this.inferenceBlock);
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
    return kvCache.forwardCached(this.ctx, this.activeAdapter(), st, tokens, B, Tq, pos, slot);
  }

  /**
   * The sampler's softmax / temperature / top-k / top-p pass (./sampling-rows.ts) over the buffers of the
   * prepared inference state, on this model's kernels. Requires `prepareInference`.
   */
  samplingRows(): SamplingRows {
    const st = this.inference;
    if (!st) throw new Error('LlamaModel.samplingRows: call prepareInference first');
    return new SamplingRows(this.kernels, st.sampling, this.config.vocabSize);
  }

  /**
   * Copies the first `length` cached positions (keys and values, every layer) of slot `from` into
   * slots `to`: many continuations of one prefix then share a single prefill.
   */
  copyCacheSlot(from: number, to: readonly number[], length: number): void {
    const st = this.inference;
    if (!st) throw new Error('LlamaModel.copyCacheSlot: call prepareInference first');
    kvCache.copyCacheSlot(this.ctx, st, from, to, length);
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

  /** What the buffers' LoRA scratch is sized for: the attached adapter, or every target at the reserved rank. */
  private loraScratchPlan(): LoraScratchPlan {
    return {
      rank: Math.max(this.adapterValue?.config.rank ?? 0, this.reservedAdapterRank),
      targets: this.reservedAdapterRank > 0 ? LORA_TARGETS : this.adapterValue?.config.targets,
    };
  }

  private ensureActivations(N: number): Activations {
    if (this.acts && this.acts.rows >= N) return this.acts;
    this.actsBlock = beginBlock(this.arena, this.actsBlock, segmentsInUse(this.layerSegments));
    this.acts = allocActivations(this.arena, this.config, N, this.recompute, this.loraScratchPlan(), this.layerSegments);
    endBlock(this.arena, this.actsBlock);
    this.logitsValid = false;
    this.hiddenValid = false;
    return this.acts;
  }
}

/** The layers' segments, default all 0; consecutive layers share a segment (non-decreasing indices). */
function checkLayerSegments(segments: readonly number[] | undefined, L: number): readonly number[] {
  if (segments === undefined) return new Array<number>(L).fill(0);
  if (segments.length !== L) throw inputError('LlamaModel: layerSegments', `has ${segments.length} entries for ${L} layers`);
  segments.forEach((s, l) => {
    if (!(Number.isInteger(s) && s >= 0)) throw inputError(`LlamaModel: layerSegments[${l}]`, `${s} is not a segment index`);
    if (l > 0 && s < segments[l - 1]) throw inputError(`LlamaModel: layerSegments[${l}]`, `${s} is below the previous layer's ${segments[l - 1]} (segments run in layer order)`);
  });
  return [...segments];
}
