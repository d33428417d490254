import { describe, expect, it } from 'vitest';
import { keepLoopBusy } from '../../test/helpers/busy-loop.ts';
import { EventLoopBusy, type LoopTimes } from './event-loop-busy.ts';

/** A clock and loop times the test moves by hand. */
function fakeLoop() {
  const state: { now: number; times: LoopTimes } = { now: 0, times: { active: 0, idle: 0 } };
  return {
    /** `ms` of wall time, `share` of it running callbacks. */
    pass(ms: number, share: number) {
      state.now += ms;
      state.times = { active: state.times.active + ms * share, idle: state.times.idle + ms * (1 - share) };
    },
    options: { now: () => state.now, times: () => state.times },
  };
}

/** An EventLoopBusy on a fake loop: busy from 80% in `windows` windows of 50 ms in a row, quiet after `quietWindows`. */
function onFakeLoop(windows: number, quietWindows: number) {
  const loop = fakeLoop();
  const busy = new EventLoopBusy({ threshold: 0.8, windowMs: 50, windows, quietWindows, ...loop.options });
  return { loop, busy };
}

/** busy() after each window of 50 ms at these shares. */
function answers(busy: EventLoopBusy, loop: ReturnType<typeof fakeLoop>, shares: number[]): boolean[] {
  return shares.map((share) => {
    loop.pass(50, share);
    return busy.busy();
  });
}

describe('EventLoopBusy', () => {
  it('turns busy after that many busy windows in a row, and quiet after that many quiet ones in a row', () => {
    const { loop, busy } = onFakeLoop(3, 2);
    expect(answers(busy, loop, [0.3, 0.8, 0.95, 1, 0.9, 0.5, 1, 0.6, 0.7, 0.9, 1])).toEqual([
      false, // quiet
      false, // 1 busy window
      false, // 2
      true, // 3 in a row: busy
      true,
      true, // one quiet window inside the burst does not end it
      true,
      true, // 1 quiet window
      false, // 2 in a row: quiet
      false,
      false, // 2 busy windows: not yet
    ]);
  });

  it('takes a short burst for no load: fewer busy windows in a row than asked', () => {
    const { loop, busy } = onFakeLoop(3, 2);
    expect(answers(busy, loop, [1, 1, 0.5, 1, 0.95, 0.4, 0.2]).some(Boolean)).toBe(false);
  });

  it('measures at most once a window: asked again within it, the last answer stands and nothing is counted', () => {
    const { loop, busy } = onFakeLoop(3, 2);
    expect(answers(busy, loop, [1, 1])).toEqual([false, false]);
    // Within the third window, asked again and again: still two busy windows.
    for (let ask = 0; ask < 4; ask += 1) {
      loop.pass(10, 1);
      expect(busy.busy()).toBe(false);
    }
    // The window ends (40 + 10 ms since the last measurement): the third busy window.
    loop.pass(10, 1);
    expect(busy.busy()).toBe(true);
    // Idle since, but within the window: still the last measurement.
    loop.pass(30, 0);
    expect(busy.busy()).toBe(true);
  });

  it('counts a long quiet measurement as the windows it spans, a long busy one as one: quick to calm, slow to rouse', () => {
    const { loop, busy } = onFakeLoop(2, 3);
    expect(answers(busy, loop, [1, 1])).toEqual([false, true]);
    loop.pass(149, 0.01);
    // Two windows' worth of quiet: not yet three.
    expect(busy.busy()).toBe(true);
    loop.pass(10_000, 0.01);
    expect(busy.busy()).toBe(false);
    // A long busy measurement (a start-up, a long callback) is one busy window.
    loop.pass(500, 1);
    expect(busy.busy()).toBe(false);
    loop.pass(50, 1);
    expect(busy.busy()).toBe(true);
  });

  it('reads the process’s own loop by default', async () => {
    const busy = new EventLoopBusy({ threshold: 0.8, windowMs: 10, windows: 2, quietWindows: 1 });
    // Waiting on a timer leaves the loop idle.
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(busy.busy()).toBe(false);
    // Callbacks that keep the loop running for two whole windows, measured at the end of each.
    const seen: boolean[] = [];
    for (let window = 0; window < 2; window += 1) {
      keepLoopBusy(15);
      seen.push(busy.busy());
    }
    expect(seen).toEqual([false, true]);
  });
});
