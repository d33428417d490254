import { describe, expect, it } from 'vitest';
import { EventLoopBusy, type LoopTimes } from './event-loop-busy.ts';

/** A clock and loop times the test moves by hand. */
function fakeLoop() {
  const state: { now: number; times: LoopTimes } = { now: 0, times: { active: 0, idle: 0 } };
  return {
    state,
    /** `ms` of wall time, `share` of it running callbacks. */
    pass(ms: number, share: number) {
      state.now += ms;
      state.times = { active: state.times.active + ms * share, idle: state.times.idle + ms * (1 - share) };
    },
    options: { now: () => state.now, times: () => state.times },
  };
}

describe('EventLoopBusy', () => {
  it('is busy when the loop ran callbacks at least the threshold of the last window', () => {
    const loop = fakeLoop();
    const busy = new EventLoopBusy({ threshold: 0.8, windowMs: 50, ...loop.options });
    loop.pass(50, 0.3);
    expect(busy.busy()).toBe(false);
    loop.pass(50, 0.8);
    expect(busy.busy()).toBe(true);
    loop.pass(50, 0.95);
    expect(busy.busy()).toBe(true);
    loop.pass(60, 0.5);
    expect(busy.busy()).toBe(false);
  });

  it('measures at most once a window: asked again within it, the last answer stands', () => {
    const loop = fakeLoop();
    const busy = new EventLoopBusy({ threshold: 0.8, windowMs: 50, ...loop.options });
    loop.pass(50, 1);
    expect(busy.busy()).toBe(true);
    // Idle since, but within the window: still the last measurement.
    loop.pass(30, 0);
    expect(busy.busy()).toBe(true);
    // The next measurement covers everything since the last one (30 ms idle + 20 ms idle).
    loop.pass(20, 0);
    expect(busy.busy()).toBe(false);
  });

  it('takes a long quiet spell as not busy, however busy the loop was before it', () => {
    const loop = fakeLoop();
    const busy = new EventLoopBusy({ threshold: 0.8, windowMs: 50, ...loop.options });
    loop.pass(50, 1);
    expect(busy.busy()).toBe(true);
    loop.pass(10_000, 0.01);
    expect(busy.busy()).toBe(false);
  });

  it('reads the process’s own loop by default', async () => {
    const busy = new EventLoopBusy({ threshold: 0.8, windowMs: 10 });
    // Waiting on a timer leaves the loop idle.
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(busy.busy()).toBe(false);
    // A callback that keeps the loop running for the whole window.
    const until = performance.now() + 30;
    while (performance.now() < until) {
      // busy
    }
    expect(busy.busy()).toBe(true);
  });
});
