// PROVIDER_MAX_CONCURRENT: at most N calls in flight per provider (chain entry), the rest waiting in a queue that
// takes turns by principal (fair-semaphore.ts), told their place and an estimated wait, bounded by a timeout.

import { RivuletError } from './errors.ts';
import { FairSemaphore, type ReleaseSlot } from './fair-semaphore.ts';
import type { ProviderQueueObserver } from './observer.ts';

/** A waiting call's place: 1 is next; 0 means it has just been admitted (its request goes out now). */
export interface QueuePlace {
  position: number;
  /** From the mean of this provider's recent call durations on this instance; null until one has finished. */
  estimatedWaitMs: number | null;
}

export interface ProviderQueueOptions {
  /** Calls in flight per provider; at least 1. */
  maxConcurrent: number;
  /** Calls in flight per provider for one principal; 0: only `maxConcurrent` applies. */
  maxConcurrentPerPrincipal: number;
  /** Longest wait for a slot before PROVIDER_QUEUE_TIMEOUT; 0: no bound of its own (the run's deadline applies). */
  timeoutMs: number;
  observer?: ProviderQueueObserver | undefined;
  /** Milliseconds clock for waits and call durations (tests); performance.now by default. */
  now?: () => number;
}

/** Call durations kept per provider for the wait estimate. */
const RECENT_CALLS = 20;

class ProviderLane {
  readonly semaphore: FairSemaphore;
  private readonly durations: number[] = [];
  private next = 0;

  constructor(options: ProviderQueueOptions) {
    this.semaphore = new FairSemaphore({
      limit: options.maxConcurrent,
      perPrincipalLimit: options.maxConcurrentPerPrincipal,
    });
  }

  recordCall(ms: number): void {
    this.durations[this.next] = ms;
    this.next = (this.next + 1) % RECENT_CALLS;
  }

  /** `position` calls must finish before this one starts; `limit` run side by side. */
  estimate(position: number, limit: number): number | null {
    if (this.durations.length === 0) return null;
    const mean = this.durations.reduce((sum, ms) => sum + ms, 0) / this.durations.length;
    return Math.round((position * mean) / limit);
  }
}

export class ProviderQueue {
  private readonly options: ProviderQueueOptions;
  private readonly lanes = new Map<string, ProviderLane>();
  private readonly now: () => number;

  constructor(options: ProviderQueueOptions) {
    this.options = options;
    this.now = options.now ?? (() => performance.now());
  }

  /**
   * Waits for a slot on `provider` for `principal`, telling `onPlace` its place whenever it moves (and 0 once
   * admitted after waiting). Rejects with PROVIDER_QUEUE_TIMEOUT past the timeout, or with the signal's reason
   * when the run is stopped or abandoned meanwhile: either way it leaves the queue at once.
   */
  async acquire(
    provider: string,
    principal: string,
    signal: AbortSignal,
    onPlace: (place: QueuePlace) => void,
  ): Promise<ReleaseSlot> {
    const lane = this.laneOf(provider);
    const { timeoutMs, observer } = this.options;
    const waitedFrom = this.now();
    const timeout = new AbortController();
    const timer =
      timeoutMs > 0
        ? setTimeout(
            () =>
              timeout.abort(
                new RivuletError('PROVIDER_QUEUE_TIMEOUT', {
                  detail: `no ${provider} slot within ${timeoutMs} ms`,
                }),
              ),
            timeoutMs,
          )
        : undefined;
    let queued = false;
    let release: ReleaseSlot;
    try {
      release = await lane.semaphore.acquire(
        principal,
        AbortSignal.any([signal, timeout.signal]),
        (position) => {
          queued = true;
          onPlace({ position, estimatedWaitMs: lane.estimate(position, this.options.maxConcurrent) });
          this.report(provider, lane);
        },
      );
    } catch (error) {
      observer?.providerQueueWait(provider, this.now() - waitedFrom, signal.aborted ? 'left' : 'timeout');
      this.report(provider, lane);
      throw error;
    } finally {
      clearTimeout(timer);
    }
    observer?.providerQueueWait(provider, this.now() - waitedFrom, 'admitted');
    this.report(provider, lane);
    if (queued) onPlace({ position: 0, estimatedWaitMs: 0 });
    const admittedAt = this.now();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      lane.recordCall(this.now() - admittedAt);
      release();
      this.report(provider, lane);
    };
  }

  private laneOf(provider: string): ProviderLane {
    let lane = this.lanes.get(provider);
    if (lane === undefined) {
      lane = new ProviderLane(this.options);
      this.lanes.set(provider, lane);
    }
    return lane;
  }

  private report(provider: string, lane: ProviderLane): void {
    this.options.observer?.providerQueue(provider, lane.semaphore.waiting, lane.semaphore.inUse);
  }
}
