// When the primary replaces a worker that died, and when it gives up: a short backoff that grows with each recent
// crash, and a cap on crashes per minute so that a worker dying at start (a bad deploy) does not spin.

/** Crashes within this window count against the cap. */
export const CRASH_WINDOW_MS = 60_000;
/** More crashes than this within the window: the primary stops the other workers and exits 1. */
export const MAX_CRASHES_PER_WINDOW = 5;
const FIRST_DELAY_MS = 100;
const MAX_DELAY_MS = 5_000;

export type RestartDecision = { restart: true; delayMs: number } | { restart: false; crashes: number };

export class RestartPolicy {
  readonly #crashes: number[] = [];
  readonly #maxCrashes: number;
  readonly #windowMs: number;

  constructor(options: { maxCrashes?: number; windowMs?: number } = {}) {
    this.#maxCrashes = options.maxCrashes ?? MAX_CRASHES_PER_WINDOW;
    this.#windowMs = options.windowMs ?? CRASH_WINDOW_MS;
  }

  /** Records a crash at `now` and says whether, and after how long, to start a replacement. */
  crashed(now: number): RestartDecision {
    this.#crashes.push(now);
    while ((this.#crashes[0] ?? now) <= now - this.#windowMs) this.#crashes.shift();
    const recent = this.#crashes.length;
    if (recent > this.#maxCrashes) return { restart: false, crashes: recent };
    // 100 ms after a lone crash; doubling with each other crash in the window, at most 5 s.
    return { restart: true, delayMs: Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** (recent - 1)) };
  }
}
