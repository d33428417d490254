// In-memory run hub: one process, append-only logs, readers with their own cursors, grace and retention timers.

import { randomBytes } from 'node:crypto';
import { RivuletError, type ErrorCode } from '../../core/errors.ts';
import { encodeEvent, isTerminal, withSeq, type RunEvent, type RunEventInput } from '../../core/events.ts';
import { mergeTokens } from '../../core/merge-tokens.ts';
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
  RunState,
  RunSubscription,
} from '../../core/run-hub.ts';

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
  /** Called when the grace window expires on a run nobody came back to (for metrics and logs). */
  onAbandoned?: (runId: string) => void;
  /** Metrics: readers attached and resumed, disconnects, merged frames, grace expiries. */
  observer?: HubObserver;
}

/** At most this many entries go to a sink in one write, so one reader cannot hog the event loop. */
const MAX_BATCH_ENTRIES = 512;

/** What a refused reader is told to wait before trying again. */
const READERS_RETRY_AFTER_MS = 5_000;

/** Unguessable, URL-safe and free of ':' (Last-Event-ID is "<runId>:<seq>"). */
export function newRunId(): string {
  return `run_${randomBytes(16).toString('base64url')}`;
}

class Reader implements RunSubscription {
  cursor: number;
  paused = false;
  /** Set while the reader has a backlog (replay or backpressure): its tokens get merged. */
  behind: boolean;
  closed = false;
  private readonly run: MemoryRun;
  readonly sink: RunSink;

  constructor(run: MemoryRun, cursor: number, sink: RunSink) {
    this.run = run;
    this.cursor = cursor;
    this.sink = sink;
    this.behind = cursor < run.entries.length;
  }

  get runId(): string {
    return this.run.runId;
  }

  resume(): void {
    if (this.closed || !this.paused) return;
    this.paused = false;
    this.run.deliver(this);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.run.detach(this);
  }
}

class MemoryRun implements RunProducer {
  readonly runId: string;
  readonly ownerId: string | null;
  readonly createdAt = Date.now();
  readonly entries: LogEntry[] = [];
  readonly readers = new Set<Reader>();
  bytes = 0;
  state: RunState = 'running';
  private readonly controller = new AbortController();
  private readonly limits: RunLimits;
  private readonly hub: MemoryRunHub;
  private flushScheduled = false;
  private laterFlushScheduled = false;
  private graceTimer: NodeJS.Timeout | undefined;
  private readonly durationTimer: NodeJS.Timeout;
  retentionTimer: NodeJS.Timeout | undefined;

  constructor(hub: MemoryRunHub, runId: string, ownerId: string | null, limits: RunLimits) {
    this.hub = hub;
    this.runId = runId;
    this.ownerId = ownerId;
    this.limits = limits;
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
    const seq = this.entries.length;
    const event = withSeq(input, seq);
    const json = encodeEvent(event);
    if (!isTerminal(event) && this.exceedsLimits(json.length)) {
      this.endWithError('RUN_LOG_LIMIT');
      return -1;
    }
    this.push(event, json);
    return seq;
  }

  /** Ends the run with a terminal error the hub owns (timeouts, caps, shutdown), then aborts the producer. */
  endWithError(code: ErrorCode): void {
    if (this.state !== 'running') return;
    const error = new RivuletError(code);
    const event: RunEvent = {
      type: 'error',
      seq: this.entries.length,
      code,
      message: error.message,
      retryable: error.retryable,
    };
    this.push(event, encodeEvent(event));
    this.controller.abort(error);
  }

  /** Explicit stop: the producer sees the abort and appends its own `done` with the partial text. */
  stop(): boolean {
    if (this.state !== 'running') return false;
    this.controller.abort(new RivuletError('RUN_STOPPED'));
    return true;
  }

  attach(reader: Reader): void {
    this.readers.add(reader);
    this.clearGraceTimer();
    this.scheduleDelivery(reader);
  }

  detach(reader: Reader): void {
    this.removeReader(reader);
    if (this.state === 'running') this.hub.observer.readerDisconnected();
    if (this.readers.size === 0 && this.state === 'running') this.startGraceTimer();
  }

  /** Sends everything after the reader's cursor, merged if it is behind, until the sink pushes back. */
  deliver(reader: Reader): void {
    const entries = this.entries;
    while (!reader.closed && !reader.paused && reader.cursor < entries.length) {
      const end = Math.min(entries.length, reader.cursor + MAX_BATCH_ENTRIES);
      // A live reader usually takes one entry at a time: skip the slice machinery for it.
      const slice = end - reader.cursor === 1 ? [entries[reader.cursor]!] : entries.slice(reader.cursor, end);
      const merged = reader.behind && slice.length > 1;
      const batch = merged ? mergeTokens(slice) : slice;
      reader.cursor = end;
      const mergedTokens = merged && batch.length < slice.length;
      if (mergedTokens) this.hub.observer.mergedFrame();
      let accepted: boolean;
      try {
        accepted = reader.sink.write(batch, mergedTokens);
      } catch {
        // A broken reader must never break the producer or the other readers.
        reader.close();
        return;
      }
      if (!accepted) {
        reader.paused = true;
        reader.behind = true;
        return;
      }
    }
    if (reader.closed || reader.paused) return;
    reader.behind = false;
    if (this.state === 'finished') this.endReader(reader);
  }

  /** Delivers what readers have not received yet (a final error, say) now, without waiting for a microtask. */
  deliverAll(): void {
    for (const reader of [...this.readers]) this.deliver(reader);
  }

  dispose(): void {
    this.clearGraceTimer();
    clearTimeout(this.durationTimer);
    clearTimeout(this.retentionTimer);
    for (const reader of [...this.readers]) this.endReader(reader);
  }

