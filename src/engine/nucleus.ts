/**
 * Top-k and nucleus (top-p) filtering without sorting the whole vocabulary. At a 152k vocabulary a full
 * sort per sampled token dominates decoding; the kept tokens are a short prefix of the sorted order. Top-k
 * keeps a bounded heap of the best k (O(V log k)); top-p bins the weights by their float32 bits to find a
 * weight floor the nucleus lies above, gathers the tokens above it and sorts only them. Order: weight
 * descending, then token id ascending, exactly the full sort's, so the kept set and its order are the full
 * sort's prefix. Weights are the float32 sampling weights of ./sampling-rows.ts (>= 0); sums are float64.
 */

/** Float32 bits >>> BIN_SHIFT: exponent and the top 3 mantissa bits, so a bin spans a factor 2^(1/8). */
const BIN_SHIFT = 20;
const BINS = 1 << (31 - BIN_SHIFT); // non-negative floats: the sign bit is 0
/** Histogram scratch of `nucleusFloor`, reused across calls (sampling is single-threaded JS). */
const binMass = new Float64Array(BINS);

/** Whether token a ranks before token b: more weight, or the lower id among equals. */
function ranksBefore(weights: Float32Array, a: number, b: number): boolean {
  return weights[a] > weights[b] || (weights[a] === weights[b] && a < b);
}

/** Writes the best `m` of tokens 0..V-1 to order[0..m), best first. */
export function selectBest(weights: Float32Array, V: number, m: number, order: Int32Array): void {
  // A heap whose root is the worst of the best m seen so far.
  let size = 0;
  const siftDown = (i: number): void => {
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let worst = i;
      if (l < size && ranksBefore(weights, order[worst], order[l])) worst = l;
      if (r < size && ranksBefore(weights, order[worst], order[r])) worst = r;
      if (worst === i) return;
      const t = order[i];
      order[i] = order[worst];
      order[worst] = t;
      i = worst;
    }
  };
  for (let j = 0; j < V; j++) {
    if (size < m) {
      let i = size++;
      order[i] = j;
      while (i > 0) {
        const parent = (i - 1) >> 1;
        if (!ranksBefore(weights, order[parent], order[i])) break;
        const t = order[i];
        order[i] = order[parent];
        order[parent] = t;
        i = parent;
      }
    } else if (ranksBefore(weights, j, order[0])) {
      order[0] = j;
      siftDown(0);
    }
  }
  // Heap sort in place: repeatedly move the worst to the end.
  for (let end = size - 1; end > 0; end--) {
    const t = order[0];
    order[0] = order[end];
    order[end] = t;
    size = end;
    siftDown(0);
  }
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
  const bits = new Uint32Array(weights.buffer, weights.byteOffset, V);
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
