/**
 * MADE: a masked autoencoder for distribution estimation (Germain et al. 2015, "MADE: Masked Autoencoder
 * for Distribution Estimation"), used as an autoregressive policy over fixed-length token sequences: the
 * policy of PAV's didactic experiment (Setlur et al., arXiv 2410.08146, App. B: 3 layers of 128 units).
 *
 * A plain ReLU MLP from the one-hot sequence (B, D·V) to logits (B, D·V), whose weight masks let the
 * logits of position d see only the tokens before d, so one pass gives every conditional
 * p(x_d | x_<d) and log p(x) = sum_d log p(x_d | x_<d). Degrees (MADE Sec. 4): input units of position d
 * (1-based) have degree d; hidden unit j of every layer has degree 1 + (j mod (D - 1)); a hidden unit
 * sees units of degree <= its own, an output of position d sees hidden units of degree < d.
 *
 * Unlike a transformer, no weight is shared across positions: what it learns about y* at one position does
 * not carry to another, which is why outcome-only RL, fed one success at a time, barely moves it.
 *
 * Layout: every weight (out, in) row-major as torch.nn.Linear, masked entries held at zero (their
 * gradients are masked too, so AdamW never moves them). Activations live in the engine arena.
 */
import { inputError } from '../util/errors.js';
import type { Rng } from '../util/rng.js';
import type { Kernels } from './kernels/types.js';
import type { Arena } from './memory.js';
import type { ParamShard, Trainable } from './optim.js';

export interface MadeConfig {
  /** Tokens per position (V). */
  vocabSize: number;
  /** Positions per sequence (D). */
  length: number;
  /** Units of each hidden layer (paper: [128, 128, 128]). */
  hidden: number[];
}

interface Layer {
  nIn: number;
  nOut: number;
  weight: Float32Array; // (nOut, nIn)
  bias: Float32Array; // (nOut)
  dWeight: Float32Array;
  dBias: Float32Array;
  mask: Uint8Array; // (nOut, nIn): 1 where the connection exists
}

/** Per-batch activations kept from forward for backward. */
interface Activations {
  batch: number;
  acts: Float32Array[]; // acts[0] one-hot input (B, D·V); acts[l] output of layer l-1 (ReLU'd for hidden)
  grads: Float32Array[]; // same shapes, d loss / d acts[l] for l >= 1
  targets: Int32Array; // (B·D)
  logp: Float32Array; // (B·D)
  lse: Float32Array; // (B·D)
}

export class MadeModel implements Trainable {
  readonly config: MadeConfig;
  readonly weights: Float32Array;
  readonly grads: Float32Array;
  /** The one shard (segment 0) the optimiser sees. */
  readonly shards: readonly ParamShard[];
  private readonly layers: Layer[];
  private readonly arena: Arena;
  private readonly kernels: Kernels;
  /** Activation blocks by batch size (training and sampling batches differ; each is allocated once). */
  private readonly blocks = new Map<number, Activations>();
  /** The block of the last `logProbs` call, which `backward` differentiates. */
  private lastLogProbs: Activations | null = null;

