// Percentiles of samples, plain or weighted. Percentiles do not average: a figure over several minutes or series
// comes from their samples merged, never from the mean of each one's percentile (5 slow answers among 26 made a
// mean of per-minute p50s read 1.89 s where the p50 of the answers was 305 ms).

/** A kept sample that stands for `weight` observed values (a reservoir of 512 out of 2,048 seen: weight 4). */
export interface WeightedSample {
  value: number;
  weight: number;
}

/** Nearest-rank percentile (p in 0..100) of unsorted values; null when there are none. */
export function percentile(values: readonly number[], p: number): number | null {
  return weightedPercentile(
    values.map((value) => ({ value, weight: 1 })),
    p,
  );
}

/**
 * Nearest-rank percentile of weighted samples: the smallest value whose cumulative weight reaches p% of the total.
 * With every weight 1 it is the classic nearest-rank percentile (the ceil(p/100 * n)-th smallest value).
 */
export function weightedPercentile(samples: readonly WeightedSample[], p: number): number | null {
  const kept = samples.filter((sample) => sample.weight > 0);
  if (kept.length === 0) return null;
  const sorted = kept.toSorted((a, b) => a.value - b.value);
  const total = sorted.reduce((sum, sample) => sum + sample.weight, 0);
  // Rounded so float noise in p/100 * total cannot push the rank past a whole number (95% of 20 is 19, not 19.000…1).
  const rank = Math.max(Number.MIN_VALUE, Number(((Math.min(100, Math.max(0, p)) / 100) * total).toFixed(9)));
  let cumulative = 0;
  for (const sample of sorted) {
    cumulative += sample.weight;
    if (cumulative >= rank) return sample.value;
  }
  return sorted.at(-1)?.value ?? null;
}
