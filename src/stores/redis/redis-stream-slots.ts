// Stream slots in Redis: one sorted set per principal of the slot ids of its running answers, scored by when each
// lapses, so every instance counts every instance's answers and a dead instance's slots lapse by themselves.

import type { Redis } from 'ioredis';
import type { SlotResult, StreamSlots } from '../../core/stream-slots.ts';
import { ACQUIRE_SLOT, REFRESH_SLOT, runScript } from './redis-limit-scripts.ts';

export class RedisStreamSlots implements StreamSlots {
  private readonly redis: Redis;
  private readonly prefix: string;

  constructor(redis: Redis, keyPrefix: string) {
    this.redis = redis;
    this.prefix = keyPrefix;
  }

  async acquire(key: string, slotId: string, limit: number, leaseMs: number): Promise<SlotResult> {
    const [acquired, taken] = (await runScript(
      this.redis,
      ACQUIRE_SLOT,
      [this.key(key)],
      [slotId, limit, leaseMs],
    )) as [number, number];
    return acquired === 1 ? { acquired: true } : { acquired: false, running: taken };
  }

  async refresh(key: string, slotId: string, leaseMs: number): Promise<void> {
    await runScript(this.redis, REFRESH_SLOT, [this.key(key)], [slotId, leaseMs]);
  }

  async release(key: string, slotId: string): Promise<void> {
    await this.redis.zrem(this.key(key), slotId);
  }

  /** The principal's set of slots. */
  key(limitKey: string): string {
    return `${this.prefix}:streams:${limitKey}`;
  }
}
