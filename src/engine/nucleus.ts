/**
 * Top-k and nucleus (top-p) filtering without sorting the whole vocabulary. At a 152k vocabulary a full
 * sort per sampled token dominates decoding; the kept tokens are a short prefix of the sorted order. A
 * histogram of the weights by their float32 bits gives a weight floor that the best k (top-k) or the nucleus
 * (top-p) lies above; one pass gathers the tokens above it and only they are sorted. Order: weight
 * descending, then token id ascending, exactly the full sort's, so the kept set and its order are the full
 * sort's prefix. Weights are the float32 sampling weights of ./sampling-rows.ts (>= 0); sums are float64.
 */

/** Float32 bits >>> BIN_SHIFT: exponent and the top 3 mantissa bits, so a bin spans a factor 2^(1/8). */
const BIN_SHIFT = 20;
const BINS = 1 << (31 - BIN_SHIFT); // non-negative floats: the sign bit is 0
/** Histogram scratch, reused across calls (sampling is single-threaded JS). */
const binMass = new Float64Array(BINS);
const binCount = new Int32Array(BINS);

/** The weights' float32 bits; for non-negative floats their order is the weights' order. */
function bitsOf(weights: Float32Array, V: number): Uint32Array {
  return new Uint32Array(weights.buffer, weights.byteOffset, V);
}

/**
 * Writes the best `m` of tokens 0..V-1 to order[0..m), best first (order may hold more after them): the
 * tokens in the highest bins that hold m of them are gathered and sorted. When fewer than m weights are
 * positive, zero-weight tokens follow in id order (a full sort's order among equals).
 */
export function selectBest(weights: Float32Array, V: number, m: number, order: Int32Array): void {
  const bits = bitsOf(weights, V);
  binCount.fill(0);
  for (let j = 0; j < V; j++) binCount[bits[j] >>> BIN_SHIFT]++;
  let floor = 1; // every positive weight
  let have = 0;
  for (let bin = BINS - 1; bin > 0; bin--) {
    have += binCount[bin];
    if (have >= m) {
      floor = bin << BIN_SHIFT;
      break;
    }
  }
  let n = gatherSorted(bits, weights, V, floor, order);
  for (let j = 0; j < V && n < m; j++) if (bits[j] === 0) order[n++] = j;
}

/**
 * The highest bin floor (float32 bits, positive) such that the weights at or above it hold mass `target`,
 * from a histogram of the weights' mass by bits >>> BIN_SHIFT; 1 (every positive weight) if none does.
 */
function nucleusFloor(bits: Uint32Array, weights: Float32Array, V: number, target: number): number {
  binMass.fill(0);
  for (let j = 0; j < V; j++) binMass[bits[j] >>> BIN_SHIFT] += weights[j];
  let cumulative = 0;
  for (let bin = BINS - 1; bin > 0; bin--) {
    cumulative += binMass[bin];
    if (cumulative >= target) return bin << BIN_SHIFT;
  }
  return 1;
}

/** Writes every token with weight bits >= floorBits to order, best first; returns how many. */
function gatherSorted(bits: Uint32Array, weights: Float32Array, V: number, floorBits: number, order: Int32Array): number {
  let n = 0;
  for (let j = 0; j < V; j++) if (bits[j] >= floorBits) order[n++] = j;
  order.subarray(0, n).sort((a, b) => weights[b] - weights[a] || a - b);
  return n;
}

/**
 * The tokens sampling keeps: the topK best (0 = no limit), then the smallest prefix of them whose mass
 * before its last token is below topP of the limited mass (Holtzman et al. 2020). order[0..kept) holds
 * them best first; keptMass is their weight. The mass under a topK limit is summed best first; without
 * one it is `total`, the caller's float64 sum of all V weights (the kernel's chunk sums, in chunk order).
 */
export function keptTokens(weights: Float32Array, V: number, topK: number, topP: number, order: Int32Array, total: number): { kept: number; keptMass: number } {
  const limit = topK > 0 ? Math.min(topK, V) : V;
  if (limit < V) {
    selectBest(weights, V, limit, order);
    let mass = 0;
    for (let i = 0; i < limit; i++) mass += weights[order[i]];
    return nucleusPrefix(weights, order, limit, topP * mass);
  }
  const target = topP * total;
  const bits = bitsOf(weights, V);
  let floor = nucleusFloor(bits, weights, V, target);
  for (;;) {
    const n = gatherSorted(bits, weights, V, floor, order);
    const nucleus = nucleusPrefix(weights, order, n, target);
    // Done when the nucleus closed inside the gathered tokens (all others rank below them), or they are
    // every positive weight. Otherwise rounding of the bin sums put the boundary below the floor: lower it.
    if (nucleus.kept < n || nucleus.keptMass >= target || floor === 1) return nucleus;
    floor = Math.max(1, ((floor >>> BIN_SHIFT) - 1) << BIN_SHIFT);
  }
}

/** The shortest prefix of order[0..n) whose mass before its last token is below target (at least one token). */
function nucleusPrefix(weights: Float32Array, order: Int32Array, n: number, target: number): { kept: number; keptMass: number } {
  let kept = 0;
  let before = 0;
  while (kept < n && (kept === 0 || before < target)) before += weights[order[kept++]];
  return { kept, keptMass: before };
}
