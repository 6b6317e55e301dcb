/**
 * Token sampling from a vector of logits, as the llama.cpp backend does it in JS (llama.cpp only
 * evaluates): greedy at temperature 0, else temperature, top-k and top-p, drawn with prl's seeded Rng
 * so that a seed gives the same samples every time and every token comes with its exact log-prob.
 */
import type { Rng } from '../util/rng.js';

/** log(sum(exp(x))) computed stably. */
export function logSumExp(x: Float64Array): number {
  let max = -Infinity;
  for (const v of x) if (v > max) max = v;
  let sum = 0;
  for (const v of x) sum += Math.exp(v - max);
  return max + Math.log(sum);
}

/**
 * Samples one token from `logits` (V). temperature 0 is argmax. Otherwise the distribution is
 * softmax(logits / T) restricted to the top-k tokens, then to the smallest top set whose probability
 * reaches top-p (nucleus sampling, Holtzman et al. 2019), renormalised. Returns the token and its
 * log-prob under the untruncated softmax(logits / T): the number a policy-gradient ratio needs.
 */
export function sampleFromLogits(
  logits: Float64Array,
  temperature: number,
  topK: number | undefined,
  topP: number | undefined,
  rng: Rng,
): { token: number; logprob: number } {
  const V = logits.length;
  if (temperature <= 0) {
    let best = 0;
    for (let i = 1; i < V; i++) if (logits[i] > logits[best]) best = i;
    return { token: best, logprob: logits[best] - logSumExp(logits) };
  }
  const scaled = new Float64Array(V);
  for (let i = 0; i < V; i++) scaled[i] = logits[i] / temperature;
  const lse = logSumExp(scaled);
  // Ties keep id order, so the candidate list (and hence the sample) is fully determined by the logits.
  const order = Array.from({ length: V }, (_, i) => i).sort((a, b) => scaled[b] - scaled[a] || a - b);
  let keep = topK !== undefined && topK > 0 ? Math.min(topK, V) : V;
  if (topP !== undefined && topP < 1) {
    let cumulative = 0;
    for (let i = 0; i < keep; i++) {
      cumulative += Math.exp(scaled[order[i]] - lse);
      if (cumulative >= topP) {
        keep = i + 1;
        break;
      }
    }
  }
  let mass = 0;
  for (let i = 0; i < keep; i++) mass += Math.exp(scaled[order[i]] - lse);
  let u = rng.next() * mass;
  let token = order[keep - 1];
  for (let i = 0; i < keep; i++) {
    u -= Math.exp(scaled[order[i]] - lse);
    if (u < 0) {
      token = order[i];
      break;
    }
  }
  return { token, logprob: scaled[token] - lse };
}
