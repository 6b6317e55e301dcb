/**
 * Top-k and nucleus (top-p) filtering without sorting the whole vocabulary. At a 152k vocabulary a full
 * sort per sampled token dominates decoding; the kept tokens are a short prefix of the sorted order, so a
 * bounded heap selects the best m (O(V log m)) and only they are sorted. Order: weight descending, then
 * token id ascending, exactly the full sort's, so the kept set and its order are the full sort's prefix.
 * Weights are the float32 sampling weights of ./sampling-rows.ts; sums over them are float64.
 */

/** Whether token a ranks before token b: more weight, or the lower id among equals. */
function ranksBefore(weights: Float32Array, a: number, b: number): boolean {
  return weights[a] > weights[b] || (weights[a] === weights[b] && a < b);
}

/** Writes the best `m` of tokens 0..V-1 to order[0..m), best first. `heap` needs m slots. */
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
 * How many of the best tokens surely hold mass `target`: weights binned by their float32 exponent bits
 * (subnormals share bin 0, below every normal), bins summed from the top until they reach it, and the count
 * through that bin returned. One pass of integer work, no sorting.
 */
function nucleusBound(weights: Float32Array, V: number, target: number): number {
  const bits = new Uint32Array(weights.buffer, weights.byteOffset, V);
  const mass = new Float64Array(256);
  const count = new Int32Array(256);
  for (let j = 0; j < V; j++) {
    const w = weights[j];
    if (!(w > 0)) continue;
    const bin = bits[j] >>> 23; // positive: the sign bit is 0
    mass[bin] += w;
    count[bin]++;
  }
  let m = 0;
  let cumulative = 0;
  for (let bin = 255; bin >= 0; bin--) {
    m += count[bin];
    cumulative += mass[bin];
    if (cumulative >= target) return m;
  }
  return V;
}

/**
 * The tokens sampling keeps: the topK best (0 = no limit), then the smallest prefix of them whose mass
 * before its last token is below topP of the limited mass (Holtzman et al. 2020). order[0..kept) holds
 * them best first; keptMass is their weight. The mass under a topK limit is summed best first; without
 * one it is `total`, the caller's float64 sum of all V weights (the kernel's chunk sums, in chunk order).
 */
export function keptTokens(weights: Float32Array, V: number, topK: number, topP: number, order: Int32Array, total: number): { kept: number; keptMass: number } {
  const limit = topK > 0 ? Math.min(topK, V) : V;
  let m: number;
  if (limit < V) {
    m = limit;
    selectBest(weights, V, m, order);
    total = 0;
    for (let i = 0; i < m; i++) total += weights[order[i]];
  } else {
    // A bound from the weights' binary exponents; the loop below grows it in the rare case rounding of the
    // two sums puts the boundary one token past it.
    m = Math.max(1, Math.min(V, nucleusBound(weights, V, topP * total)));
    selectBest(weights, V, m, order);
  }
  for (;;) {
    let kept = 0;
    let before = 0;
    while (kept < m && (kept === 0 || before < topP * total)) {
      before += weights[order[kept]];
      kept++;
    }
    // Done when the nucleus closed inside the selected prefix, or the prefix is all there is.
    if (kept < m || before >= topP * total || m === limit) return { kept, keptMass: before };
    m = Math.min(limit, m * 8);
    selectBest(weights, V, m, order);
  }
}
