// Redis run hub (REDIS_URL): runs are owned by the instance that generates them and served from its memory, mirrored
// to Redis Streams so any instance can resume, follow, count readers of and stop them. See docs/architecture.md.

import { randomBytes } from 'node:crypto';
import { RivuletError } from '../../core/errors.ts';
import type { Logger } from '../../core/logger.ts';
import { noopObserver } from '../../core/observer.ts';
import type {
  CreateRunOptions,
  RunHub,
  RunHubStats,
  RunInfo,
  RunProducer,
  RunSink,
  RunSubscription,
} from '../../core/run-hub.ts';
import { MemoryRunHub, type MemoryRunHubOptions } from '../memory/memory-run-hub.ts';
import { ReaderSlots } from '../memory/reader-slots.ts';
import { closeConnections, openConnections, whenReady, type RedisConnections } from './redis-connections.ts';
import { RedisKeys } from './redis-keys.ts';
import { RedisLiveness } from './redis-liveness.ts';
import { RedisMirror } from './redis-mirror.ts';
import { readRunMeta, RedisReplicas, type RunMeta } from './redis-replicas.ts';

export interface RedisRunHubOptions extends Omit<MemoryRunHubOptions, 'mirror' | 'readerSlots'> {
  /** redis://[user:password@]host:port[/db] */
  url: string;
  /** Prefix of every key and channel (default "rivulet"); instances that share runs share it. */
  keyPrefix?: string;
  /** This process's id among the instances (random by default). */
  instanceId?: string;
  /** How often the heartbeat is refreshed (default 1 s). */
  heartbeatMs?: number;
  /** How long an instance may be silent before its runs are ended with RUN_OWNER_LOST (default 3 s). */
  heartbeatTtlMs?: number;
  /**
   * Called on the one instance that ended a dead owner's run with RUN_OWNER_LOST, so the app can store the answer
   * as failed with its last checkpointed text.
   */
  onOwnerLost?: (runId: string) => void | Promise<void>;
  logger?: Logger;
}

const HEARTBEAT_MS = 1_000;
/**
 * How long a reader of a run this instance has not heard of waits for it to appear: its owner writes a new run to
 * Redis with its next batch, a moment after the client learnt the run id (and under load, later), so a resume that
 * lands here at once must not get 404. A run id that never appears is answered 404 after this long.
 */
const UNKNOWN_RUN_WAIT_MS = 1_000;
const UNKNOWN_RUN_POLL_MS = 20;
const HEARTBEAT_TTL_MS = 3_000;
/** How long open() waits for Redis before starting without it (new answers are refused until it answers). */
const OPEN_TIMEOUT_MS = 5_000;

export class RedisRunHub implements RunHub {
  readonly instanceId: string;
  private readonly options: RedisRunHubOptions;
  private readonly connections: RedisConnections;
  private readonly keys: RedisKeys;
  private readonly memory: MemoryRunHub;
  private readonly mirror: RedisMirror;
  private readonly replicas: RedisReplicas;
  private readonly liveness: RedisLiveness;
  private closed = false;

  /** Connects and waits (a few seconds at most) for Redis; without it the hub starts and refuses new answers. */
  static async open(options: RedisRunHubOptions): Promise<RedisRunHub> {
    const hub = new RedisRunHub(options);
    if (await whenReady(hub.connections.commands, OPEN_TIMEOUT_MS)) await hub.liveness.beat();
    else
      options.logger?.warn({}, 'run hub: Redis does not answer yet; new answers are refused until it does');
    return hub;
  }

  private constructor(options: RedisRunHubOptions) {
    this.options = options;
    this.instanceId = options.instanceId ?? randomBytes(8).toString('hex');
    this.keys = new RedisKeys(options.keyPrefix ?? 'rivulet');
    this.connections = openConnections(options.url, options.logger);
    const { commands, subscriber, blocking } = this.connections;
    const heartbeatMs = options.heartbeatMs ?? HEARTBEAT_MS;
    const heartbeatTtlMs = options.heartbeatTtlMs ?? HEARTBEAT_TTL_MS;
    const runningTtlMs = options.limits.maxDurationMs + options.retentionMs + heartbeatTtlMs;
    const readerSlots = new ReaderSlots(options.readers);
    this.mirror = new RedisMirror({
      commands,
      keys: this.keys,
      instanceId: this.instanceId,
      retentionMs: options.retentionMs,
      runningTtlMs,
      logger: options.logger,
    });
    this.memory = new MemoryRunHub({ ...options, readerSlots, mirror: this.mirror });
    this.replicas = new RedisReplicas({
      commands,
      blocking,
      keys: this.keys,
      instanceId: this.instanceId,
      observer: options.observer ?? noopObserver,
      readerSlots,
      writeIntervalMs: options.writeIntervalMs ?? 0,
      readersTtlMs: runningTtlMs,
      giveUpMs: heartbeatTtlMs,
      logger: options.logger,
    });
    this.liveness = new RedisLiveness({
      commands,
      keys: this.keys,
      instanceId: this.instanceId,
      heartbeatMs,
      heartbeatTtlMs,
      retentionMs: options.retentionMs,
      followed: () => this.replicas.followedOwners(),
      runGone: (runId) => this.replicas.forget(runId),
      runLost: (runId) => this.ownerLost(runId),
      tick: () => this.replicas.checkReachable(),
      logger: options.logger,
    });
    commands.on('ready', () => {
      if (this.closed) return;
      void this.liveness.beat();
      // What the last batches before the drop achieved is unknown (and a restarted Redis may hold nothing).
      this.mirror.resyncAll();
    });
    subscriber.on('message', (_channel: string, message: string) => this.control(message));
    subscriber.subscribe(this.keys.control(this.instanceId)).catch(() => undefined);
    this.liveness.start();
  }

