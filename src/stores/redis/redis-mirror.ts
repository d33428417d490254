// The owner side of the Redis run hub: every event of a run this instance owns goes to the run's Redis Stream, in one
// pipelined batch per event-loop turn, with the run's metadata and this instance's reader count beside it.

import type { Redis } from 'ioredis';
import type { ChainableCommander } from 'ioredis';
import type { Logger } from '../../core/logger.ts';
import type { OwnedRun, RunMirror } from '../memory/memory-run-hub.ts';
import { createHash } from 'node:crypto';
import { seqOfEntryId, type RedisKeys } from './redis-keys.ts';

/**
 * Appends the events of several runs in one call. KEYS: the runs' streams. ARGV, per stream: the number of events,
 * then seq and JSON of each. An id at or below the stream's top (the run was ended elsewhere, or a retry) fails that
 * stream's remaining events only. Returns 1 per stream whose events all went in, else 0.
 */
export const APPEND_EVENTS = `
local argi = 1
local result = {}
for k = 1, #KEYS do
  local count = tonumber(ARGV[argi])
  argi = argi + 1
  local ok = 1
  for _ = 1, count do
    if ok == 1 then
      local seq = ARGV[argi]
      local reply = redis.pcall('XADD', KEYS[k], '0-' .. (tonumber(seq) + 1), 'seq', seq, 'json', ARGV[argi + 1])
      if type(reply) == 'table' and reply.err then ok = 0 end
    end
    argi = argi + 2
  end
  result[k] = ok
end
return result
`;

/** What Redis holds of one run, as far as this instance knows. */
interface Mirrored {
  readonly run: OwnedRun;
  /** Entries [0, sent) were sent to the stream (or are in flight). */
  sent: number;
  /** The metadata hash and the owned-runs entry were sent. */
  registered: boolean;
  /** The finished state and the retention expiry were sent. */
  finishWritten: boolean;
  readersDirty: boolean;
  /** When the run finished here (performance.now()), for the retention left. */
  finishedAt: number | undefined;
  /** A batch failed, or the connection came back: read the stream's tail before writing more. */
  resync: boolean;
  resyncing: boolean;
}

export interface RedisMirrorOptions {
  commands: Redis;
  keys: RedisKeys;
  instanceId: string;
  /** How long a finished run stays readable (RUN_RETENTION_MS). */
  retentionMs: number;
  /** Expiry of a running run's keys, in case nobody is left to end it: its longest duration plus the retention. */
  runningTtlMs: number;
  logger: Logger | undefined;
}

export class RedisMirror implements RunMirror {
  private readonly options: RedisMirrorOptions;
  private readonly runs = new Map<string, Mirrored>();
  private readonly dirty = new Set<Mirrored>();
  private flushScheduled = false;
  private readonly appendSha = createHash('sha1').update(APPEND_EVENTS).digest('hex');
  private scriptLoaded = false;

  constructor(options: RedisMirrorOptions) {
    this.options = options;
  }

  /** Starts mirroring a run this instance just created (its metadata goes out with the next batch). */
  register(run: OwnedRun): void {
    const state: Mirrored = {
      run,
      sent: 0,
      registered: false,
      finishWritten: false,
      readersDirty: false,
      finishedAt: undefined,
      resync: false,
      resyncing: false,
    };
    this.runs.set(run.runId, state);
    this.markDirty(state);
  }

  appended(run: OwnedRun): void {
    const state = this.runs.get(run.runId);
    if (state === undefined) return;
    if (run.state === 'finished') state.finishedAt ??= performance.now();
    this.markDirty(state);
  }

  readersChanged(run: OwnedRun): void {
    const state = this.runs.get(run.runId);
    if (state === undefined) return;
    state.readersDirty = true;
    this.markDirty(state);
  }

  /** Readers of the run on other instances that are alive (a dead instance's count is ignored). */
  async readersElsewhere(runId: string): Promise<boolean> {
    const { commands, keys, instanceId } = this.options;
    const counts = await commands.hgetall(keys.readers(runId));
    const others = Object.entries(counts).filter(([id, count]) => id !== instanceId && Number(count) > 0);
    if (others.length === 0) return false;
    const pipeline = commands.pipeline();
    for (const [id] of others) pipeline.exists(keys.heartbeat(id));
    const results = (await pipeline.exec()) ?? [];
    return results.some(([error, exists]) => error === null && exists === 1);
  }

