// The series the charts draw (lines and bar layers, one value per minute) and small helpers over them.

export interface LineSeries {
  name: string;
  /** Sets the stroke colour (see dashboard.css). */
  className: string;
  /** One per minute; null where the minute has no value (drawn as a gap, never as zero). */
  values: (number | null)[];
}

export interface BarLayer {
  name: string;
  /** Sets the fill colour (see dashboard.css). */
  className: string;
  values: number[];
}

export function sum<T>(items: readonly T[], value: (item: T) => number): number {
  return items.reduce((total, item) => total + value(item), 0);
}

/** The index of the last item passing `test`, or -1. */
export function lastIndex<T>(items: readonly T[], test: (item: T) => boolean): number {
  for (let index = items.length - 1; index >= 0; index -= 1) if (test(items[index] as T)) return index;
  return -1;
}