  /** A freshly initialised model (torch.nn.Linear's uniform(-1/sqrt(in), 1/sqrt(in)), masked), drawn from `rng`. */
  constructor(config: MadeConfig, arena: Arena, kernels: Kernels, rng: Rng) {
    const { vocabSize: V, length: D, hidden } = config;
    if (!(Number.isInteger(V) && V >= 2)) throw inputError('MADE: vocabSize', `must be an integer >= 2, got ${V}`);
    if (!(Number.isInteger(D) && D >= 2)) throw inputError('MADE: length', `must be an integer >= 2, got ${D}`);
    if (hidden.length === 0 || hidden.some((h) => !(Number.isInteger(h) && h >= D - 1))) {
      throw inputError('MADE: hidden', `needs at least one layer, each of at least length - 1 = ${D - 1} units (every degree once), got [${hidden}]`);
    }
    this.config = { vocabSize: V, length: D, hidden: [...hidden] };
    this.arena = arena;
    this.kernels = kernels;
    const sizes = [D * V, ...hidden, D * V];
    const total = sizes.slice(1).reduce((sum, nOut, l) => sum + nOut * sizes[l] + nOut, 0);
    this.weights = arena.allocF32(total);
    this.grads = arena.allocF32(total);
    this.shards = [{ segment: 0, weights: this.weights, grads: this.grads }];
    const inputDegree = (i: number) => Math.floor(i / V) + 1;
    const hiddenDegree = (j: number) => 1 + (j % (D - 1));
    this.layers = [];
    let offset = 0;
    for (let l = 0; l + 1 < sizes.length; l++) {
      const nIn = sizes[l];
      const nOut = sizes[l + 1];
      const isOutput = l + 2 === sizes.length;
      const degreeIn = l === 0 ? inputDegree : hiddenDegree;
      const take = (n: number) => {
        const views = [this.weights.subarray(offset, offset + n), this.grads.subarray(offset, offset + n)] as const;
        offset += n;
        return views;
      };
      const [weight, dWeight] = take(nOut * nIn);
      const [bias, dBias] = take(nOut);
      const mask = new Uint8Array(nOut * nIn);
      const bound = 1 / Math.sqrt(nIn);
      for (let o = 0; o < nOut; o++) {
        for (let i = 0; i < nIn; i++) {
          const connected = isOutput ? inputDegree(o) > degreeIn(i) : hiddenDegree(o) >= degreeIn(i);
          mask[o * nIn + i] = connected ? 1 : 0;
          weight[o * nIn + i] = connected ? (2 * rng.next() - 1) * bound : 0;
        }
        bias[o] = (2 * rng.next() - 1) * bound;
      }
      this.layers.push({ nIn, nOut, weight, bias, dWeight, dBias, mask });
    }
  }

  /** Every parameter with its gradient view, in the flat blocks' order. */
  parameters(): Array<{ name: string; shape: number[]; data: Float32Array; grad: Float32Array }> {
    return this.layers.flatMap((layer, l) => [
      { name: `layers.${l}.weight`, shape: [layer.nOut, layer.nIn], data: layer.weight, grad: layer.dWeight },
      { name: `layers.${l}.bias`, shape: [layer.nOut], data: layer.bias, grad: layer.dBias },
    ]);
  }

  /**
   * log p(x_d | x_<d) of every position of `tokens` (B sequences of D tokens), kept for `backward`.
   * Returns (B·D), row b·D + d; valid until the next call.
   */
  logProbs(tokens: readonly (readonly number[])[]): Float32Array {
    const { vocabSize: V, length: D } = this.config;
    const B = tokens.length;
    const a = this.activations(B);
    for (let b = 0; b < B; b++) {
      if (tokens[b].length !== D) throw inputError(`MADE: sequence ${b}`, `has ${tokens[b].length} tokens, the model takes ${D}`);
      for (let d = 0; d < D; d++) {
        const token = tokens[b][d];
        if (!(Number.isInteger(token) && token >= 0 && token < V)) throw inputError(`MADE: sequence ${b}, position ${d}`, `token ${token} is outside 0..${V - 1}`);
        a.targets[b * D + d] = token;
      }
    }
    this.forward(a, tokens, D);
    this.lastLogProbs = a;
    const logits = a.acts[this.layers.length]; // (B, D·V) = (B·D, V)
    this.kernels.logSoftmaxGather(a.logp, a.lse, logits, a.targets, B * D, V);
    return a.logp;
  }

  /**
   * grads += d loss / d weights, given dlogp (B·D) = d loss / d logp from the last `logProbs` call (its
   * batch). Gradients of masked weights stay zero.
   */
  backward(dlogp: Float32Array): void {
    const a = this.lastLogProbs;
    if (!a) throw new Error('MADE.backward: call logProbs first (sampling overwrites its activations)');
    const { vocabSize: V, length: D } = this.config;
    const B = a.batch;
    const k = this.kernels;
    const top = this.layers.length;
    k.logSoftmaxGatherBackward(a.grads[top], dlogp, a.acts[top], a.lse, a.targets, B * D, V);
    for (let l = top - 1; l >= 0; l--) {
      const { nIn, nOut, weight, dWeight, dBias, mask } = this.layers[l];
      const dy = a.grads[l + 1]; // (B, nOut)
      k.matmul(dWeight, dy, a.acts[l], nOut, nIn, B, 'tn', true); // dW (nOut, nIn) += dyᵀ · x
      k.biasBackward(dBias, dy, B, nOut);
      for (let i = 0; i < mask.length; i++) if (mask[i] === 0) dWeight[i] = 0;
      if (l === 0) break; // the one-hot input needs no gradient
      const dx = a.grads[l];
      k.matmul(dx, dy, weight, B, nIn, nOut, 'nn', false); // dx (B, nIn) = dy · W
      const x = a.acts[l];
      for (let i = 0; i < B * nIn; i++) if (x[i] <= 0) dx[i] = 0; // ReLU
    }
  }

