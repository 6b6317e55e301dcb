/** Token statistics of RL metrics rows: means over the tokens a mask keeps. */

export function maskedMean(values: readonly ArrayLike<number>[], masks: readonly (readonly number[])[]): number {
  let sum = 0;
  let count = 0;
  values.forEach((v, i) => {
    for (let t = 0; t < v.length; t++) {
      if (masks[i][t]) {
        sum += v[t];
        count++;
      }
    }
  });
  return count === 0 ? 0 : sum / count;
}

export function maskedStats(values: readonly Float64Array[], masks: readonly (readonly number[])[]): { mean: number; std: number; absMax: number } {
  const m = maskedMean(values, masks);
  let sq = 0;
  let count = 0;
  let absMax = 0;
  values.forEach((v, i) => {
    for (let t = 0; t < v.length; t++) {
      if (!masks[i][t]) continue;
      sq += (v[t] - m) ** 2;
      count++;
      absMax = Math.max(absMax, Math.abs(v[t]));
    }
  });
  return { mean: m, std: count === 0 ? 0 : Math.sqrt(sq / count), absMax };
}
