// The geometry of a chart: round y-axis steps, where each minute and value is drawn, and lines with gaps.

export const CHART_HEIGHT = 168;
export const CHART_PADDING = { top: 10, right: 10, bottom: 22, left: 48 };

/** Where things go in one chart of a given width. */
export interface Frame {
  plotWidth: number;
  plotHeight: number;
  /** Horizontal room per minute. */
  slot: number;
  /** A minute's x: its point (lines) or the middle of its band (bars). */
  x: (index: number) => number;
  y: (value: number) => number;
}

/** Four or so round steps from zero to just above the largest value. */
export function yTicks(max: number, integer: boolean): number[] {
  const raw = max > 0 ? max / 4 : 0.25;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step0 =
    [1, 2, 2.5, 5, 10].map((factor) => factor * magnitude).find((candidate) => candidate >= raw) ?? raw;
  const step = integer ? Math.max(1, Math.ceil(step0)) : step0;
  const top = Math.max(step, Math.ceil(max / step - 1e-9) * step);
  const ticks: number[] = [];
  for (let tick = 0; tick <= top + step / 2; tick += step) ticks.push(Number(tick.toPrecision(12)));
  return ticks;
}

/**
 * The frame of a chart `width` pixels wide with `count` minutes and a y axis up to `top`: minutes as points from
 * edge to edge (lines), or as equal bands (bars). Values above `top` are drawn at the top.
 */
export function chartFrame(options: { width: number; count: number; top: number; bands: boolean }): Frame {
  const { width, count, top, bands } = options;
  const pad = CHART_PADDING;
  const plotWidth = Math.max(10, width - pad.left - pad.right);
  const plotHeight = CHART_HEIGHT - pad.top - pad.bottom;
  const slot = bands ? plotWidth / Math.max(1, count) : plotWidth / Math.max(1, count - 1);
  return {
    plotWidth,
    plotHeight,
    slot,
    x: (index) =>
      bands ? pad.left + (index + 0.5) * slot : pad.left + (count <= 1 ? plotWidth / 2 : index * slot),
    y: (value) => pad.top + plotHeight - (Math.min(value, top) / top) * plotHeight,
  };
}

/** The path of a line with gaps: a new subpath after each missing value. */
export function linePath(points: readonly ({ x: number; y: number } | null)[]): string {
  let d = '';
  let drawing = false;
  for (const point of points) {
    if (point === null) {
      drawing = false;
      continue;
    }
    d += `${drawing ? 'L' : 'M'}${point.x.toFixed(1)} ${point.y.toFixed(1)}`;
    drawing = true;
  }
  return d;
}
