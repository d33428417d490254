// In-memory run hub: one process, append-only logs, readers with their own cursors, grace and retention timers.

import { RivuletError, type ErrorCode } from '../../core/errors.ts';
import {
  encodeEvent,
  errorEventInput,
  isTerminal,
  withSeq,
  type RunEvent,
  type RunEventInput,
} from '../../core/events.ts';
import { takeRandomBytes } from '../../core/ids.ts';
import { noopObserver, type HubObserver } from '../../core/observer.ts';
import type {
  CreateRunOptions,
  DisconnectPolicy,
  LogEntry,
  ReaderLimits,
  RunHub,
  RunHubStats,
  RunInfo,
  RunLimits,
  RunProducer,
  RunSink,
  RunSubscription,
} from '../../core/run-hub.ts';
import { ReaderSlots } from './reader-slots.ts';
import { ReencodedEntry } from './reencoded-entry.ts';
import { LogReader, RunLog } from './run-log.ts';

/**
 * What a shared hub (src/stores/redis/) hooks into the runs this hub owns: it mirrors their logs elsewhere and
 * counts readers on other instances. Called synchronously; `appended` is on the token path, so it must stay cheap.
 */
export interface RunMirror {
  /** An entry was appended to the run (its last entry). */
  appended(run: OwnedRun): void;
  /** The number of this process's readers of the run changed. */
  readersChanged(run: OwnedRun): void;
  /** The grace expired with no reader here: resolves true when readers on other instances still follow the run. */
  readersElsewhere(runId: string): Promise<boolean>;
}

/** What a mirror may read of a run this hub owns. */
export interface OwnedRun {
  readonly runId: string;
  readonly ownerId: string | null;
  readonly createdAt: number;
  readonly entries: readonly LogEntry[];
  readonly state: RunLog['state'];
  readonly readers: ReadonlySet<unknown>;
}

export interface MemoryRunHubOptions {
  limits: RunLimits;
  /** How long a run keeps going with no reader before the disconnect policy applies. */
  graceMs: number;
  disconnectPolicy: DisconnectPolicy;
  /** How long a finished run stays readable. */
  retentionMs: number;
  /**
   * Budget for the encoded bytes of all retained finished runs together. Past it, the oldest finished runs are
   * forgotten before their retention ends (running runs are never evicted; each is capped by its own limits).
   */
  maxRetainedBytes?: number;
  /** Reader ceilings (RUN_MAX_READERS, MAX_READERS); unlimited when absent. */
  readers?: ReaderLimits;
  /** The process's reader count when another hub shares it (built from `readers` when absent). */
  readerSlots?: ReaderSlots;
  /**
   * After a run's first token, its readers are written at most once per this many ms (STREAM_WRITE_INTERVAL_MS):
   * what the run appends in between leaves in one write per reader, every event still its own frame. A write to a
   * socket costs its process about as much as everything else of a token together (the kernel's part wakes the
   * reader), so at 100 tokens a second a 30 ms interval makes a stream's writes a third. The first token, the
   * ending, a reader's replay and a paused reader's resume never wait. 0 or absent: every event-loop turn's events
   * at its end.
   */
  writeIntervalMs?: number;
  /** Called when the grace window expires on a run nobody came back to (for metrics and logs). */
  onAbandoned?: (runId: string) => void;
  /** Metrics: readers attached and resumed, disconnects, merged frames, grace expiries. */
  observer?: HubObserver;
  /** Mirrors the runs elsewhere (the Redis hub); none by default. */
  mirror?: RunMirror;
}

const RUN_ID_BYTES = 16;

/** Unguessable, URL-safe and free of ':' (Last-Event-ID is "<runId>:<seq>"): 16 random bytes in base64url. */
export function newRunId(): string {
  const { bytes, offset } = takeRandomBytes(RUN_ID_BYTES);
  return `run_${bytes.toString('base64url', offset, offset + RUN_ID_BYTES)}`;
}

class MemoryRun extends RunLog implements RunProducer, OwnedRun {
  readonly ownerId: string | null;
  readonly createdAt = Date.now();
  private readonly controller = new AbortController();
  private readonly limits: RunLimits;
  private readonly hub: MemoryRunHub;
  private graceTimer: NodeJS.Timeout | undefined;
  private readonly durationTimer: NodeJS.Timeout;
  retentionTimer: NodeJS.Timeout | undefined;

