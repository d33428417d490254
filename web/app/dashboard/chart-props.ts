// What each of the dashboard's charts is given: the minutes of the window and their start times.

import type { MinuteStats } from '../../client/index.ts';

export interface ChartProps {
  minutes: MinuteStats[];
  /** Epoch ms of each minute's start, oldest first. */
  times: number[];
}
