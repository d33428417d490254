// The reading side of the Redis run hub: readers here of runs other instances own. Each such run has one replica
// log in memory, filled from its Redis Stream; its readers are ordinary log readers (same batching, backpressure and
// token merging as the owner's). One blocking connection follows every replica with a single XREAD BLOCK.

import type { Redis } from 'ioredis';
import { RivuletError } from '../../core/errors.ts';
import type { RunEvent } from '../../core/events.ts';
import type { Logger } from '../../core/logger.ts';
import type { HubObserver } from '../../core/observer.ts';
import type { LogEntry, RunSink, RunState, RunSubscription } from '../../core/run-hub.ts';
import type { ReaderSlots } from '../memory/reader-slots.ts';
import { LogReader, RunLog, type RunLogHost } from '../memory/run-log.ts';
import { READ_BLOCK_MS } from './redis-connections.ts';
import { entryId, seqOfEntryId, type RedisKeys } from './redis-keys.ts';

/** A run's metadata hash as read from Redis. */
export interface RunMeta {
  runId: string;
  /** The instance that runs it. */
  owner: string;
  ownerId: string | null;
  state: RunState;
  lastSeq: number;
  createdAt: number;
}

type StreamEntry = [id: string, fields: string[]];

/** Reads a run's metadata hash and its stream's last entry (the last seq while it runs); undefined when unknown. */
export async function readRunMeta(
  commands: Redis,
  keys: RedisKeys,
  runId: string,
): Promise<RunMeta | undefined> {
  const [hash, tail] = await Promise.all([
    commands.hgetall(keys.run(runId)),
    commands.xrevrange(keys.log(runId), '+', '-', 'COUNT', 1) as Promise<StreamEntry[]>,
  ]);
  if (hash.owner === undefined || hash.state === undefined) return undefined;
  const last = tail[0];
  return {
    runId,
    owner: hash.owner,
    ownerId: JSON.parse(hash.ownerId ?? 'null') as string | null,
    state: hash.state === 'finished' ? 'finished' : 'running',
    lastSeq: last === undefined ? -1 : seqOfEntryId(last[0]),
    createdAt: Number(hash.createdAt ?? 0),
  };
}

function toLogEntry(fields: readonly string[]): LogEntry {
  const json = fields[fields.indexOf('json') + 1] ?? 'null';
  return { event: JSON.parse(json) as RunEvent, json };
}

/** Entries per XRANGE page and per stream in one XREAD. */
const PAGE = 1000;
/** Pause before reading again after Redis failed. */
const RETRY_MS = 250;

class ReplicaLog extends RunLog {
  readonly meta: RunMeta;
  private readonly replicas: RedisReplicas;
  /** Fetches of older or newer entries run one after another. */
  loading: Promise<void> = Promise.resolve();

  constructor(replicas: RedisReplicas, meta: RunMeta, base: number) {
    super(meta.runId, replicas);
    this.replicas = replicas;
    this.meta = meta;
    this.base = base;
  }

  /** Appends entries read from the stream, skipping any already held (a re-read after a retry). */
  receive(stream: readonly StreamEntry[]): void {
    for (const [id, fields] of stream) {
      if (this.state !== 'running') return;
      const seq = seqOfEntryId(id);
      if (seq < this.nextSeq) continue;
      // Ids are seq + 1 without gaps: anything else is not this run's log.
      if (seq > this.nextSeq) return;
      this.push(toLogEntry(fields));
    }
  }

  /** Prepends older entries, so a reader can start before the replica's first entry. */
  prepend(stream: readonly StreamEntry[]): void {
    const older = stream
      .filter(([id]) => seqOfEntryId(id) < this.base)
      .map(([, fields]) => toLogEntry(fields));
    if (older.length === 0 || older[older.length - 1]!.event.seq !== this.base - 1) return;
    this.entries.unshift(...older);
    this.base -= older.length;
    for (const entry of older) this.bytes += entry.json.length;
  }

  protected override readersChanged(): void {
    this.replicas.readersChanged(this);
  }
}

export interface RedisReplicasOptions {
  commands: Redis;
  blocking: Redis;
  keys: RedisKeys;
  instanceId: string;
  observer: HubObserver;
  readerSlots: ReaderSlots;
  /** See MemoryRunHubOptions.writeIntervalMs: readers here are written as the owner's readers are. */
  writeIntervalMs: number;
  /** Expiry of a reader count, in case this instance dies before it clears it. */
  readersTtlMs: number;
  /** Readers here are ended (their clients reconnect, maybe elsewhere) once Redis has been away this long. */
  giveUpMs: number;
  logger: Logger | undefined;
}

