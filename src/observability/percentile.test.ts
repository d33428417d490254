import { describe, expect, it } from 'vitest';
import { percentile, weightedPercentile } from './percentile.ts';

describe('percentile', () => {
  it('is the nearest-rank percentile, and null for no values', () => {
    expect(percentile([], 50)).toBeNull();
    expect(percentile([3, 1, 2], 50)).toBe(2);
    expect(percentile([1, 2, 3, 4], 95)).toBe(4);
    expect(percentile([5], 0)).toBe(5);
    const hundred = Array.from({ length: 100 }, (_, index) => index + 1);
    expect(percentile(hundred, 50)).toBe(50);
    expect(percentile(hundred, 95)).toBe(95);
    expect(
      percentile(
        Array.from({ length: 20 }, (_, index) => index + 1),
        95,
      ),
    ).toBe(19);
  });

  it('of the issue-18 sample (21 answers near 305 ms, 5 at 8 s): p50 305 ms, p95 8 s', () => {
    // 296..304, four at 305, 306..313: the 13th smallest of the 26 is 305.
    const fast = [296, 297, 298, 299, 300, 301, 302, 303, 304, 305, 305, 305, 305];
    fast.push(306, 307, 308, 309, 310, 311, 312, 313);
    const slow = [8000, 8050, 8100, 8150, 8200];
    const sample = [...slow, ...fast];
    expect(sample).toHaveLength(26);
    expect(percentile(sample, 50)).toBe(305);
    // The 25th smallest (ceil(0.95 * 26)): the fourth slow one.
    expect(percentile(sample, 95)).toBe(8150);
  });
});

describe('weightedPercentile', () => {
  it('equals the plain percentile with unit weights', () => {
    const values = [40, 10, 30, 20, 50, 60, 70];
    for (const p of [0, 10, 50, 90, 95, 99, 100]) {
      expect(
        weightedPercentile(
          values.map((value) => ({ value, weight: 1 })),
          p,
        ),
      ).toBe(percentile(values, p));
    }
  });

  it('lets a sample stand for the values it replaced (a reservoir kept 1 of 4)', () => {
    // 3 fast values seen once each, and 1 slow sample standing for 4 slow values: 4 of 7 values are slow.
    const samples = [
      { value: 100, weight: 1 },
      { value: 110, weight: 1 },
      { value: 120, weight: 1 },
      { value: 9000, weight: 4 },
    ];
    expect(weightedPercentile(samples, 50)).toBe(9000);
    expect(weightedPercentile(samples, 40)).toBe(120);
    expect(weightedPercentile([], 50)).toBeNull();
    expect(weightedPercentile([{ value: 1, weight: 0 }], 50)).toBeNull();
  });
});
