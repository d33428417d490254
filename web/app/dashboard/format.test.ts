import { describe, expect, it } from 'vitest';
import { clock, count, milliseconds, percent, rate, trim } from './format.ts';

describe('dashboard formatters', () => {
  it('prints durations as whole ms below a second and trimmed seconds above', () => {
    expect(milliseconds(0)).toBe('0 ms');
    expect(milliseconds(305.4)).toBe('305 ms');
    expect(milliseconds(999.4)).toBe('999 ms');
    expect(milliseconds(1000)).toBe('1 s');
    expect(milliseconds(1890)).toBe('1.89 s');
    expect(milliseconds(8150)).toBe('8.15 s');
    expect(milliseconds(12_500)).toBe('12.5 s');
  });

  it('prints rates, counts and shares without noise', () => {
    expect(rate(42.56)).toBe('42.6');
    expect(rate(7.254)).toBe('7.25');
    expect(rate(123.6)).toBe('124');
    expect(count(2.4)).toBe('2');
    expect(percent(1 / 3)).toBe('33.3%');
    expect(percent(0)).toBe('0%');
    expect(percent(1)).toBe('100%');
    expect(trim(2.5)).toBe('2.5');
    expect(trim(10.04)).toBe('10');
  });

  it('prints times of day as HH:MM, with seconds when asked', () => {
    const time = new Date(2026, 11, 5, 9, 5, 7).getTime();
    expect(clock(time)).toBe('09:05');
    expect(clock(time, true)).toBe('09:05:07');
  });
});
