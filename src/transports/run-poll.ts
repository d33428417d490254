// Long-polling a run: one bounded batch of the events after a cursor, read from the run hub like any other reader.

import { isTerminal } from '../core/events.ts';
import { RivuletError, toRivuletError } from '../core/errors.ts';
import type { LogEntry, RunHub, RunSubscription } from '../core/run-hub.ts';

/** The longest a poll may wait for its first event; a larger `wait` is lowered to it (docs/api.md). */
export const POLL_MAX_WAIT_MS = 25_000;
/** The most events one poll returns; the client polls again from `next` for the rest. */
export const POLL_MAX_EVENTS = 500;
/** How long a poll without `wait` still waits for events the run is known to hold (a shared hub's replay). */
export const POLL_KNOWN_EVENTS_WAIT_MS = 2_000;
/**
 * A poll that waited answers this long after its first event arrived, so a streaming answer goes out in a few
 * batches per second instead of one request per token (each poll counts against the request rate limits).
 */
export const POLL_GATHER_MS = 100;

export interface PollOptions {
  /** Seq of the last event the client has; -1 for the start of the run. */
  afterSeq: number;
  /** How long to wait when nothing is there yet; 0 answers at once. */
  waitMs: number;
  maxEvents?: number;
  /** Default POLL_GATHER_MS. */
  gatherMs?: number;
  /** The client went away: stop waiting and detach the reader. */
  signal: AbortSignal;
}

export interface PollBatch {
  /** The events, each the JSON the hub encoded once for every reader (tokens may be merged, see protocol.md). */
  entries: LogEntry[];
  /** The cursor of the next poll: the seq of the last event returned, or `afterSeq` when there were none. */
  next: number;
  /** True once the terminal event was returned (or the run is gone): nothing will follow `next`. */
  ended: boolean;
}

/**
 * Attaches a reader after `afterSeq`, gathers what is already there (up to the bound) or waits up to `waitMs` for
 * the first events, then detaches. The detach counts for the run's grace like any reader's: a client polling again
 * within RUN_GRACE_MS keeps the run going.
 */
export async function pollRun(hub: RunHub, runId: string, options: PollOptions): Promise<PollBatch> {
  const maxEvents = options.maxEvents ?? POLL_MAX_EVENTS;
  const entries: LogEntry[] = [];
  let ended = false;
  let full = false;
  let answer: (() => void) | undefined;
  const answered = new Promise<void>((resolve) => (answer = resolve));
  // Events of one tick (a replay, or tokens the hub batched) leave in the same answer.
  let scheduled = false;
  const answerSoon = (): void => {
    if (scheduled) return;
    scheduled = true;
    setImmediate(() => answer?.());
  };
  // Set once the poll found nothing and waits: live events are then gathered for a moment.
  let waiting = false;
  let gatherTimer: NodeJS.Timeout | undefined;
  const gather = (): void => {
    if (!waiting) answerSoon();
    else gatherTimer ??= setTimeout(() => answer?.(), options.gatherMs ?? POLL_GATHER_MS);
  };

  let subscription: RunSubscription | undefined;
  try {
    subscription = await hub.subscribe(runId, options.afterSeq, {
      write(batch) {
        if (full) return false;
        const room = maxEvents - entries.length;
        entries.push(...(batch.length > room ? batch.slice(0, room) : batch));
        if (entries.length >= maxEvents) full = true;
        if (full || isTerminal(batch.at(-1)?.event ?? { type: 'token' })) answerSoon();
        else gather();
        return !full;
      },
      end() {
        ended = true;
        answerSoon();
      },
    });
  } catch (error) {
    throw toRivuletError(error);
  }
  // The run expired between the ownership check and now.
  if (subscription === undefined) throw new RivuletError('RUN_NOT_FOUND');

  // No timer for a poll that does not wait: one of 0 ms could fire before the hub's replay, which for a run before
  // its first token comes at the end of this event-loop turn (an immediate), and answer nothing when there was.
  const timer = options.waitMs > 0 ? setTimeout(() => answer?.(), options.waitMs) : undefined;
  const onAbort = (): void => answer?.();
  options.signal.addEventListener('abort', onAbort, { once: true });
  if (options.signal.aborted || options.waitMs === 0 || entries.length > 0) answerSoon();
  // Events the hub replays at the turn's end were there before the poll: answered at once, not gathered.
  else setImmediate(() => (waiting = entries.length === 0));
  try {
    await answered;
  } finally {
    clearTimeout(timer);
    clearTimeout(gatherTimer);
    options.signal.removeEventListener('abort', onAbort);
    subscription.close();
  }
  const last = entries.at(-1);
  return {
    entries,
    next: last?.event.seq ?? options.afterSeq,
    // A batch cut at the bound has not reached the end even when the run has.
    ended: (last !== undefined && isTerminal(last.event)) || (ended && !full),
  };
}

/** The poll answer as JSON, built from the events' stored encoding instead of serialising them again. */
export function encodePollBatch(runId: string, batch: PollBatch): string {
  const events = batch.entries.map((entry) => entry.json).join(',');
  return `{"runId":${JSON.stringify(runId)},"events":[${events}],"next":${batch.next},"ended":${batch.ended}}`;
}
