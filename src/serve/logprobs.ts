/**
 * The k most likely tokens at each position of a sequence (OpenAI's `top_logprobs`), at temperature 1.
 *
 * `generate` keeps only the sampled token's log-prob, so the alternatives come from a second pass over
 * prompt + completion through the same KV-cache path that sampled them (prefill in chunks, then one token
 * at a time), so the sampled token's entry agrees with the log-prob `generate` reported (< 1e-6 in the tests).
 */
import { PREFILL_CHUNK, type LlamaModel } from '../engine/model.js';

export interface TokenLogprob {
  token: number;
  logprob: number;
}

/**
 * For each t in from..len-1, the top `k` (token, log p) of the model's distribution over sequence[t]
 * given sequence[0..t-1], most likely first (ties: lower id first). from >= 1.
 */
export function topLogprobs(model: LlamaModel, sequence: readonly number[], from: number, k: number): TokenLogprob[][] {
  const V = model.config.vocabSize;
  const len = sequence.length;
  if (from < 1 || from > len) throw new Error(`topLogprobs: from ${from} outside [1, ${len}]`);
  if (from === len) return [];
  model.prepareInference(1, len - 1);
  const tokens = new Int32Array(PREFILL_CHUNK);
  const pos = new Int32Array(1);
  const out: TokenLogprob[][] = [];
  // Prefill up to position from-1; its logits give the distribution of sequence[from].
  let logits: Float32Array = new Float32Array(0);
  for (let start = 0; start < from; start += PREFILL_CHUNK) {
    const n = Math.min(PREFILL_CHUNK, from - start);
    for (let t = 0; t < n; t++) tokens[t] = sequence[start + t];
    pos[0] = start;
    logits = model.forwardCached(tokens, 1, n, pos);
  }
  for (let t = from; t < len; t++) {
    out.push(topK(logits, V, k));
    if (t === len - 1) break;
    tokens[0] = sequence[t];
    pos[0] = t;
    logits = model.forwardCached(tokens, 1, 1, pos);
  }
  return out;
}

/** The k largest log-softmax entries of logits (V), most likely first; log-sum-exp in float64. */
export function topK(logits: Float32Array, V: number, k: number): TokenLogprob[] {
  let max = -Infinity;
  for (let i = 0; i < V; i++) if (logits[i] > max) max = logits[i];
  let sum = 0;
  for (let i = 0; i < V; i++) sum += Math.exp(logits[i] - max);
  const lse = max + Math.log(sum);
  // Bounded insertion into a sorted list of k: O(V k), k <= 20.
  const best: number[] = [];
  for (let i = 0; i < V; i++) {
    if (best.length === k && logits[i] <= logits[best[k - 1]]) continue;
    let at = best.length;
    while (at > 0 && logits[best[at - 1]] < logits[i]) at--;
    best.splice(at, 0, i);
    if (best.length > k) best.pop();
  }
  return best.map((token) => ({ token, logprob: logits[token] - lse }));
}
