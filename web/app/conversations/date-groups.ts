// Groups the conversation history by when each was last used, in the reader's local time: Today, Yesterday,
// Previous 7 days, Older (newest first within each, as the server lists them).

export const DATE_GROUPS = ['Today', 'Yesterday', 'Previous 7 days', 'Older'] as const;
export type DateGroup = (typeof DATE_GROUPS)[number];

const DAY_MS = 24 * 60 * 60 * 1000;

/** Which group a time falls in, seen at `now` (both epoch milliseconds). */
export function dateGroup(time: number, now: number): DateGroup {
  const today = new Date(now);
  today.setHours(0, 0, 0, 0);
  const startOfToday = today.getTime();
  if (time >= startOfToday) return 'Today';
  // The day before today, by the calendar (a day around a clock change is not 24 hours long).
  const yesterday = new Date(startOfToday);
  yesterday.setDate(yesterday.getDate() - 1);
  if (time >= yesterday.getTime()) return 'Yesterday';
  if (time >= startOfToday - 7 * DAY_MS) return 'Previous 7 days';
  return 'Older';
}

/** The items in their groups, groups in order and only those with items. */
export function groupByDate<T>(
  items: readonly T[],
  timeOf: (item: T) => number,
  now: number,
): { group: DateGroup; items: T[] }[] {
  const groups = new Map<DateGroup, T[]>();
  for (const item of items) {
    const group = dateGroup(timeOf(item), now);
    const list = groups.get(group) ?? [];
    list.push(item);
    groups.set(group, list);
  }
  return DATE_GROUPS.flatMap((group) => {
    const list = groups.get(group);
    return list === undefined ? [] : [{ group, items: list }];
  });
}
