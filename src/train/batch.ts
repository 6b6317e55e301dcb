/**
 * Packing (prompt, response) pairs into one padded training batch, and reading per-response values
 * back out of it. Row b holds prompt ++ response; position t predicts token t+1, and only positions
 * that predict a response token have a target (-1 elsewhere), so the model's per-position log-probs
 * are exactly the response tokens' log-probs.
 */
import type { LlamaModel } from '../engine/model.js';

export interface PackedBatch {
  B: number;
  T: number;
  tokens: Int32Array; // (B, T)
  targets: Int32Array; // (B, T), -1 where no response token is predicted
  /** Position (within a row) that predicts response token 0, i.e. prompt length - 1. */
  starts: number[];
  /** Response lengths. */
  lengths: number[];
}

export function packBatch(prompts: readonly (readonly number[])[], responses: readonly (readonly number[])[]): PackedBatch {
  const B = prompts.length;
  const T = Math.max(1, ...prompts.map((p, b) => p.length + responses[b].length - 1));
  const tokens = new Int32Array(B * T);
  const targets = new Int32Array(B * T).fill(-1);
  const starts: number[] = [];
  for (let b = 0; b < B; b++) {
    const prompt = prompts[b];
    const response = responses[b];
    if (prompt.length === 0) throw new RangeError('packBatch: a prompt needs at least one token (e.g. <bos>)');
    const row = [...prompt, ...response];
    for (let t = 0; t < row.length - 1; t++) tokens[b * T + t] = row[t];
    const start = prompt.length - 1;
    for (let j = 0; j < response.length; j++) targets[b * T + start + j] = response[j];
    starts.push(start);
  }
  return { B, T, tokens, targets, starts, lengths: responses.map((r) => r.length) };
}

/** Per-response slices of a (B*T) per-position array, as float64. */
export function unpackResponses(values: ArrayLike<number>, batch: PackedBatch): Float64Array[] {
  return batch.starts.map((start, b) => {
    const out = new Float64Array(batch.lengths[b]);
    for (let j = 0; j < out.length; j++) out[j] = values[b * batch.T + start + j];
    return out;
  });
}

/** The inverse of `unpackResponses`: per-response values into a (B*T) array, zero elsewhere. */
export function packResponses(values: readonly ArrayLike<number>[], batch: PackedBatch): Float32Array {
  const out = new Float32Array(batch.B * batch.T);
  batch.starts.forEach((start, b) => {
    for (let j = 0; j < batch.lengths[b]; j++) out[b * batch.T + start + j] = values[b][j];
  });
  return out;
}

/** Teacher-forced log-probs of every response token under `model` (no gradient kept). */
export function responseLogprobs(model: LlamaModel, batch: PackedBatch): Float64Array[] {
  return unpackResponses(model.forward(batch.tokens, batch.targets, batch.B, batch.T), batch);
}

/** Rows `rows` of a batch as a batch of their own (mini-batches). */
export function selectRows(batch: PackedBatch, rows: readonly number[]): PackedBatch {
  const T = batch.T;
  const tokens = new Int32Array(rows.length * T);
  const targets = new Int32Array(rows.length * T);
  rows.forEach((r, i) => {
    tokens.set(batch.tokens.subarray(r * T, (r + 1) * T), i * T);
    targets.set(batch.targets.subarray(r * T, (r + 1) * T), i * T);
  });
  return { B: rows.length, T, tokens, targets, starts: rows.map((r) => batch.starts[r]), lengths: rows.map((r) => batch.lengths[r]) };
}
