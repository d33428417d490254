// The failures of each minute as stacked bar layers, one per error code.

import type { MinuteStats } from '../../client/index.ts';
import { sum, type BarLayer } from './series.ts';

/** One layer per error code, most frequent first, plus "other" for failures recorded without a code. */
export function errorLayers(minutes: readonly MinuteStats[]): BarLayer[] {
  const totals = new Map<string, number>();
  for (const minute of minutes) {
    for (const [code, n] of Object.entries(minute.errors)) totals.set(code, (totals.get(code) ?? 0) + n);
  }
  const codes = [...totals.keys()].sort(
    (a, b) => (totals.get(b) ?? 0) - (totals.get(a) ?? 0) || a.localeCompare(b),
  );
  const layers: BarLayer[] = codes.map((code, index) => ({
    name: code,
    className: `dash-e${index % 4}`,
    values: minutes.map((minute) => minute.errors[code] ?? 0),
  }));
  const uncoded = minutes.map((minute) =>
    Math.max(0, minute.failed - sum(Object.values(minute.errors), (n) => n)),
  );
  if (uncoded.some((n) => n > 0)) layers.push({ name: 'other', className: 'dash-e-other', values: uncoded });
  return layers;
}
