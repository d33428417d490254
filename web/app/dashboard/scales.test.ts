import { describe, expect, it } from 'vitest';
import { CHART_HEIGHT, CHART_PADDING, chartFrame, linePath, yTicks } from './scales.ts';

describe('yTicks', () => {
  it('steps in round numbers from zero to just above the largest value', () => {
    expect(yTicks(0, false)).toEqual([0, 0.25]);
    expect(yTicks(0, true)).toEqual([0, 1]);
    expect(yTicks(8150, false)).toEqual([0, 2500, 5000, 7500, 10_000]);
    expect(yTicks(305, false)).toEqual([0, 100, 200, 300, 400]);
    expect(yTicks(6, true)).toEqual([0, 2, 4, 6]);
    expect(yTicks(3, true)).toEqual([0, 1, 2, 3]);
    expect(yTicks(0.3, false)).toEqual([0, 0.1, 0.2, 0.3]);
  });

  it('always covers the maximum, with four or five steps', () => {
    for (const max of [1, 7, 13, 99, 101, 640, 1234, 98_765]) {
      for (const integer of [false, true]) {
        const ticks = yTicks(max, integer);
        expect(ticks[0]).toBe(0);
        expect(ticks.at(-1)).toBeGreaterThanOrEqual(max);
        expect(ticks.length).toBeGreaterThanOrEqual(2);
        expect(ticks.length).toBeLessThanOrEqual(6);
      }
    }
  });
});

describe('chartFrame', () => {
  const plotHeight = CHART_HEIGHT - CHART_PADDING.top - CHART_PADDING.bottom;

  it('puts line points from edge to edge and bar bands in equal slots', () => {
    const lines = chartFrame({ width: 558, count: 61, top: 10, bands: false });
    expect(lines.plotWidth).toBe(500);
    expect(lines.x(0)).toBe(CHART_PADDING.left);
    expect(lines.x(60)).toBe(CHART_PADDING.left + 500);
    const bars = chartFrame({ width: 558, count: 50, top: 10, bands: true });
    expect(bars.slot).toBe(10);
    expect(bars.x(0)).toBe(CHART_PADDING.left + 5);
    expect(bars.x(49)).toBe(CHART_PADDING.left + 495);
    expect(chartFrame({ width: 558, count: 1, top: 1, bands: false }).x(0)).toBe(CHART_PADDING.left + 250);
  });

  it('maps zero to the bottom, the top to the top, and clamps values above it', () => {
    const frame = chartFrame({ width: 400, count: 60, top: 200, bands: false });
    expect(frame.y(0)).toBe(CHART_PADDING.top + plotHeight);
    expect(frame.y(200)).toBe(CHART_PADDING.top);
    expect(frame.y(100)).toBe(CHART_PADDING.top + plotHeight / 2);
    expect(frame.y(5000)).toBe(CHART_PADDING.top);
  });
});

describe('linePath', () => {
  it('breaks the line where a value is missing', () => {
    expect(linePath([])).toBe('');
    expect(linePath([{ x: 1, y: 2 }, { x: 3, y: 4 }, null, { x: 5, y: 6 }, { x: 7.25, y: 8 }])).toBe(
      'M1.0 2.0L3.0 4.0M5.0 6.0L7.3 8.0',
    );
  });
});