export class RedisReplicas implements RunLogHost {
  readonly observer: HubObserver;
  readonly readerSlots: ReaderSlots;
  readonly writeIntervalMs: number;
  private readonly options: RedisReplicasOptions;
  private readonly replicas = new Map<string, ReplicaLog>();
  /** Replicas of running runs, by stream key: what the blocking read follows. */
  private readonly following = new Map<string, ReplicaLog>();
  private closed = false;
  private wake: (() => void) | undefined;
  private blockingId: number | undefined;
  /** Increases with every XREAD sent; the one in flight, if `reading`. */
  private readGeneration = 0;
  private reading = false;
  private unblockGeneration = -1;
  private unreachableSince: number | undefined;

  constructor(options: RedisReplicasOptions) {
    this.options = options;
    this.observer = options.observer;
    this.readerSlots = options.readerSlots;
    this.writeIntervalMs = options.writeIntervalMs;
    // A reconnected connection is a new client with a new id.
    options.blocking.on('close', () => {
      this.blockingId = undefined;
    });
    void this.follow();
  }

  /** Attaches a reader of a run another instance owns, from `afterSeq`. */
  async subscribe(meta: RunMeta, afterSeq: number, sink: RunSink): Promise<RunSubscription> {
    const existing = this.replicas.get(meta.runId);
    const refusal = this.readerSlots.refusal(existing?.readers.size ?? 0);
    if (refusal !== undefined) throw refusal;
    this.readerSlots.take();
    let cursor: number;
    let replica: ReplicaLog;
    try {
      const known = Math.max(meta.lastSeq, (existing?.nextSeq ?? 0) - 1);
      // While the run goes on, the client may have seen more than Redis holds yet (the owner serves its own readers
      // before its batch lands): its cursor stands, and the reader waits for what follows it. Clamping it to what
      // Redis holds would send the client events it already has. A finished run's last seq is exact: clamp to it.
      cursor =
        meta.state === 'running'
          ? Math.max(0, Math.floor(afterSeq) + 1)
          : Math.max(0, Math.min(Math.floor(afterSeq) + 1, known + 1));
      replica = existing ?? this.newReplica(meta, cursor);
      const target = replica;
      const loaded =
        cursor < target.base ? target.loading.then(() => this.fillBackward(target, cursor)) : target.loading;
      // The next fetch waits for this one, but does not fail with it.
      target.loading = loaded.catch(() => undefined);
      await loaded;
    } catch (error) {
      this.readerSlots.release();
      const current = this.replicas.get(meta.runId);
      if (current !== undefined && current.readers.size === 0) this.drop(current);
      throw new RivuletError('HUB_UNAVAILABLE', { cause: error, detail: (error as Error).message });
    }
    if (this.closed) {
      this.readerSlots.release();
      throw new RivuletError('SHUTTING_DOWN');
    }
    const current = this.replicas.get(meta.runId);
    if (current !== replica) {
      // The replica's last reader left while this one waited for older entries: use the newer replica, or revive it.
      if (current !== undefined) {
        this.readerSlots.release();
        return this.subscribe(meta, afterSeq, sink);
      }
      this.adopt(replica);
    }
    const reader = new LogReader(replica, cursor, sink);
    this.observer.readerAttached(afterSeq >= 0);
    replica.attach(reader);
    return reader;
  }

  stats(): { readers: number; bytes: number } {
    let readers = 0;
    let bytes = 0;
    for (const replica of this.replicas.values()) {
      readers += replica.readers.size;
      bytes += replica.bytes;
    }
    return { readers, bytes };
  }

  /** Owner instances of the running runs read here, by run id (the liveness check watches them). */
  followedOwners(): Map<string, string> {
    const owners = new Map<string, string>();
    for (const replica of this.following.values()) owners.set(replica.runId, replica.meta.owner);
    return owners;
  }

  /** The run is gone from Redis (expired or lost): its readers here are ended instead of waiting for ever. */
  forget(runId: string): void {
    const replica = this.replicas.get(runId);
    if (replica === undefined) return;
    this.drop(replica);
    // What it received and has not written yet (a write interval's wait) goes out first.
    replica.deliverAll();
    replica.endReaders();
  }

  close(): void {
    this.closed = true;
    for (const replica of [...this.replicas.values()]) this.forget(replica.runId);
    this.wake?.();
  }

  /** @internal A replica's readers changed: publish this instance's count, and tell the owner when none is left. */
  readersChanged(replica: ReplicaLog): void {
    const { commands, keys, instanceId, readersTtlMs } = this.options;
    const count = replica.readers.size;
    if (count === 0) this.drop(replica);
    if (commands.status !== 'ready' || this.closed) return;
    const key = keys.readers(replica.runId);
    const pipeline = commands.pipeline();
    if (count > 0) pipeline.hset(key, instanceId, String(count)).pexpire(key, readersTtlMs);
    else pipeline.hdel(key, instanceId);
    // The owner starts its grace window again: it counts from the moment the last reader anywhere left.
    if (count === 0 && replica.state === 'running') {
      pipeline.publish(keys.control(replica.meta.owner), `idle ${replica.runId}`);
    }
    pipeline.exec().catch(() => {
      // The count expires with the run; the owner's next grace check reads it again.
    });
  }

