// The Redis hub's three connections: commands and pipelines, pub/sub, and blocking stream reads.

import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from '../../core/logger.ts';

export interface RedisConnections {
  /** Commands and pipelines (XADD batches, metadata, heartbeats). Fails fast while disconnected. */
  readonly commands: Redis;
  /** Subscribed to this instance's control channel; ioredis subscribes again after a reconnect. */
  readonly subscriber: Redis;
  /** XREAD BLOCK for every run this instance follows (one blocked command at a time). */
  readonly blocking: Redis;
}

/** Reconnect quickly, and at least this often; ioredis keeps trying for ever. */
const RECONNECT_MAX_MS = 1_000;

/** A command with no reply this long fails (and the hub treats Redis as away). */
const COMMAND_TIMEOUT_MS = 3_000;

/** How long one XREAD BLOCK waits at most (a missed wake-up costs at most this much delay). */
export const READ_BLOCK_MS = 2_000;

export function openConnections(url: string, logger: Logger | undefined): RedisConnections {
  const common: RedisOptions = {
    connectTimeout: 2_000,
    retryStrategy: (attempt) => Math.min(50 * attempt, RECONNECT_MAX_MS),
    // A command sent before a drop is not sent again after the reconnect: the hub re-reads what Redis holds instead.
    autoResendUnfulfilledCommands: false,
    // And it fails after the first failed reconnect rather than waiting for Redis to come back.
    maxRetriesPerRequest: 1,
  };
  // Commands fail at once while Redis is away: a token must never wait in a queue for a reconnect. And a Redis that
  // stops answering without closing the connection (a partition) fails them after a while instead of holding a
  // resume or a stop for ever.
  const commands = new Redis(url, {
    ...common,
    enableOfflineQueue: false,
    commandTimeout: COMMAND_TIMEOUT_MS,
    connectionName: 'rivulet-hub',
  });
  const subscriber = new Redis(url, {
    ...common,
    maxRetriesPerRequest: null,
    connectionName: 'rivulet-hub-control',
  });
  const blocking = new Redis(url, {
    ...common,
    enableOfflineQueue: false,
    // Its reads block for up to READ_BLOCK_MS by design.
    commandTimeout: READ_BLOCK_MS + COMMAND_TIMEOUT_MS,
    connectionName: 'rivulet-hub-reader',
  });
  for (const [name, connection] of [
    ['commands', commands],
    ['control', subscriber],
    ['reader', blocking],
  ] as const) {
    let failing = false;
    connection.on('error', (error: Error) => {
      // ioredis reports every failed reconnect: say it once per outage.
      if (failing) return;
      failing = true;
      logger?.warn(
        { connection: name, error: error.message },
        'run hub: Redis connection failed; reconnecting',
      );
    });
    connection.on('ready', () => {
      if (failing) logger?.info({ connection: name }, 'run hub: Redis connection is back');
      failing = false;
    });
  }
  return { commands, subscriber, blocking };
}

/** Closes the connections: commands already sent still complete (QUIT waits for them), a blocked read is cut. */
export function closeConnections(connections: RedisConnections): void {
  for (const connection of [connections.commands, connections.subscriber]) {
    connection.quit().catch(() => connection.disconnect());
  }
  connections.blocking.disconnect();
}

/** Resolves when the connection is ready, false after `timeoutMs`. */
export function whenReady(connection: Redis, timeoutMs: number): Promise<boolean> {
  if (connection.status === 'ready') return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      connection.off('ready', onReady);
      resolve(false);
    }, timeoutMs);
    const onReady = (): void => {
      clearTimeout(timer);
      resolve(true);
    };
    connection.once('ready', onReady);
  });
}