  /** After a reconnect nothing is known about what the last batches achieved: re-read every run's tail. */
  resyncAll(): void {
    this.scriptLoaded = false;
    for (const state of this.runs.values()) {
      state.resync = true;
      this.markDirty(state);
    }
  }

  /** Sends what is pending now (at close, before the connection quits). */
  flushNow(): void {
    this.flush();
  }

  /** Runs whose mirror is not complete in Redis yet. */
  get pending(): number {
    return this.runs.size;
  }

  private markDirty(state: Mirrored): void {
    this.dirty.add(state);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // Everything appended during this turn of the event loop (many tokens of many runs) goes in one pipeline.
    setImmediate(this.flush);
  }

  private readonly flush = (): void => {
    this.flushScheduled = false;
    if (this.dirty.size === 0) return;
    const states = [...this.dirty];
    this.dirty.clear();
    if (this.options.commands.status !== 'ready') {
      // Nothing can be sent: once the connection is ready again, resyncAll picks every run up where Redis left it.
      for (const state of states) state.resync = true;
      return;
    }
    const writing = states.filter((state) => {
      if (state.resync) void this.resync(state);
      return !state.resync;
    });
    if (writing.length === 0) return;
    const pipeline = this.options.commands.pipeline();
    // Registrations first, then every new event of every run in one script call, then what needs the streams to
    // exist (expiries) and the rare rest (reader counts, finishes). A command per token would cost the owner far
    // more CPU than the token itself; one call per turn costs it once.
    for (const state of writing) this.registerRun(pipeline, state);
    const appended = this.appendEvents(pipeline, writing);
    const scriptIndex = appended.length > 0 ? pipeline.length - 1 : -1;
    const spans = writing.map((state) => {
      const first = pipeline.length;
      this.settle(pipeline, state);
      return { state, first, end: pipeline.length };
    });
    pipeline.exec().then(
      (results) => {
        const failedRuns = new Set<Mirrored>();
        const [scriptError, ok] = results?.[scriptIndex] ?? [null, []];
        if (scriptIndex >= 0) this.scriptLoaded = scriptError === null;
        appended.forEach((state, index) => {
          if (scriptError !== null || (ok as number[])[index] !== 1) failedRuns.add(state);
        });
        for (const { state, first, end } of spans) {
          const failed = (results ?? []).slice(first, end).find(([error]) => error !== null);
          if (failed !== undefined || failedRuns.has(state)) this.failed(state, failed?.[0] ?? scriptError);
          else if (state.finishWritten && state.sent === state.run.entries.length) this.done(state);
        }
      },
      (error: unknown) => {
        for (const state of writing) this.failed(state, error);
      },
    );
  };

  private registerRun(pipeline: ChainableCommander, state: Mirrored): void {
    if (state.registered) return;
    const { keys, instanceId } = this.options;
    const run = state.run;
    pipeline.hset(keys.run(run.runId), {
      owner: instanceId,
      ownerId: JSON.stringify(run.ownerId),
      state: 'running',
      lastSeq: String(state.sent - 1),
      createdAt: String(run.createdAt),
    });
    pipeline.sadd(keys.ownedRuns(instanceId), run.runId);
  }

  /** Queues one APPEND_EVENTS call for the new events of every run; returns the runs it covers, in its key order. */
  private appendEvents(pipeline: ChainableCommander, states: readonly Mirrored[]): Mirrored[] {
    const covered: Mirrored[] = [];
    const logKeys: string[] = [];
    const args: string[] = [];
    for (const state of states) {
      const entries = state.run.entries;
      const end = entries.length;
      if (end <= state.sent) continue;
      covered.push(state);
      logKeys.push(this.options.keys.log(state.run.runId));
      args.push(String(end - state.sent));
      for (let seq = state.sent; seq < end; seq += 1) args.push(String(seq), entries[seq]!.json);
      state.sent = end;
    }
    if (covered.length === 0) return covered;
    // Loaded in the same pipeline, ahead of its first use (and again after a reconnect: Redis may have restarted).
    if (!this.scriptLoaded) pipeline.script('LOAD', APPEND_EVENTS);
    pipeline.evalsha(this.appendSha, logKeys.length, ...logKeys, ...args);
    return covered;
  }

