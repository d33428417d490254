// Whether the event loop has lately been busy: its utilisation (the share of wall time it spent running callbacks
// rather than waiting for I/O) over the last window. Cheap to ask often: it measures again at most once a window.

import { performance } from 'node:perf_hooks';

/** Cumulative milliseconds the loop spent running (`active`) and waiting (`idle`), as eventLoopUtilization gives. */
export interface LoopTimes {
  active: number;
  idle: number;
}

export interface EventLoopBusyOptions {
  /** Busy from this utilisation up (0 to 1). */
  threshold: number;
  /** How long a measurement covers at least; asked again within it, the last answer stands. */
  windowMs: number;
  /** Tests: the clock (ms) and the loop's times; the process's own by default. */
  now?: () => number;
  times?: () => LoopTimes;
}

export class EventLoopBusy {
  readonly #threshold: number;
  readonly #windowMs: number;
  readonly #now: () => number;
  readonly #times: () => LoopTimes;
  #last: LoopTimes;
  #measuredAt: number;
  #busy = false;

  constructor(options: EventLoopBusyOptions) {
    this.#threshold = options.threshold;
    this.#windowMs = options.windowMs;
    this.#now = options.now ?? (() => performance.now());
    this.#times = options.times ?? (() => performance.eventLoopUtilization());
    this.#last = this.#times();
    this.#measuredAt = this.#now();
  }

  /** Whether the loop ran callbacks at least `threshold` of the time since the last measurement (one window or more). */
  busy(): boolean {
    const now = this.#now();
    if (now - this.#measuredAt < this.#windowMs) return this.#busy;
    const times = this.#times();
    const active = times.active - this.#last.active;
    const total = active + (times.idle - this.#last.idle);
    this.#busy = total > 0 && active / total >= this.#threshold;
    this.#last = times;
    this.#measuredAt = now;
    return this.#busy;
  }
}