  private push(event: RunEvent, json: string): void {
    this.entries.push({ event, json });
    this.bytes += json.length;
    if (isTerminal(event)) this.finish();
    if (this.readers.size === 0) return;
    if (event.type === 'token' || isTerminal(event)) {
      if (this.flushScheduled) return;
      this.flushScheduled = true;
      // Events appended in the same tick (one upstream chunk often holds several tokens) go out in one write.
      queueMicrotask(this.flush);
    } else if (!this.flushScheduled && !this.laterFlushScheduled) {
      this.laterFlushScheduled = true;
      // The events before the first token (start, phases, sources) come in a burst across store calls that resolve
      // at once: wait for the macrotask boundary so the burst is one write per reader, not one per event (a
      // thousand streams opening together would otherwise queue thousands of extra writes before any token).
      setImmediate(this.laterFlush);
    }
  }

  private readonly flush = (): void => {
    this.flushScheduled = false;
    for (const reader of this.readers) this.deliver(reader);
  };

  private readonly laterFlush = (): void => {
    this.laterFlushScheduled = false;
    for (const reader of this.readers) this.deliver(reader);
  };

  private scheduleDelivery(reader: Reader): void {
    queueMicrotask(() => this.deliver(reader));
  }

  private exceedsLimits(jsonLength: number): boolean {
    // One slot is kept for the terminal event so a capped run still ends properly.
    return this.entries.length + 1 >= this.limits.maxEvents || this.bytes + jsonLength > this.limits.maxBytes;
  }

  private finish(): void {
    this.state = 'finished';
    this.clearGraceTimer();
    clearTimeout(this.durationTimer);
    this.hub.scheduleRetention(this);
  }

  /** Every way a reader leaves goes through here, so the hub's reader count frees its slot. */
  private removeReader(reader: Reader): void {
    if (this.readers.delete(reader)) this.hub.readerLeft();
  }

  private endReader(reader: Reader): void {
    reader.closed = true;
    this.removeReader(reader);
    try {
      reader.sink.end();
    } catch {
      // The reader is gone either way.
    }
  }

  private startGraceTimer(): void {
    this.clearGraceTimer();
    this.graceTimer = setTimeout(() => {
      this.graceTimer = undefined;
      if (this.state !== 'running' || this.readers.size > 0) return;
      this.hub.abandoned(this);
    }, this.hub.options.graceMs);
    this.graceTimer.unref();
  }

  private clearGraceTimer(): void {
    if (this.graceTimer !== undefined) clearTimeout(this.graceTimer);
    this.graceTimer = undefined;
  }

  abandon(): void {
    if (this.state !== 'running') return;
    this.controller.abort(new RivuletError('RUN_ABANDONED'));
  }
}

export class MemoryRunHub implements RunHub {
  readonly options: MemoryRunHubOptions;
  /** @internal */
  readonly observer: HubObserver;
  private readonly runs = new Map<string, MemoryRun>();
  private retainedBytes = 0;
  /** Readers attached to all runs, for MAX_READERS. */
  private readerCount = 0;
  private readonly readerLimits: ReaderLimits;

  constructor(options: MemoryRunHubOptions) {
    this.options = options;
    this.observer = options.observer ?? noopObserver;
    this.readerLimits = options.readers ?? { perRun: Infinity, total: Infinity };
  }

  create(options: CreateRunOptions): RunProducer {
    // A new run is read by whoever asked: with no room for that reader it would only generate for nobody.
    if (this.readerCount >= this.readerLimits.total) throw this.tooManyReaders('process');
    const run = new MemoryRun(this, newRunId(), options.ownerId, {
      ...this.options.limits,
      ...options.limits,
    });
    this.runs.set(run.runId, run);
    return run;
  }

  subscribe(runId: string, afterSeq: number, sink: RunSink): Promise<RunSubscription | undefined> {
    const run = this.runs.get(runId);
    if (run === undefined) return Promise.resolve(undefined);
    // Each reader is written every event: without a ceiling, thousands of readers of one run (that never read)
    // turn each token into thousands of socket writes and starve everything else on the event loop.
    if (run.readers.size >= this.readerLimits.perRun) return Promise.reject(this.tooManyReaders('run'));
    if (this.readerCount >= this.readerLimits.total) return Promise.reject(this.tooManyReaders('process'));
    const cursor = Math.max(0, Math.min(Math.floor(afterSeq) + 1, run.entries.length));
    const reader = new Reader(run, cursor, sink);
    this.observer.readerAttached(afterSeq >= 0);
    this.readerCount += 1;
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
      lastSeq: run.entries.length - 1,
      readers: run.readers.size,
      createdAt: run.createdAt,
    });
  }

  stop(runId: string): Promise<boolean> {
    return Promise.resolve(this.runs.get(runId)?.stop() ?? false);
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
    this.readerCount = 0;
  }

  /** @internal */
  readerLeft(): void {
    this.readerCount -= 1;
  }

  private tooManyReaders(scope: 'run' | 'process'): RivuletError {
    const message =
      scope === 'run'
        ? `This answer already has ${this.readerLimits.perRun} readers (RUN_MAX_READERS): close another tab or connection following it, then try again.`
        : `The server is serving its maximum of ${this.readerLimits.total} readers (MAX_READERS): try again shortly.`;
    return new RivuletError('TOO_MANY_READERS', { message, retryAfterMs: READERS_RETRY_AFTER_MS });
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

  /** @internal */
  abandoned(run: MemoryRun): void {
    this.options.onAbandoned?.(run.runId);
    const abort = this.options.disconnectPolicy === 'abort';
    this.observer.graceExpired(abort);
    if (abort) run.abandon();
  }
}