  /** After the events: first expiries, this instance's reader count, the finish and the retention expiry. */
  private settle(pipeline: ChainableCommander, state: Mirrored): void {
    const { keys, instanceId, runningTtlMs } = this.options;
    const run = state.run;
    const runKey = keys.run(run.runId);
    const logKey = keys.log(run.runId);
    if (!state.registered) {
      state.registered = true;
      pipeline.pexpire(runKey, runningTtlMs);
      pipeline.pexpire(logKey, runningTtlMs);
    }
    if (state.readersDirty) {
      state.readersDirty = false;
      const count = run.state === 'running' ? run.readers.size : 0;
      if (count > 0) {
        pipeline.hset(keys.readers(run.runId), instanceId, String(count));
        pipeline.pexpire(keys.readers(run.runId), runningTtlMs);
      } else {
        pipeline.hdel(keys.readers(run.runId), instanceId);
      }
    }
    if (run.state === 'finished' && !state.finishWritten && state.sent === run.entries.length) {
      state.finishWritten = true;
      pipeline.hset(runKey, 'state', 'finished', 'lastSeq', String(state.sent - 1));
      pipeline.srem(keys.ownedRuns(instanceId), run.runId);
      // Redis forgets the run when this instance does: the retention counts from the terminal event.
      const left = Math.max(1, Math.round(this.retentionLeft(state)));
      for (const key of [runKey, logKey, keys.readers(run.runId)]) pipeline.pexpire(key, left);
    }
  }

  private retentionLeft(state: Mirrored): number {
    const finishedAt = state.finishedAt ?? performance.now();
    return this.options.retentionMs - (performance.now() - finishedAt);
  }

  private failed(state: Mirrored, error: unknown): void {
    if (!this.runs.has(state.run.runId)) return;
    this.options.logger?.debug?.(
      { runId: state.run.runId, error: error instanceof Error ? error.message : String(error) },
      'run hub: a batch to Redis failed; re-reading the stream tail',
    );
    state.resync = true;
    // Retry now if the connection is up (a refused XADD); else the reconnect's resyncAll does.
    if (this.options.commands.status === 'ready') this.markDirty(state);
  }

  private done(state: Mirrored): void {
    if (!this.dirty.has(state) && !state.resync) this.runs.delete(state.run.runId);
  }

  /**
   * Finds where the stream stands (a batch may have landed in part, or Redis restarted empty) and writes on from
   * there: the full log is in memory, so whatever Redis lost is written again.
   */
  private async resync(state: Mirrored): Promise<void> {
    if (state.resyncing) return;
    state.resyncing = true;
    const { commands, keys } = this.options;
    const run = state.run;
    try {
      if (run.state === 'finished' && this.retentionLeft(state) <= 0) {
        this.runs.delete(run.runId);
        return;
      }
      const [tail, exists] = await Promise.all([
        commands.xrevrange(keys.log(run.runId), '+', '-', 'COUNT', 1),
        commands.exists(keys.run(run.runId)),
      ]);
      const last = tail[0];
      const lastSeq = last === undefined ? -1 : seqOfEntryId(last[0]);
      const json = last === undefined ? undefined : last[1][last[1].indexOf('json') + 1];
      if (last !== undefined && run.entries[lastSeq]?.json !== json) {
        // Another instance took this one for dead and ended the run there (RUN_OWNER_LOST): readers elsewhere have
        // their terminal event; this instance's own readers keep theirs from memory.
        this.options.logger?.warn(
          { runId: run.runId },
          'run hub: another instance ended this run while Redis could not hear from this one; its readers here continue',
        );
        this.runs.delete(run.runId);
        return;
      }
      state.sent = lastSeq + 1;
      state.registered = exists === 1;
      state.finishWritten = false;
      state.readersDirty = true;
      state.resync = false;
      this.markDirty(state);
    } catch {
      // Still unreachable: the next reconnect resyncs again.
    } finally {
      state.resyncing = false;
    }
  }
}
