// Durations as the chat panel and the dashboard print them (one place, so both say the same thing).

/** "4.2 ms", "305 ms", "1.25 s", "12.5 s". */
export function formatMs(ms: number): string {
  if (ms < 10) return `${ms.toFixed(1)} ms`;
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
}
