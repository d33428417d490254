// One run's event log in memory and its readers: cursors, batching, backpressure and token merging for readers that
// fell behind. The memory hub's runs and the Redis hub's replicas of other instances' runs are both such logs.

import { isTerminal } from '../../core/events.ts';
import { mergeTokens } from '../../core/merge-tokens.ts';
import type { HubObserver } from '../../core/observer.ts';
import type { LogEntry, RunSink, RunState, RunSubscription } from '../../core/run-hub.ts';
import { CompactLog } from './compact-log.ts';
import type { ReaderSlots } from './reader-slots.ts';
import { ReencodedEntry } from './reencoded-entry.ts';

/**
 * A running log whose oldest entries every reader has been sent compacts them once there are this many (see
 * compactSent): a long answer keeps about 4 bytes a token plus its text instead of an entry, an event and a JSON
 * string per token (about 190 bytes). Few enough that a token's entry seldom outlives a young-generation collection:
 * at 256 a 50-tokens-a-second answer held five seconds of entries, which every scavenge copied (200 such streams:
 * 4 to 5 MB survived each one, against 1.4 to 1.6 MB at 32, and half the collector's CPU; below 32 nothing more).
 */
const LIVE_COMPACT_ENTRIES = 32;

/** At most this many entries go to a sink in one write, so one reader cannot hog the event loop. */
export const MAX_BATCH_ENTRIES = 512;

export class LogReader implements RunSubscription {
  /** Seq of the next entry this reader is sent. */
  cursor: number;
  paused = false;
  /** Set while the reader has a backlog (replay or backpressure): its tokens get merged. */
  behind: boolean;
  closed = false;
  private readonly log: RunLog;
  readonly sink: RunSink;

  constructor(log: RunLog, cursor: number, sink: RunSink) {
    this.log = log;
    this.cursor = cursor;
    this.sink = sink;
    this.behind = cursor < log.nextSeq;
  }

  get runId(): string {
    return this.log.runId;
  }

  resume(): void {
    if (this.closed || !this.paused) return;
    this.paused = false;
    this.log.deliver(this);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.log.detach(this);
  }
}

/**
 * What a log reports to and takes slots from (its hub's observer and the process's reader ceilings), and how often
 * it writes to its readers once its run has a token (MemoryRunHubOptions.writeIntervalMs; 0: every turn).
 */
export interface RunLogHost {
  readonly observer: HubObserver;
  readonly readerSlots: ReaderSlots;
  readonly writeIntervalMs: number;
}

/** The open list per wait; hubs with different intervals (tests) keep apart. */
const dueLists = new Map<number, DueList>();

/**
 * The logs with something to deliver that wait together (0: for the end of this event-loop turn; else a write
 * interval, see scheduleFlush), in the order they first had something: one immediate or one timer flushes the whole
 * list (an immediate per log and turn cost more than the delivery's own JavaScript). `waiting` counts the logs on it
 * that still wait: a log can be flushed before its list is (its ending, its first token), and when none is left the
 * list's immediate or timer is cancelled instead of waking an idle process for nothing (a short answer's tokens after
 * the first wait for the interval, then leave with its ending).
 */
class DueList {
  readonly logs: RunLog[] = [];
  waiting = 0;
  readonly waitMs: number;
  private readonly handle: NodeJS.Immediate | NodeJS.Timeout;

  constructor(waitMs: number) {
    this.waitMs = waitMs;
    this.handle = waitMs === 0 ? setImmediate(flushDueList, this) : setTimeout(flushDueList, waitMs, this);
    dueLists.set(waitMs, this);
  }

  add(log: RunLog): void {
    this.logs.push(log);
    this.waiting += 1;
  }

  /** Takes a log off the list; its immediate or timer is cancelled when no log on it waits any more. */
  leave(): void {
    this.waiting -= 1;
    if (this.waiting > 0) return;
    this.close();
    if (this.waitMs === 0) clearImmediate(this.handle as NodeJS.Immediate);
    else clearTimeout(this.handle as NodeJS.Timeout);
  }

  /** Takes no more logs: the next to wait starts a new list (unless a newer one is open already). */
  close(): void {
    if (dueLists.get(this.waitMs) === this) dueLists.delete(this.waitMs);
  }
}

function flushDueList(list: DueList): void {
  list.close();
  for (const log of list.logs) log.flushDue(list);
}

