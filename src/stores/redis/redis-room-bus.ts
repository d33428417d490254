// The room bus across instances (REDIS_URL): notices ride a pub/sub channel per room, presence is a sorted set per
// room whose entries each instance refreshes for its own connections (an instance that dies drops out of presence
// within PRESENCE_TTL_MS). This instance's listeners hear its own notices at once, not after the round trip.

import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { RivuletError } from '../../core/errors.ts';
import type { Logger } from '../../core/logger.ts';
import type { RoomBus, RoomListener, RoomNotice } from '../../core/room-bus.ts';
import { RoomListeners } from '../memory/memory-room-bus.ts';

/** How long a presence entry lasts without a refresh. */
const PRESENCE_TTL_MS = 30_000;
/** How often an instance refreshes its connections' presence entries. */
const PRESENCE_REFRESH_MS = 10_000;

export interface RedisRoomBusOptions {
  url: string;
  keyPrefix: string;
  logger?: Logger | undefined;
}

interface Envelope {
  from: string;
  notice: RoomNotice;
}

export class RedisRoomBus implements RoomBus {
  private readonly commands: Redis;
  private readonly subscriber: Redis;
  private readonly prefix: string;
  private readonly instanceId = randomBytes(8).toString('hex');
  private readonly listeners = new RoomListeners();
  /** This instance's presence entries: room id -> entry ("<connectionId> <memberId>"). */
  private readonly entries = new Map<string, Set<string>>();
  private readonly refresher: NodeJS.Timeout;
  private readonly logger: Logger | undefined;

  constructor(options: RedisRoomBusOptions) {
    const common = {
      connectTimeout: 2_000,
      retryStrategy: (attempt: number) => Math.min(50 * attempt, 1_000),
    };
    this.commands = new Redis(options.url, {
      ...common,
      connectionName: 'rivulet-rooms',
      enableOfflineQueue: false,
      commandTimeout: 3_000,
      maxRetriesPerRequest: 1,
    });
    this.subscriber = new Redis(options.url, {
      ...common,
      connectionName: 'rivulet-rooms-notices',
      maxRetriesPerRequest: null,
    });
    this.prefix = options.keyPrefix;
    this.logger = options.logger;
    for (const connection of [this.commands, this.subscriber]) {
      connection.on('error', (error: Error) =>
        this.logger?.warn({ error: error.message }, 'rooms: Redis connection failed; reconnecting'),
      );
    }
    this.subscriber.on('message', (_channel: string, message: string) => this.received(message));
    this.refresher = setInterval(() => {
      this.refresh().catch((error: unknown) =>
        this.logger?.warn({ err: error }, 'rooms: refreshing presence in Redis failed'),
      );
    }, PRESENCE_REFRESH_MS);
    this.refresher.unref();
  }

  /** Resolves once both connections are ready, so the first notices are not lost to a connection still opening. */
  async ready(): Promise<void> {
    await Promise.all([this.commands.ping(), this.subscriber.ping()]);
  }

  private channel(roomId: string): string {
    return `${this.prefix}:room:${roomId}:notices`;
  }

  private presenceKey(roomId: string): string {
    return `${this.prefix}:room:${roomId}:presence`;
  }

  private received(message: string): void {
    let envelope: Envelope;
    try {
      envelope = JSON.parse(message) as Envelope;
    } catch {
      return;
    }
    // This instance delivered its own notices when it published them.
    if (envelope.from === this.instanceId) return;
    this.listeners.deliver(envelope.notice);
  }

  async publish(notice: RoomNotice): Promise<void> {
    this.listeners.deliver(notice);
    const envelope: Envelope = { from: this.instanceId, notice };
    try {
      await this.commands.publish(this.channel(notice.roomId), JSON.stringify(envelope));
    } catch (error) {
      throw new RivuletError('HUB_UNAVAILABLE', {
        message:
          'Other instances could not be told about this room change: Redis is unreachable; retry shortly.',
        detail: error instanceof Error ? error.message : String(error),
      });
    }
  }

  listen(roomId: string, listener: RoomListener): () => void {
    const channel = this.channel(roomId);
    return this.listeners.add(
      roomId,
      listener,
      () => {
        this.subscriber.subscribe(channel).catch((error: unknown) => {
          this.logger?.warn({ err: error, roomId }, 'rooms: subscribing to a room in Redis failed');
        });
      },
      () => {
        this.subscriber.unsubscribe(channel).catch(() => {});
      },
    );
  }

  async enter(roomId: string, memberId: string, connectionId: string): Promise<void> {
    const entry = `${connectionId} ${memberId}`;
    let entries = this.entries.get(roomId);
    if (entries === undefined) {
      entries = new Set();
      this.entries.set(roomId, entries);
    }
    entries.add(entry);
    await this.commands
      .multi()
      .zadd(this.presenceKey(roomId), Date.now() + PRESENCE_TTL_MS, entry)
      .pexpire(this.presenceKey(roomId), PRESENCE_TTL_MS)
      .exec()
      .catch((error: unknown) => this.logger?.warn({ err: error, roomId }, 'rooms: presence not saved'));
    await this.publish({ type: 'presence', roomId }).catch(() => {});
  }

  async exit(roomId: string, memberId: string, connectionId: string): Promise<void> {
    const entry = `${connectionId} ${memberId}`;
    const entries = this.entries.get(roomId);
    if (entries === undefined || !entries.delete(entry)) return;
    if (entries.size === 0) this.entries.delete(roomId);
    await this.commands.zrem(this.presenceKey(roomId), entry).catch(() => {});
    await this.publish({ type: 'presence', roomId }).catch(() => {});
  }

  async present(roomId: string): Promise<Set<string>> {
    const key = this.presenceKey(roomId);
    const now = Date.now();
    let live: string[];
    try {
      await this.commands.zremrangebyscore(key, '-inf', now);
      live = await this.commands.zrangebyscore(key, now, '+inf');
    } catch {
      // Without Redis, this instance's own connections are what it can vouch for.
      live = [...(this.entries.get(roomId) ?? [])];
    }
    return new Set(live.map((entry) => entry.slice(entry.indexOf(' ') + 1)));
  }

  /** Extends this instance's presence entries; the sorted set itself lives as long as its newest entry. */
  private async refresh(): Promise<void> {
    if (this.entries.size === 0) return;
    const expiry = Date.now() + PRESENCE_TTL_MS;
    const pipeline = this.commands.pipeline();
    for (const [roomId, entries] of this.entries) {
      for (const entry of entries) pipeline.zadd(this.presenceKey(roomId), expiry, entry);
      pipeline.pexpire(this.presenceKey(roomId), PRESENCE_TTL_MS);
    }
    await pipeline.exec();
  }

  async close(): Promise<void> {
    clearInterval(this.refresher);
    const removals = [...this.entries].flatMap(([roomId, entries]) =>
      [...entries].map((entry) => this.commands.zrem(this.presenceKey(roomId), entry).catch(() => 0)),
    );
    await Promise.all(removals);
    this.entries.clear();
    this.listeners.clear();
    for (const connection of [this.commands, this.subscriber]) {
      // QUIT waits for a connection to come back: one that is down (Redis unreachable) is simply dropped.
      if (connection.status === 'ready') await connection.quit().catch(() => connection.disconnect());
      else connection.disconnect();
    }
  }
}
