// Shared limits (REDIS_URL): stream slots and token budget counters in Redis for every instance, and the connection
// the request rate limiters use. When Redis cannot be reached each instance counts on its own in memory (the limits
// then hold per instance) instead of refusing everything; it says so once per outage and goes back to Redis by itself.

import { Redis } from 'ioredis';
import type { Logger } from '../../core/logger.ts';
import type { SlotResult, StreamSlots } from '../../core/stream-slots.ts';
import type { BudgetCounters, BudgetDay, HoldRequest, HoldResult } from '../../core/token-budgets.ts';
import { MemoryBudgetCounters } from '../memory/memory-budget-counters.ts';
import { MemoryStreamSlots } from '../memory/memory-stream-slots.ts';
import { RedisBudgetCounters } from './redis-budget-counters.ts';
import { RedisStreamSlots } from './redis-stream-slots.ts';

export interface SharedLimits {
  /** For the request rate limiters (rate-limiter-flexible's RateLimiterRedis). */
  readonly redis: Redis;
  readonly keyPrefix: string;
  readonly streamSlots: StreamSlots;
  readonly budgetCounters: BudgetCounters;
  close(): Promise<void>;
}

/** A limit check never waits longer than this for Redis: past it, this instance counts alone. */
const COMMAND_TIMEOUT_MS = 1_000;

export function openSharedLimits(options: { url: string; keyPrefix: string; logger: Logger }): SharedLimits {
  const { logger, keyPrefix } = options;
  const redis = new Redis(options.url, {
    connectionName: 'rivulet-limits',
    connectTimeout: 2_000,
    commandTimeout: COMMAND_TIMEOUT_MS,
    // Fail at once while disconnected (no queue), so a check falls back instead of waiting for a reconnect.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: (attempt) => Math.min(50 * attempt, 1_000),
  });
  const outage = new Outage(logger);
  redis.on('error', (error: Error) => outage.begin(error));
  redis.on('ready', () => outage.end());
  const fallbackSlots = new MemoryStreamSlots();
  let fallbackCounters = new MemoryBudgetCounters();
  // Back on Redis: forget what was counted alone, so a later outage starts again from the usage store.
  outage.onEnd = () => {
    fallbackCounters = new MemoryBudgetCounters();
  };
  return {
    redis,
    keyPrefix,
    streamSlots: new FallbackStreamSlots(new RedisStreamSlots(redis, keyPrefix), fallbackSlots, outage),
    budgetCounters: new FallbackBudgetCounters(
      new RedisBudgetCounters(redis, keyPrefix),
      () => fallbackCounters,
      outage,
    ),
    async close() {
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}

/** Says once that Redis is away and once that it is back. */
class Outage {
  private readonly logger: Logger;
  private failing = false;
  onEnd: (() => void) | undefined;

  constructor(logger: Logger) {
    this.logger = logger;
  }

  begin(error: unknown): void {
    if (this.failing) return;
    this.failing = true;
    this.logger.warn(
      { error: error instanceof Error ? error.message : String(error) },
      'limits: Redis cannot be reached; rate limits, stream slots and token budgets are counted by this instance alone until it is back',
    );
  }

  end(): void {
    if (!this.failing) return;
    this.failing = false;
    this.onEnd?.();
    this.logger.info({}, 'limits: Redis is back; limits are shared between instances again');
  }
}

/** Slots in Redis, or in memory while Redis fails; each slot is refreshed and released where it was taken. */
class FallbackStreamSlots implements StreamSlots {
  private readonly shared: StreamSlots;
  private readonly local: StreamSlots;
  private readonly outage: Outage;
  private readonly takenLocally = new Set<string>();

  constructor(shared: StreamSlots, local: StreamSlots, outage: Outage) {
    this.shared = shared;
    this.local = local;
    this.outage = outage;
  }

  async acquire(key: string, slotId: string, limit: number, leaseMs: number): Promise<SlotResult> {
    try {
      return await this.shared.acquire(key, slotId, limit, leaseMs);
    } catch (error) {
      this.outage.begin(error);
      this.takenLocally.add(slotId);
      return this.local.acquire(key, slotId, limit, leaseMs);
    }
  }

  refresh(key: string, slotId: string, leaseMs: number): Promise<void> {
    return (this.takenLocally.has(slotId) ? this.local : this.shared).refresh(key, slotId, leaseMs);
  }

  release(key: string, slotId: string): Promise<void> {
    if (!this.takenLocally.delete(slotId)) return this.shared.release(key, slotId);
    return this.local.release(key, slotId);
  }
}

/** Budget counters in Redis, or in memory while Redis fails; each hold is refreshed and settled where it was made. */
class FallbackBudgetCounters implements BudgetCounters {
  private readonly shared: BudgetCounters;
  private readonly local: () => BudgetCounters;
  private readonly outage: Outage;
  /** Holds made in memory, with the counters that made them. */
  private readonly heldLocally = new Map<string, BudgetCounters>();

  constructor(shared: BudgetCounters, local: () => BudgetCounters, outage: Outage) {
    this.shared = shared;
    this.local = local;
    this.outage = outage;
  }

  async hold(request: HoldRequest): Promise<HoldResult> {
    const local = this.heldLocally.get(request.holdId);
    if (local !== undefined) return local.hold(request);
    try {
      return await this.shared.hold(request);
    } catch (error) {
      this.outage.begin(error);
      const counters = this.local();
      const result = await counters.hold(request);
      if (result.status === 'held') this.heldLocally.set(request.holdId, counters);
      return result;
    }
  }

  refresh(holdId: string, budgets: readonly BudgetDay[], tokens: number, leaseMs: number): Promise<void> {
    const counters = this.heldLocally.get(holdId) ?? this.shared;
    return counters.refresh(holdId, budgets, tokens, leaseMs);
  }

  settle(holdId: string, budgets: readonly BudgetDay[], spent: number): Promise<void> {
    const local = this.heldLocally.get(holdId);
    this.heldLocally.delete(holdId);
    return (local ?? this.shared).settle(holdId, budgets, spent);
  }
}