export class RunLog {
  readonly runId: string;
  /** The entries held, in seq order and without gaps, starting at seq `base`. */
  readonly entries: LogEntry[] = [];
  /** Seq of entries[0]: 0 for a log that holds its whole run, its end once the whole run is in `compacted`. */
  base = 0;
  /** The seqs before `base`, compacted (see compact() and compactSent()); undefined while there are none. */
  private compacted: CompactLog | undefined;
  /** Whether the entries every reader has been sent are compacted while the run is running (see compactSent). */
  protected compactsLive = false;
  readonly readers = new Set<LogReader>();
  bytes = 0;
  state: RunState = 'running';
  protected readonly host: RunLogHost;
  /** The list this log waits on for its next delivery (see scheduleFlush); undefined when nothing waits. */
  private dueList: DueList | undefined;
  /** Set by the first token: a reader attaching earlier joins the burst's write (see attach). */
  private tokenPushed = false;
  /** Entries still holding their JSON until every reader has been sent them (see ReencodedEntry). */
  private unreleased: ReencodedEntry[] | undefined;

  constructor(runId: string, host: RunLogHost) {
    this.runId = runId;
    this.host = host;
  }

  /** Seq the next appended entry gets. */
  get nextSeq(): number {
    return this.base + this.entries.length;
  }

  /**
   * Adds a reader at `cursor` (a seq within the log, or its end); its first delivery (a resume's replay) is on the
   * next microtask, or, before the run's first token, at the end of this event-loop turn.
   */
  attach(reader: LogReader): void {
    this.readers.add(reader);
    this.readersChanged();
    if (this.state === 'running' && !this.tokenPushed) {
      // A new answer's reader usually joins in the middle of the burst before its first token (start and history
      // first, then retrieval and sources in the same turn): it takes what it missed with the rest of the burst in
      // one write at the turn's end, instead of one write now and another then. Nothing waits past this turn. Only
      // non-token events are behind it, so there is nothing to merge: it counts as caught up.
      reader.behind = false;
      this.scheduleFlush();
      return;
    }
    queueMicrotask(() => this.deliver(reader));
  }

  detach(reader: LogReader): void {
    this.removeReader(reader);
    if (this.state === 'running') this.host.observer.readerDisconnected();
    this.readerDetached();
  }