  constructor(hub: MemoryRunHub, runId: string, ownerId: string | null, limits: RunLimits) {
    super(runId, hub);
    this.hub = hub;
    this.ownerId = ownerId;
    this.limits = limits;
    // Not with a mirror: it copies the log to Redis by seq (see compactWhenRead).
    this.compactsLive = hub.options.mirror === undefined;
    this.durationTimer = setTimeout(() => this.endWithError('RUN_TIMEOUT'), limits.maxDurationMs);
    this.durationTimer.unref();
    // A run nobody ever subscribes to is abandoned like one whose readers all left.
    this.startGraceTimer();
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  append(input: RunEventInput): number {
    if (this.state !== 'running') return -1;
    const seq = this.nextSeq;
    const event = withSeq(input, seq);
    const json = encodeEvent(event);
    if (!isTerminal(event) && this.exceedsLimits(json.length)) {
      this.endWithError('RUN_LOG_LIMIT');
      return -1;
    }
    this.record(event, json);
    return seq;
  }

  /** Ends the run with a terminal error the hub owns (timeouts, caps, shutdown), then aborts the producer. */
  endWithError(code: ErrorCode): void {
    if (this.state !== 'running') return;
    const error = new RivuletError(code);
    const event = withSeq(errorEventInput(error), this.nextSeq);
    this.record(event, encodeEvent(event));
    this.controller.abort(error);
  }

  /** Explicit stop: the producer sees the abort and appends its own `done` with the partial text. */
  stop(): boolean {
    if (this.state !== 'running') return false;
    this.controller.abort(new RivuletError('RUN_STOPPED'));
    return true;
  }

  abandon(): void {
    if (this.state !== 'running') return;
    this.controller.abort(new RivuletError('RUN_ABANDONED'));
  }

  /** The grace window starts again (a reader on another instance left). */
  restartGrace(): void {
    if (this.state === 'running' && this.readers.size === 0) this.startGraceTimer();
  }

  dispose(): void {
    this.clearGraceTimer();
    clearTimeout(this.durationTimer);
    clearTimeout(this.retentionTimer);
    this.endReaders();
  }

  protected override finished(): void {
    this.clearGraceTimer();
    clearTimeout(this.durationTimer);
    this.hub.scheduleRetention(this);
    this.compactWhenRead();
  }

  protected override readersChanged(): void {
    if (this.readers.size > 0) this.clearGraceTimer();
    this.hub.options.mirror?.readersChanged(this);
    this.compactWhenRead();
  }

  /**
   * A finished run whose readers are all gone is compacted for its retention (after the current delivery). Not with a
   * mirror: it copies the log to Redis by seq, and again after Redis lost it, for as long as the run is retained.
   */
  private compactWhenRead(): void {
    if (this.state !== 'finished' || this.readers.size > 0 || this.hub.options.mirror !== undefined) return;
    queueMicrotask(() => this.compact());
  }

  protected override readerDetached(): void {
    if (this.readers.size === 0 && this.state === 'running') this.startGraceTimer();
  }

  private record(event: RunEvent, json: string): void {
    // The sources' JSON is let go once sent (see ReencodedEntry); every other event keeps its JSON.
    this.push(event.type === 'sources' ? new ReencodedEntry(event, json) : { event, json });
    this.hub.options.mirror?.appended(this);
  }

  private exceedsLimits(jsonLength: number): boolean {
    // One slot is kept for the terminal event so a capped run still ends properly.
    return this.nextSeq + 1 >= this.limits.maxEvents || this.bytes + jsonLength > this.limits.maxBytes;
  }

  private startGraceTimer(): void {
    this.clearGraceTimer();
    this.graceTimer = setTimeout(() => {
      this.graceTimer = undefined;
      if (this.state !== 'running' || this.readers.size > 0) return;
      this.hub.graceExpired(this);
    }, this.hub.options.graceMs);
    this.graceTimer.unref();
  }

  private clearGraceTimer(): void {
    if (this.graceTimer !== undefined) clearTimeout(this.graceTimer);
    this.graceTimer = undefined;
  }
}

export class MemoryRunHub implements RunHub {
  readonly options: MemoryRunHubOptions;
  /** @internal */
  readonly observer: HubObserver;
  /** Readers attached to all runs, for MAX_READERS (shared with the Redis hub's replicas when it wraps this hub). */
  readonly readerSlots: ReaderSlots;
  readonly writeIntervalMs: number;
  private readonly runs = new Map<string, MemoryRun>();
  private retainedBytes = 0;

  constructor(options: MemoryRunHubOptions) {
    this.options = options;
    this.observer = options.observer ?? noopObserver;
    this.readerSlots = options.readerSlots ?? new ReaderSlots(options.readers);
    this.writeIntervalMs = options.writeIntervalMs ?? 0;
  }

