// The process-wide reader ceilings (RUN_MAX_READERS, MAX_READERS): one count shared by every log this process serves.

import { RivuletError } from '../../core/errors.ts';
import type { ReaderLimits } from '../../core/run-hub.ts';

/** What a refused reader is told to wait before trying again. */
const READERS_RETRY_AFTER_MS = 5_000;

export class ReaderSlots {
  readonly limits: ReaderLimits;
  /** Readers attached to all logs of this process. */
  count = 0;

  constructor(limits: ReaderLimits = { perRun: Infinity, total: Infinity }) {
    this.limits = limits;
  }

  get full(): boolean {
    return this.count >= this.limits.total;
  }

  /** Why a new reader of a log that has `readersOfRun` already is refused (TOO_MANY_READERS), if it is. */
  refusal(readersOfRun: number): RivuletError | undefined {
    // Each reader is written every event: without a ceiling, thousands of readers of one run (that never read)
    // turn each token into thousands of socket writes and starve everything else on the event loop.
    if (readersOfRun >= this.limits.perRun) return this.tooManyReaders('run');
    if (this.full) return this.tooManyReaders('process');
    return undefined;
  }

  take(): void {
    this.count += 1;
  }

  release(): void {
    this.count -= 1;
  }

  tooManyReaders(scope: 'run' | 'process'): RivuletError {
    const message =
      scope === 'run'
        ? `This answer already has ${this.limits.perRun} readers (RUN_MAX_READERS): close another tab or connection following it, then try again.`
        : `The server is serving its maximum of ${this.limits.total} readers (MAX_READERS): try again shortly.`;
    return new RivuletError('TOO_MANY_READERS', { message, retryAfterMs: READERS_RETRY_AFTER_MS });
  }
}
