// Instance liveness for the Redis run hub: this instance's heartbeat, and the sweep that ends the runs of an instance
// whose heartbeat lapsed with a terminal RUN_OWNER_LOST error, exactly once across all instances.

import type { Redis } from 'ioredis';
import { RivuletError } from '../../core/errors.ts';
import type { Logger } from '../../core/logger.ts';
import type { RedisKeys } from './redis-keys.ts';

/**
 * Appends the terminal error to a run whose owner is dead, unless the run has ended already (another instance got
 * there first, or the owner's own terminal event landed): the state check and the append are one atomic step.
 * KEYS: run hash, stream, readers hash, the dead owner's run set. ARGV: owner id, run id, JSON after the seq,
 * retention ms. Returns the seq of the appended event, or -1.
 */
const END_LOST_RUN = `
if redis.call('HGET', KEYS[1], 'state') ~= 'running' then return -1 end
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then return -1 end
local last = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
local seq = 0
if #last > 0 then seq = tonumber(string.match(last[1][1], '%-(%d+)$')) end
local json = '{"type":"error","seq":' .. seq .. ARGV[3]
redis.call('XADD', KEYS[2], '0-' .. (seq + 1), 'seq', seq, 'json', json)
redis.call('HSET', KEYS[1], 'state', 'finished', 'lastSeq', seq)
redis.call('SREM', KEYS[4], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
redis.call('PEXPIRE', KEYS[3], ARGV[4])
return seq
`;

/** The encoded RUN_OWNER_LOST event after its seq, as encodeEvent writes it (type and seq first). */
function ownerLostTail(): string {
  const error = new RivuletError('RUN_OWNER_LOST');
  return `,${JSON.stringify({ code: error.code, message: error.message, retryable: error.retryable }).slice(1)}`;
}

export interface RedisLivenessOptions {
  commands: Redis;
  keys: RedisKeys;
  instanceId: string;
  /** How often this instance refreshes its heartbeat; other instances are checked twice as often. */
  heartbeatMs: number;
  /** How long a heartbeat lasts: an instance silent this long is dead. */
  heartbeatTtlMs: number;
  retentionMs: number;
  /** Running runs read here that other instances own (run id -> owner instance). */
  followed: () => Map<string, string>;
  /** A followed run is gone from Redis. */
  runGone: (runId: string) => void;
  /** This instance ended a dead owner's run. */
  runLost: (runId: string) => void;
  /** Called on every check, whether Redis answers or not. */
  tick: () => void;
  logger: Logger | undefined;
}

export class RedisLiveness {
  private readonly options: RedisLivenessOptions;
  private readonly tail = ownerLostTail();
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  /** performance.now() of the last heartbeat Redis confirmed. */
  private confirmedAt = -Infinity;
  private sweeping = false;

  constructor(options: RedisLivenessOptions) {
    this.options = options;
  }

  /** True while Redis answers this instance's heartbeats: a new run can be mirrored and followed elsewhere. */
  get alive(): boolean {
    return (
      this.options.commands.status === 'ready' &&
      performance.now() - this.confirmedAt < this.options.heartbeatTtlMs
    );
  }

  start(): void {
    this.heartbeatTimer = setInterval(() => void this.beat(), this.options.heartbeatMs);
    this.heartbeatTimer.unref();
    this.sweepTimer = setInterval(() => void this.sweep(), this.options.heartbeatMs / 2);
    this.sweepTimer.unref();
  }

  stop(): void {
    clearInterval(this.heartbeatTimer);
    clearInterval(this.sweepTimer);
  }

  /** Refreshes the heartbeat; resolves whether Redis confirmed it. */
  async beat(): Promise<boolean> {
    const { commands, keys, instanceId, heartbeatTtlMs } = this.options;
    if (commands.status !== 'ready') return false;
    try {
      await commands
        .multi()
        .set(keys.heartbeat(instanceId), String(Date.now()), 'PX', heartbeatTtlMs)
        .sadd(keys.instances(), instanceId)
        .exec();
      this.confirmedAt = performance.now();
      return true;
    } catch {
      return false;
    }
  }

  /** A clean exit: this instance's runs have ended, so nobody needs to take it for dead. */
  async leave(): Promise<void> {
    const { commands, keys, instanceId } = this.options;
    await commands.multi().del(keys.heartbeat(instanceId)).srem(keys.instances(), instanceId).exec();
  }

  /** Ends the runs of instances whose heartbeat lapsed, and ends readers here of runs Redis no longer has. */
  async sweep(): Promise<void> {
    this.options.tick();
    if (this.sweeping || this.options.commands.status !== 'ready') return;
    this.sweeping = true;
    try {
      await this.sweepFollowed();
      await this.sweepInstances();
    } catch (error) {
      this.options.logger?.debug?.(
        { error: error instanceof Error ? error.message : String(error) },
        'run hub: liveness sweep failed',
      );
    } finally {
      this.sweeping = false;
    }
  }

  private async sweepFollowed(): Promise<void> {
    const { commands, keys, runGone } = this.options;
    const followed = [...this.options.followed()];
    if (followed.length === 0) return;
    const pipeline = commands.pipeline();
    for (const [runId] of followed) pipeline.exists(keys.run(runId));
    const results = (await pipeline.exec()) ?? [];
    followed.forEach(([runId], index) => {
      const [error, exists] = results[index] ?? [null, 1];
      if (error === null && exists === 0) runGone(runId);
    });
  }

  private async sweepInstances(): Promise<void> {
    const { commands, keys, instanceId } = this.options;
    const followed = this.options.followed();
    const candidates = new Set(await commands.smembers(keys.instances()));
    for (const owner of followed.values()) candidates.add(owner);
    candidates.delete(instanceId);
    if (candidates.size === 0) return;
    const ids = [...candidates];
    const pipeline = commands.pipeline();
    for (const id of ids) pipeline.exists(keys.heartbeat(id));
    const results = (await pipeline.exec()) ?? [];
    const dead = ids.filter((_, index) => {
      const [error, exists] = results[index] ?? [null, 1];
      return error === null && exists === 0;
    });
    for (const owner of dead) {
      const runs = new Set(await commands.smembers(keys.ownedRuns(owner)));
      for (const [runId, runOwner] of followed) if (runOwner === owner) runs.add(runId);
      for (const runId of runs) await this.endLostRun(owner, runId);
      // Everything it owned has ended: forget it (it adds itself back with its next heartbeat, were it alive).
      await commands.multi().srem(keys.instances(), owner).del(keys.ownedRuns(owner)).exec();
    }
  }

  private async endLostRun(owner: string, runId: string): Promise<void> {
    const { commands, keys, retentionMs } = this.options;
    const seq = (await commands.eval(
      END_LOST_RUN,
      4,
      keys.run(runId),
      keys.log(runId),
      keys.readers(runId),
      keys.ownedRuns(owner),
      owner,
      runId,
      this.tail,
      String(retentionMs),
    )) as number;
    if (seq < 0) return;
    this.options.logger?.warn(
      { runId, owner, seq },
      'run hub: the instance running this answer stopped; ended it with RUN_OWNER_LOST',
    );
    this.options.runLost(runId);
  }
}