  /** Sends everything after the reader's cursor, merged if it is behind, until the sink pushes back. */
  deliver(reader: LogReader): void {
    if (this.compacted !== undefined && !this.deliverCompacted(reader, this.compacted)) return;
    const entries = this.entries;
    const base = this.base;
    while (!reader.closed && !reader.paused && reader.cursor < base + entries.length) {
      const start = reader.cursor - base;
      const end = Math.min(entries.length, start + MAX_BATCH_ENTRIES);
      // A live reader usually takes one entry at a time: skip the slice machinery for it.
      const slice = end - start === 1 ? [entries[start]!] : entries.slice(start, end);
      const merged = reader.behind && slice.length > 1;
      const batch = merged ? mergeTokens(slice) : slice;
      reader.cursor = base + end;
      const mergedTokens = merged && batch.length < slice.length;
      if (mergedTokens) this.host.observer.mergedFrame();
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

  /** Replays the compacted part of the log (readers there are always behind); false once the reader cannot take more. */
  private deliverCompacted(reader: LogReader, compacted: CompactLog): boolean {
    while (!reader.closed && !reader.paused && reader.cursor < this.base) {
      const read = compacted.read(reader.cursor, MAX_BATCH_ENTRIES);
      reader.cursor = read.next;
      if (read.merged) this.host.observer.mergedFrame();
      let accepted: boolean;
      try {
        accepted = reader.sink.write(read.entries, read.merged);
      } catch {
        reader.close();
        return false;
      }
      if (!accepted) {
        reader.paused = true;
        reader.behind = true;
        return false;
      }
    }
    return !reader.closed && !reader.paused;
  }

  /**
   * Keeps a finished log in a compact form (consecutive tokens as one string and their offsets) for the rest of its
   * retention. Only with no reader attached: a reader replaying it later gets exactly what it would have got.
   */
  protected compact(): void {
    if (this.state !== 'finished' || this.readers.size > 0 || this.entries.length === 0) return;
    this.compactHead(this.entries.length);
  }

  /**
   * While the run streams: the oldest entries, once every reader has been sent them and there are enough of them,
   * go into the compact form too. A reader that resumes into them later gets what a reader that fell behind gets
   * from the full log (tokens merged), as after the run.
   */
  private compactSent(): void {
    const count = this.sentToAll() - this.base;
    if (count >= LIVE_COMPACT_ENTRIES) this.compactHead(count);
  }

  /** Moves the first `count` entries into the compact log. */
  private compactHead(count: number): void {
    const head = this.entries.splice(0, count);
    if (this.compacted === undefined) this.compacted = new CompactLog(head);
    else this.compacted.append(head);
    this.base += count;
  }

  /** Delivers what readers have not received yet (a final error, say) now, without waiting for a microtask. */
  deliverAll(): void {
    for (const reader of [...this.readers]) this.deliver(reader);
  }

  /** Ends every reader (the run is gone for this process). */
  endReaders(): void {
    for (const reader of [...this.readers]) this.endReader(reader);
  }

  /** Appends the next entry (its seq must be `nextSeq`) and schedules delivery to the readers. */
  push(entry: LogEntry): void {
    const event = entry.event;
    this.entries.push(entry);
    this.bytes += entry.json.length;
    if (entry instanceof ReencodedEntry) (this.unreleased ??= []).push(entry);
    if (isTerminal(event)) {
      this.state = 'finished';
      this.finished();
    }
    // The first token and the ending leave as soon as they are known (after the current job), with whatever the turn
    // appended before them: the time to the first token is what a reader waits on, and the ending frees the run.
    const now = isTerminal(event) || (event.type === 'token' && !this.tokenPushed);
    if (event.type === 'token') this.tokenPushed = true;
    if (this.readers.size === 0) return;
    if (now) queueMicrotask(this.flush);
    else this.scheduleFlush();
  }

  /**
   * Everything appended in this event-loop turn reaches the readers at its end (setImmediate: after the turn's I/O
   * callbacks and their promise jobs), in one write per reader:
   * - the events before the first token (start, phases, sources) come in a burst across store calls that resolve at
   *   once: one write, not one per event (a thousand streams opening together would otherwise queue thousands of
   *   extra writes before any token);
   * - the tokens of every upstream chunk that arrived in one poll of the event loop, however many, likewise;
   * - and the writes of all the streams that had something leave back to back, after the turn's reads. On a machine
   *   whose clients or proxy run on it (loopback), a write that finds its reader asleep pays for waking it (an
   *   interprocess interrupt in a VM); writes spread between the turn's reads found it asleep time after time.
   *   Measured: 64 streams, `npm run bench`, a sixth of the kernel's CPU in Rivulet was those wake-ups.
   * The first token does not wait (see push): with it at the turn's end, the paced scenario's TTFT p99 went from 18 to
   * 89 ms while answers opened. After it, with a write interval (the host's writeIntervalMs), the run's events wait
   * for the interval's timer instead, one timer for every log that has something: a stream is written at most once
   * an interval, the tokens of that interval together (each its own frame), so a reader's socket takes a fraction of
   * the writes at the cost of at most an interval's wait for a token. The ending never waits (push), nor does a
   * replay (attach) or a resume after backpressure (deliver). Without an interval a token waits for the rest of its
   * turn's work only: microseconds, or under load as long as the turn's other work takes (answers starting, say).
   */
  private scheduleFlush(): void {
    if (this.dueList !== undefined) return;
    const waitMs = this.tokenPushed ? Math.max(0, this.host.writeIntervalMs) : 0;
    const list = dueLists.get(waitMs) ?? new DueList(waitMs);
    list.add(this);
    this.dueList = list;
  }

  /** The delivery scheduleFlush set up, unless the log was flushed since; called by its list's immediate or timer. */
  flushDue(list: DueList): void {
    if (this.dueList === list) this.flush();
  }

  /** Called once when the terminal entry is pushed. */
  protected finished(): void {}

  /** Called whenever a reader joins or leaves (detached, ended, refused by its sink). */
  protected readersChanged(): void {}

  /** Called after a reader left on its own (closed its subscription or broke). */
  protected readerDetached(): void {}

  private readonly flush = (): void => {
    const list = this.dueList;
    if (list !== undefined) {
      this.dueList = undefined;
      list.leave();
    }
    this.deliverToReaders();
  };

  /** Sends every reader what it has not had, then lets go of what all of them now have (see ReencodedEntry, compactSent). */
  private deliverToReaders(): void {
    for (const reader of this.readers) this.deliver(reader);
    if (this.unreleased !== undefined) this.releaseSent(this.unreleased);
    if (this.compactsLive && this.entries.length >= LIVE_COMPACT_ENTRIES && this.state === 'running') {
      this.compactSent();
    }
  }

  /** The first seq some reader has not been sent yet (the log's end when none is behind or there is no reader). */
  private sentToAll(): number {
    let sent = this.nextSeq;
    for (const reader of this.readers) sent = Math.min(sent, reader.cursor);
    return sent;
  }

  /** Lets go of the JSON of entries every reader has been sent (none while there is no reader). */
  private releaseSent(unreleased: ReencodedEntry[]): void {
    if (this.readers.size === 0) return;
    const oldestCursor = this.sentToAll();
    const kept: ReencodedEntry[] = [];
    for (const entry of unreleased) {
      if (entry.event.seq < oldestCursor) entry.release();
      else kept.push(entry);
    }
    this.unreleased = kept.length === 0 ? undefined : kept;
  }

  /** Every way a reader leaves goes through here, so the process's reader count frees its slot. */
  private removeReader(reader: LogReader): void {
    if (!this.readers.delete(reader)) return;
    this.host.readerSlots.release();
    this.readersChanged();
  }

  private endReader(reader: LogReader): void {
    reader.closed = true;
    this.removeReader(reader);
    try {
      reader.sink.end();
    } catch {
      // The reader is gone either way.
    }
  }
}