  create(options: CreateRunOptions): RunProducer {
    // A new run is read by whoever asked: with no room for that reader it would only generate for nobody.
    if (this.readerSlots.full) throw this.readerSlots.tooManyReaders('process');
    const run = new MemoryRun(this, newRunId(), options.ownerId, {
      ...this.options.limits,
      ...options.limits,
    });
    this.runs.set(run.runId, run);
    return run;
  }

  /** Whether this hub holds the run (it runs here, or finished here and is retained). */
  has(runId: string): boolean {
    return this.runs.has(runId);
  }

  /** A run this hub holds, as its mirror sees it. */
  owned(runId: string): OwnedRun | undefined {
    return this.runs.get(runId);
  }

  subscribe(runId: string, afterSeq: number, sink: RunSink): Promise<RunSubscription | undefined> {
    const run = this.runs.get(runId);
    if (run === undefined) return Promise.resolve(undefined);
    const refusal = this.readerSlots.refusal(run.readers.size);
    if (refusal !== undefined) return Promise.reject(refusal);
    this.readerSlots.take();
    const cursor = Math.max(0, Math.min(Math.floor(afterSeq) + 1, run.nextSeq));
    const reader = new LogReader(run, cursor, sink);
    this.observer.readerAttached(afterSeq >= 0);
    run.attach(reader);
    return Promise.resolve(reader);
  }

  info(runId: string): Promise<RunInfo | undefined> {
    const run = this.runs.get(runId);
    if (run === undefined) return Promise.resolve(undefined);
    return Promise.resolve({
      runId,
      ownerId: run.ownerId,
      state: run.state,
      lastSeq: run.nextSeq - 1,
      readers: run.readers.size,
      createdAt: run.createdAt,
    });
  }

  stop(runId: string): Promise<boolean> {
    return Promise.resolve(this.runs.get(runId)?.stop() ?? false);
  }

  /** A reader of the run on another instance left: its grace window starts again if nobody reads it here. */
  restartGrace(runId: string): void {
    this.runs.get(runId)?.restartGrace();
  }

  stats(): RunHubStats {
    let activeRuns = 0;
    let readers = 0;
    let bytes = 0;
    for (const run of this.runs.values()) {
      if (run.state === 'running') activeRuns += 1;
      readers += run.readers.size;
      bytes += run.bytes;
    }
    return { runs: this.runs.size, activeRuns, readers, bytes };
  }

  close(): void {
    for (const run of this.runs.values()) {
      run.endWithError('SHUTTING_DOWN');
      // Readers get the terminal error before they are ended; one that is paused on backpressure is cut.
      run.deliverAll();
      run.dispose();
    }
    this.runs.clear();
    this.retainedBytes = 0;
  }

  /** @internal */
  scheduleRetention(run: MemoryRun): void {
    run.retentionTimer = setTimeout(() => this.forget(run), this.options.retentionMs);
    run.retentionTimer.unref();
    this.retainedBytes += run.bytes;
    const budget = this.options.maxRetainedBytes;
    if (budget === undefined) return;
    // Map order is creation order, so the first finished runs met are the oldest.
    for (const candidate of this.runs.values()) {
      if (this.retainedBytes <= budget) break;
      if (candidate.state === 'finished' && candidate !== run) this.forget(candidate);
    }
  }

  private forget(run: MemoryRun): void {
    if (this.runs.get(run.runId) !== run) return;
    this.runs.delete(run.runId);
    if (run.state === 'finished') this.retainedBytes -= run.bytes;
    run.dispose();
  }

  /** @internal The grace passed with no reader here; a mirror may know of readers on other instances. */
  graceExpired(run: MemoryRun): void {
    const mirror = this.options.mirror;
    if (mirror === undefined) {
      this.abandoned(run);
      return;
    }
    void mirror.readersElsewhere(run.runId).then(
      (elsewhere) => {
        if (run.state !== 'running' || run.readers.size > 0) return;
        // Readers elsewhere keep it alive; look again a grace later in case their instance died without a word.
        if (elsewhere) run.restartGrace();
        else this.abandoned(run);
      },
      // No way to count readers elsewhere (the shared store is down): they cannot be reading it either.
      () => {
        if (run.state === 'running' && run.readers.size === 0) this.abandoned(run);
      },
    );
  }

  private abandoned(run: MemoryRun): void {
    this.options.onAbandoned?.(run.runId);
    const abort = this.options.disconnectPolicy === 'abort';
    this.observer.graceExpired(abort);
    if (abort) run.abandon();
  }
}
