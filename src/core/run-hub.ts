// The run hub contract: append-only event logs per run, independent readers with their own cursor.
// The in-memory backend lives in src/stores/memory/; a Redis backend will implement the same interface.

import type { RunEvent, RunEventInput } from './events.ts';

/** One appended event with its JSON encoding, computed once by the producer and shared by every reader. */
export interface LogEntry {
  readonly event: RunEvent;
  readonly json: string;
}

export type RunState = 'running' | 'finished';

/** What happens to a running generation when its last reader leaves and nobody returns within the grace. */
export type DisconnectPolicy = 'abort' | 'finish';

export interface RunLimits {
  /** Hard cap on events in one run's log. */
  maxEvents: number;
  /** Hard cap on the encoded bytes of one run's log. */
  maxBytes: number;
  /** Maximum wall time of a run before it ends with RUN_TIMEOUT. */
  maxDurationMs: number;
}

export interface CreateRunOptions {
  /** Who may read and stop the run (a principal id); `null` for an open local install. */
  ownerId: string | null;
  limits?: Partial<RunLimits>;
}

/** The producer's handle on a run: the pipeline appends events here and watches `signal`. */
export interface RunProducer {
  readonly runId: string;
  /**
   * Aborted when the run is stopped, abandoned (grace expired), times out or exceeds its caps.
   * `signal.reason` is a RivuletError saying which.
   */
  readonly signal: AbortSignal;
  /**
   * Appends an event and returns its seq, or -1 when the run has already ended (a terminal event was
   * appended, or the hub ended it). Never blocks on readers.
   */
  append(event: RunEventInput): number;
}

/** Where a reader's events go. `write` returning false pauses delivery until `resume()`. */
export interface RunSink {
  /**
   * Receives the next entries after the reader's cursor. `merged` is true when consecutive tokens were
   * merged because the reader fell behind (the merged token carries the last seq it covers).
   */
  write(entries: readonly LogEntry[], merged: boolean): boolean;
  /** Called once after the terminal event was delivered, or when the run is gone. */
  end(): void;
}

export interface RunSubscription {
  readonly runId: string;
  /** Continue delivery after `write` returned false. */
  resume(): void;
  /** Detach this reader. Counts towards the disconnect policy. */
  close(): void;
}

export interface RunInfo {
  runId: string;
  ownerId: string | null;
  state: RunState;
  /** Seq of the last appended event, -1 when empty. */
  lastSeq: number;
  readers: number;
  createdAt: number;
}

export interface RunHubStats {
  runs: number;
  activeRuns: number;
  readers: number;
  bytes: number;
}

/** Ceilings on readers, whatever the auth mode: each reader costs a write per event it is sent. */
export interface ReaderLimits {
  /** Readers one run may have at once. */
  perRun: number;
  /** Readers of all runs together. */
  total: number;
}

export interface RunHub {
  /**
   * Starts a run. Throws TOO_MANY_READERS when the process already has its maximum of readers: the new run could
   * have none, and would generate for nobody.
   */
  create(options: CreateRunOptions): RunProducer;
  /**
   * Attaches a reader that receives every entry with seq > `afterSeq` (use -1 for all), then the live tail.
   * Returns undefined when the run does not exist (or its retention has passed). Rejects with TOO_MANY_READERS when
   * the run or the process has reached its reader ceiling; a reader that closes (or is ended) frees its slot.
   */
  subscribe(runId: string, afterSeq: number, sink: RunSink): Promise<RunSubscription | undefined>;
  info(runId: string): Promise<RunInfo | undefined>;
  /** Explicit stop: aborts the producer at once. Returns false when the run is unknown or already finished. */
  stop(runId: string): Promise<boolean>;
  stats(): RunHubStats;
  /** Ends every running run and drops all state. */
  close(): void;
}
