// Whether the event loop has been busy for a while: its utilisation (the share of wall time it spent running callbacks
// rather than waiting for I/O) at or above a threshold in a few windows in a row, and not below it since in as many
// windows in a row as it takes to leave. Cheap to ask often: it measures again at most once a window.

import { performance } from 'node:perf_hooks';

/** Cumulative milliseconds the loop spent running (`active`) and waiting (`idle`), as eventLoopUtilization gives. */
export interface LoopTimes {
  active: number;
  idle: number;
}

export interface EventLoopBusyOptions {
  /** A window is busy from this utilisation up (0 to 1). */
  threshold: number;
  /** How long a measurement covers at least; asked again within it, the last answer stands. */
  windowMs: number;
  /**
   * Busy once this many windows in a row were: a burst shorter than `windows` × `windowMs`, or one long callback (a
   * measurement counts as one busy window however long), is not load that lasts.
   */
  windows: number;
  /** Busy until this many windows in a row were not: one quieter window inside a burst does not end it. */
  quietWindows: number;
  /** Tests: the clock (ms) and the loop's times; the process's own by default. */
  now?: () => number;
  times?: () => LoopTimes;
}

export class EventLoopBusy {
  readonly #threshold: number;
  readonly #windowMs: number;
  readonly #windows: number;
  readonly #quietWindows: number;
  readonly #now: () => number;
  readonly #times: () => LoopTimes;
  #last: LoopTimes;
  #measuredAt: number;
  /** Windows in a row up to the last measurement that were busy (`busy` false) or not (`busy` true). */
  #run = 0;
  #busy = false;

  constructor(options: EventLoopBusyOptions) {
    this.#threshold = options.threshold;
    this.#windowMs = options.windowMs;
    this.#windows = options.windows;
    this.#quietWindows = options.quietWindows;
    this.#now = options.now ?? (() => performance.now());
    this.#times = options.times ?? (() => performance.eventLoopUtilization());
    this.#last = this.#times();
    this.#measuredAt = this.#now();
  }

  /**
   * Whether the loop has been busy: `windows` measurements in a row at `threshold` or above made it so, and
   * `quietWindows` windows in a row below it since make it not (a measurement covers the time since the previous one,
   * one window or more; a quiet one counts as the windows it spans).
   */
  busy(): boolean {
    const now = this.#now();
    if (now - this.#measuredAt >= this.#windowMs) {
      const times = this.#times();
      const active = times.active - this.#last.active;
      const total = active + (times.idle - this.#last.idle);
      const busyWindow = total > 0 && active / total >= this.#threshold;
      // Counts the windows that speak against the present state; enough of them in a row turn it over. A long quiet
      // measurement counts as the windows it spans (a loop left idle for a second is quiet at once), a long busy one
      // as one (the start-up's work is not load that lasts): slow to turn busy, quick to turn quiet.
      const spanned = Math.max(1, Math.floor((now - this.#measuredAt) / this.#windowMs));
      this.#run = busyWindow === this.#busy ? 0 : this.#run + (busyWindow ? 1 : spanned);
      if (this.#run >= (this.#busy ? this.#quietWindows : this.#windows)) {
        this.#busy = !this.#busy;
        this.#run = 0;
      }
      this.#last = times;
      this.#measuredAt = now;
    }
    return this.#busy;
  }
}
