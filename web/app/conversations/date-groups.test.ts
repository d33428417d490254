// The history's date groups, by the calendar in local time.
import { describe, expect, it } from 'vitest';
import { dateGroup, groupByDate } from './date-groups.ts';

const at = (year: number, month: number, day: number, hour = 12): number =>
  new Date(year, month - 1, day, hour).getTime();

describe('dateGroup', () => {
  const now = at(2026, 3, 10, 9);

  it('puts times in Today, Yesterday, Previous 7 days and Older by calendar day', () => {
    expect(dateGroup(at(2026, 3, 10, 0), now)).toBe('Today');
    expect(dateGroup(at(2026, 3, 9, 23), now)).toBe('Yesterday');
    expect(dateGroup(at(2026, 3, 9, 0), now)).toBe('Yesterday');
    expect(dateGroup(at(2026, 3, 8, 23), now)).toBe('Previous 7 days');
    expect(dateGroup(at(2026, 3, 3, 1), now)).toBe('Previous 7 days');
    expect(dateGroup(at(2026, 3, 2, 23), now)).toBe('Older');
  });

  it('groups in order, skipping empty groups and keeping the order within each', () => {
    const items = [at(2026, 3, 10), at(2026, 3, 10, 8), at(2026, 1, 1), at(2026, 3, 5)];
    expect(groupByDate(items, (time) => time, now)).toEqual([
      { group: 'Today', items: [items[0], items[1]] },
      { group: 'Previous 7 days', items: [items[3]] },
      { group: 'Older', items: [items[2]] },
    ]);
  });
});
