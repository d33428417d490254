// Percentiles and a Markdown table printer, for `rivulet check`, `rivulet bench` and the benchmarks in bench/.

import { percentile as nearestRank } from '../observability/percentile.ts';

/** Nearest-rank percentile (p in 0..100) of unsorted samples; NaN when there are none. */
export function percentile(samples: readonly number[], p: number): number {
  return nearestRank(samples, p) ?? Number.NaN;
}

/** Fixed decimals, or "n/a" for a value that was not measured. */
export function formatNumber(value: number | undefined, decimals: number): string {
  if (value === undefined || !Number.isFinite(value)) return 'n/a';
  return value.toFixed(decimals);
}

/** A Markdown table with columns padded to their widest cell, numbers right-aligned. */
export function markdownTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)),
  );
  const numeric = header.map((_title, column) =>
    rows.every((row) => /^[-\d.,/ x%]+$|^n\/a$/.test(row[column] ?? '')),
  );
  const line = (cells: readonly string[]): string =>
    `| ${cells
      .map((cell, column) => {
        const width = widths[column] ?? cell.length;
        return numeric[column] === true ? cell.padStart(width) : cell.padEnd(width);
      })
      .join(' | ')} |`;
  const rule = `| ${widths
    .map((width, column) => (numeric[column] === true ? `${'-'.repeat(width - 1)}:` : '-'.repeat(width)))
    .join(' | ')} |`;
  return [line(header), rule, ...rows.map(line)].join('\n');
}
