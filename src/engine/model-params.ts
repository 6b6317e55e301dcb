/**
 * A `LlamaModel`'s parameters in the arena (./memory.ts): per segment one shard, a flat float32 block
 * (with a gradient block of the same layout when trainable) and, for a frozen model held in bfloat16, a
 * block of bfloat16 matrices; each parameter a view into its shard, named and shaped as in HF's state_dict.
 * Layer l's parameters live in segment layerSegments[l]; the embeddings, final norm and lm_head in 0.
 */
import { inputError } from '../util/errors.js';
import type { WeightArray } from './bf16.js';
import type { ModelConfig } from './config.js';
import type { Arena } from './memory.js';
import { segmentsInUse } from './model-buffers.js';
import { isMatrix, parameterSpecs } from './model-layout.js';
import type { ParamShard } from './optim.js';

/**
 * One named parameter: HF name and shape, a view of its shard's weights and the matching view of its
 * grads (empty when the model is frozen).
 */
export interface Parameter {
  name: string;
  shape: number[];
  /** float32, or bfloat16 bits for a matrix of a model held in bf16 (`bf16Weights`). */
  data: WeightArray;
  grad: Float32Array;
}

/** Parameter slots are aligned to 64 bytes (a cache line): 16 floats, or 32 bfloat16 values. */
const PARAM_ALIGN_BYTES = 64;

const size = (spec: { shape: number[] }): number => spec.shape.reduce((a, b) => a * b, 1);
const slot = (n: number, bytesEach: number): number => Math.ceil((n * bytesEach) / PARAM_ALIGN_BYTES) * (PARAM_ALIGN_BYTES / bytesEach);

/** The segment of parameter `name` under `layerSegments`. */
function segmentOf(name: string, layerSegments: readonly number[]): number {
  const layer = /^model\.layers\.(\d+)\./.exec(name);
  return layer ? layerSegments[Number(layer[1])] : 0;
}

/**
 * Allocates the shards (segments ascending; in each the float32 block, its gradients, then the bfloat16
 * block) and returns them with every parameter's views, in `parameterSpecs` order.
 */
export function allocParameters(config: ModelConfig, arena: Arena, layerSegments: readonly number[], trainable: boolean, bf16: boolean): { shards: ParamShard[]; params: Parameter[] } {
  const specs = parameterSpecs(config);
  const shards: ParamShard[] = [];
  const views = new Map<string, { data: WeightArray; grad: Float32Array }>();
  for (const segment of segmentsInUse(layerSegments)) {
    const own = specs.filter((spec) => segmentOf(spec.name, layerSegments) === segment);
    const wide = own.filter((spec) => !(bf16 && isMatrix(spec))); // float32
    const narrow = own.filter((spec) => bf16 && isMatrix(spec)); // bfloat16
    const total = wide.reduce((sum, spec) => sum + slot(size(spec), 4), 0);
    const mem = arena.segment(segment);
    const shard: ParamShard = { segment, weights: mem.allocF32(total), grads: trainable ? mem.allocF32(total) : new Float32Array(0) };
    if (bf16) shard.weights16 = mem.allocU16(narrow.reduce((sum, spec) => sum + slot(size(spec), 2), 0));
    shards.push(shard);
    let offset = 0;
    for (const spec of wide) {
      const n = size(spec);
      views.set(spec.name, { data: shard.weights.subarray(offset, offset + n), grad: trainable ? shard.grads.subarray(offset, offset + n) : shard.grads });
      offset += slot(n, 4);
    }
    offset = 0;
    for (const spec of narrow) {
      const n = size(spec);
      views.set(spec.name, { data: shard.weights16!.subarray(offset, offset + n), grad: shard.grads });
      offset += slot(n, 2);
    }
  }
  return { shards, params: specs.map((spec) => ({ name: spec.name, shape: spec.shape, ...views.get(spec.name)! })) };
}

/** The layers' segments, default all 0; consecutive layers share a segment (non-decreasing indices). */
export function checkLayerSegments(segments: readonly number[] | undefined, L: number): readonly number[] {
  if (segments === undefined) return new Array<number>(L).fill(0);
  if (segments.length !== L) throw inputError('LlamaModel: layerSegments', `has ${segments.length} entries for ${L} layers`);
  segments.forEach((s, l) => {
    if (!(Number.isInteger(s) && s >= 0)) throw inputError(`LlamaModel: layerSegments[${l}]`, `${s} is not a segment index`);
    if (l > 0 && s < segments[l - 1]) throw inputError(`LlamaModel: layerSegments[${l}]`, `${s} is below the previous layer's ${segments[l - 1]} (segments run in layer order)`);
  });
  return [...segments];
}