  create(options: CreateRunOptions): RunProducer {
    if (this.closed) throw new RivuletError('SHUTTING_DOWN');
    // Without Redis no other instance could resume, stop or take over the run: refuse it rather than half-write it.
    if (!this.liveness.alive) throw new RivuletError('HUB_UNAVAILABLE');
    const run = this.memory.create(options);
    this.mirror.register(this.memory.owned(run.runId)!);
    return run;
  }

  /** The run's metadata in Redis, waiting up to UNKNOWN_RUN_WAIT_MS for a run its owner has not written yet. */
  private async findRun(runId: string): Promise<RunMeta | undefined> {
    const deadline = performance.now() + UNKNOWN_RUN_WAIT_MS;
    for (;;) {
      const meta = await this.redis(() => readRunMeta(this.connections.commands, this.keys, runId));
      if (meta !== undefined || this.closed || performance.now() >= deadline) return meta;
      await new Promise((resolve) => setTimeout(resolve, UNKNOWN_RUN_POLL_MS));
    }
  }

  async subscribe(runId: string, afterSeq: number, sink: RunSink): Promise<RunSubscription | undefined> {
    // Readers of a run this instance owns are served from memory, as by the memory hub: no Redis on their path.
    if (this.memory.has(runId)) return this.memory.subscribe(runId, afterSeq, sink);
    const meta = await this.findRun(runId);
    if (meta === undefined) return undefined;
    return this.replicas.subscribe(meta, afterSeq, sink);
  }

  async info(runId: string): Promise<RunInfo | undefined> {
    const local = await this.memory.info(runId);
    if (local !== undefined) {
      try {
        return { ...local, readers: local.readers + (await this.readersOf(runId, this.instanceId)) };
      } catch {
        // Redis is away: readers elsewhere cannot be reading it either.
        return local;
      }
    }
    // A resume's access check comes here first: a run its owner has not written to Redis yet is waited for, as
    // subscribe does, or a reconnect landing here at once would get 404 for a run that exists.
    const meta = await this.findRun(runId);
    if (meta === undefined) return undefined;
    const readers = await this.redis(() => this.readersOf(runId));
    return {
      runId,
      ownerId: meta.ownerId,
      state: meta.state,
      lastSeq: meta.lastSeq,
      readers,
      createdAt: meta.createdAt,
    };
  }

  async stop(runId: string): Promise<boolean> {
    if (this.memory.has(runId)) return this.memory.stop(runId);
    const { commands } = this.connections;
    const [owner, state] = await this.redis(() => commands.hmget(this.keys.run(runId), 'owner', 'state'));
    if (owner === null || owner === undefined || state !== 'running') return false;
    // The owner aborts its producer (and the provider request) when it hears this.
    const listeners = await this.redis(() => commands.publish(this.keys.control(owner), `stop ${runId}`));
    return listeners > 0;
  }

  stats(): RunHubStats {
    const local = this.memory.stats();
    const replicas = this.replicas.stats();
    return { ...local, readers: local.readers + replicas.readers, bytes: local.bytes + replicas.bytes };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.liveness.stop();
    // Running runs end with SHUTTING_DOWN; the batch carrying it goes out before the connection quits.
    this.memory.close();
    this.mirror.flushNow();
    this.replicas.close();
    this.liveness
      .leave()
      .catch(() => undefined)
      .finally(() => closeConnections(this.connections));
  }

  /** Readers of the run in Redis, on every instance but `except`. */
  private async readersOf(runId: string, except?: string): Promise<number> {
    const counts = await this.connections.commands.hgetall(this.keys.readers(runId));
    let readers = 0;
    for (const [id, count] of Object.entries(counts)) if (id !== except) readers += Number(count) || 0;
    return readers;
  }

  /** A message on this instance's control channel. */
  private control(message: string): void {
    const space = message.indexOf(' ');
    const verb = message.slice(0, space);
    const runId = message.slice(space + 1);
    if (verb === 'stop') void this.memory.stop(runId);
    else if (verb === 'idle') this.memory.restartGrace(runId);
  }

  private ownerLost(runId: string): void {
    const hook = this.options.onOwnerLost;
    if (hook === undefined) return;
    Promise.resolve()
      .then(() => hook(runId))
      .catch((error: unknown) =>
        this.options.logger?.error(
          { runId, error: error instanceof Error ? error.message : String(error) },
          'run hub: storing the answer of a run whose owner was lost failed',
        ),
      );
  }

  /** Runs a Redis call; a failure is HUB_UNAVAILABLE (a coded, retryable 503), never a raw client error. */
  private async redis<T>(call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      throw new RivuletError('HUB_UNAVAILABLE', { cause: error, detail: (error as Error).message });
    }
  }
}