  private newReplica(meta: RunMeta, base: number): ReplicaLog {
    const replica = new ReplicaLog(this, meta, base);
    this.replicas.set(meta.runId, replica);
    replica.loading = this.fillForward(replica).then(() => {
      if (replica.state === 'running' && this.replicas.get(replica.runId) === replica) {
        this.following.set(this.options.keys.log(replica.runId), replica);
        this.wakeReader();
      }
    });
    return replica;
  }

  /** Makes a dropped replica current again (and followed, while its run goes on). */
  private adopt(replica: ReplicaLog): void {
    this.replicas.set(replica.runId, replica);
    if (replica.state !== 'running') return;
    this.following.set(this.options.keys.log(replica.runId), replica);
    this.wakeReader();
  }

  private drop(replica: ReplicaLog): void {
    if (this.replicas.get(replica.runId) === replica) this.replicas.delete(replica.runId);
    this.following.delete(this.options.keys.log(replica.runId));
  }

  /** Reads what the stream already holds from the replica's end, page by page (the backlog of a new reader). */
  private async fillForward(replica: ReplicaLog): Promise<void> {
    const key = this.options.keys.log(replica.runId);
    for (;;) {
      const page = (await this.options.commands.xrange(
        key,
        entryId(replica.nextSeq),
        '+',
        'COUNT',
        PAGE,
      )) as StreamEntry[];
      replica.receive(page);
      if (page.length < PAGE || replica.state !== 'running') return;
    }
  }

  private async fillBackward(replica: ReplicaLog, from: number): Promise<void> {
    if (from >= replica.base) return;
    const key = this.options.keys.log(replica.runId);
    const page = (await this.options.commands.xrange(
      key,
      entryId(from),
      entryId(replica.base - 1),
    )) as StreamEntry[];
    replica.prepend(page);
  }

  /** The blocking read loop: one XREAD BLOCK over every followed stream, each from its replica's end. */
  private async follow(): Promise<void> {
    const { blocking } = this.options;
    while (!this.closed) {
      if (this.following.size === 0) {
        await new Promise<void>((resolve) => (this.wake = resolve));
        this.wake = undefined;
        continue;
      }
      const followed = [...this.following.entries()];
      try {
        if (blocking.status !== 'ready') throw new Error('the reader connection is not ready');
        this.blockingId ??= Number(await blocking.client('ID'));
        this.readGeneration += 1;
        this.reading = true;
        const reply = (await blocking.call(
          'XREAD',
          'COUNT',
          String(PAGE),
          'BLOCK',
          String(READ_BLOCK_MS),
          'STREAMS',
          ...followed.map(([key]) => key),
          ...followed.map(([, replica]) => entryId(replica.nextSeq - 1)),
        )) as [key: string, entries: StreamEntry[]][] | null;
        this.reading = false;
        for (const [key, entries] of reply ?? []) {
          const replica = this.following.get(key);
          if (replica === undefined) continue;
          replica.receive(entries);
          if (replica.state !== 'running') this.following.delete(key);
        }
      } catch {
        this.reading = false;
        if (this.closed) return;
        // checkReachable ends the readers if this lasts.
        await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
      }
    }
  }

  /**
   * Called on every liveness tick: readers never wait for ever. Once Redis has been unreachable for `giveUpMs`, the
   * readers of other instances' runs are ended, and their clients reconnect and resume from their cursor (here or
   * on another instance).
   */
  checkReachable(): void {
    const { commands, blocking, giveUpMs, logger } = this.options;
    if (commands.status === 'ready' && blocking.status === 'ready') {
      this.unreachableSince = undefined;
      return;
    }
    const now = performance.now();
    this.unreachableSince ??= now;
    if (now - this.unreachableSince < giveUpMs || this.replicas.size === 0) return;
    logger?.warn(
      { readers: this.stats().readers },
      'run hub: Redis unreachable; ending the readers of runs other instances own',
    );
    for (const replica of [...this.replicas.values()]) this.forget(replica.runId);
  }

  /** A new stream to follow: restart the blocked read so it is included. */
  private wakeReader(): void {
    this.wake?.();
    if (!this.reading || this.unblockGeneration === this.readGeneration) return;
    const generation = this.readGeneration;
    this.unblockGeneration = generation;
    const attempt = (tries: number): void => {
      const id = this.blockingId;
      if (!this.reading || this.readGeneration !== generation || id === undefined) return;
      this.options.commands.client('UNBLOCK', id).then(
        (unblocked) => {
          // 0: the XREAD has not reached Redis yet; try again in a moment (READ_BLOCK_MS bounds the delay regardless).
          if (unblocked === 0 && tries < 20) setTimeout(() => attempt(tries + 1), 2);
        },
        () => undefined,
      );
    };
    attempt(0);
  }
}
