// How the dashboard prints its figures: times of day, durations, rates, counts and shares.

/** "14:05", or "14:05:09" with seconds, in the viewer's time zone. */
export function clock(time: number, seconds = false): string {
  const date = new Date(time);
  const parts = [date.getHours(), date.getMinutes(), ...(seconds ? [date.getSeconds()] : [])];
  return parts.map((part) => String(part).padStart(2, '0')).join(':');
}

/** "305 ms", "1.89 s", "12.5 s": whole milliseconds below a second, trimmed seconds above. */
export function milliseconds(value: number): string {
  if (value >= 1000) return `${trim(value / 1000)} s`;
  return `${Math.round(value)} ms`;
}

/** Tokens per second: whole from 100 up, else trimmed ("42.5", "7.25"). */
export function rate(value: number): string {
  return value >= 100 ? String(Math.round(value)) : trim(value);
}

export function count(value: number): string {
  return String(Math.round(value));
}

/** A ratio as a percentage with at most one decimal ("33.3%", "0%"). */
export function percent(ratio: number): string {
  return `${Number((ratio * 100).toFixed(1))}%`;
}

/** One decimal from 10 up, two below, no trailing zeros. */
export function trim(value: number): string {
  return String(Number(value.toFixed(value >= 10 ? 1 : 2)));
}
