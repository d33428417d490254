// Reciprocal rank fusion (Cormack et al., 2009): each list contributes 1 / (k + rank) for every item it holds.

export function reciprocalRankFusion<T>(
  lists: readonly (readonly T[])[],
  keyOf: (item: T) => string,
  k = 60,
): { item: T; score: number }[] {
  const fused = new Map<string, { item: T; score: number }>();
  for (const list of lists) {
    list.forEach((item, index) => {
      const key = keyOf(item);
      const contribution = 1 / (k + index + 1);
      const entry = fused.get(key);
      if (entry === undefined) fused.set(key, { item, score: contribution });
      else entry.score += contribution;
    });
  }
  // Stable for ties: Map keeps first-seen order, and sort is stable.
  return [...fused.values()].sort((a, b) => b.score - a.score);
}