  /**
   * `batch` sequences drawn autoregressively at `temperature`: D passes, pass d drawing position d. Once
   * `endToken` is drawn, the rest of that sequence is `endToken` (what follows an end is masked anyway).
   */
  sample(batch: number, rng: Rng, options: { temperature?: number; endToken?: number } = {}): number[][] {
    const { vocabSize: V, length: D } = this.config;
    const temperature = options.temperature ?? 1;
    if (!(temperature > 0)) throw inputError('MADE.sample: temperature', `must be > 0, got ${temperature}`);
    const a = this.activations(batch);
    if (this.lastLogProbs === a) this.lastLogProbs = null;
    const tokens = Array.from({ length: batch }, () => new Array<number>(D).fill(0));
    const ended = new Array<boolean>(batch).fill(false);
    const p = new Float64Array(V);
    for (let d = 0; d < D; d++) {
      // Positions >= d still hold placeholders; the masks keep them out of position d's logits.
      this.forward(a, tokens, d);
      const logits = a.acts[this.layers.length];
      for (let b = 0; b < batch; b++) {
        if (ended[b]) {
          tokens[b][d] = options.endToken!;
          continue;
        }
        const row = b * D * V + d * V;
        let max = -Infinity;
        for (let v = 0; v < V; v++) max = Math.max(max, logits[row + v] / temperature);
        let z = 0;
        for (let v = 0; v < V; v++) z += p[v] = Math.exp(logits[row + v] / temperature - max);
        let u = rng.next() * z;
        let token = V - 1;
        for (let v = 0; v < V; v++) {
          u -= p[v];
          if (u < 0) {
            token = v;
            break;
          }
        }
        tokens[b][d] = token;
        if (token === options.endToken) ended[b] = true;
      }
    }
    return tokens;
  }

  /** Sets every gradient to zero (once per update; backward accumulates). */
  zeroGrad(): void {
    this.grads.fill(0);
  }

  /** One-hot of the first `known` positions of each sequence, then every layer: (B, D·V) -> (B, D·V) logits. */
  private forward(a: Activations, tokens: readonly (readonly number[])[], known: number): void {
    const { vocabSize: V, length: D } = this.config;
    const B = a.batch;
    const x0 = a.acts[0];
    x0.fill(0);
    for (let b = 0; b < B; b++) for (let d = 0; d < known; d++) x0[b * D * V + d * V + tokens[b][d]] = 1;
    const top = this.layers.length;
    for (let l = 0; l < top; l++) {
      const { nIn, nOut, weight, bias } = this.layers[l];
      const y = a.acts[l + 1];
      this.kernels.matmul(y, a.acts[l], weight, B, nOut, nIn, 'nt', false); // (B, nOut) = x · Wᵀ
      this.kernels.addBias(y, bias, B, nOut);
      if (l + 1 < top) for (let i = 0; i < B * nOut; i++) if (y[i] < 0) y[i] = 0; // ReLU
    }
  }

  /** The activation block for a batch of B, allocated in the arena on first use. */
  private activations(B: number): Activations {
    if (!(Number.isInteger(B) && B >= 1)) throw inputError('MADE: batch', `must be a positive integer, got ${B}`);
    const cached = this.blocks.get(B);
    if (cached) return cached;
    const { vocabSize: V, length: D } = this.config;
    const sizes = [D * V, ...this.config.hidden, D * V];
    const alloc = (n: number) => this.arena.allocF32(n);
    const block: Activations = {
      batch: B,
      acts: sizes.map((n) => alloc(B * n)),
      grads: sizes.map((n, l) => (l === 0 ? new Float32Array(0) : alloc(B * n))),
      targets: this.arena.allocI32(B * D),
      logp: alloc(B * D),
      lse: alloc(B * D),
    };
    this.blocks.set(B, block);
    return block;
  }
}
