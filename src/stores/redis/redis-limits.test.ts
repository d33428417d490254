// Shared limits on a real Redis: the conformance suite, the Lua scripts' edge cases, and what happens while Redis
// cannot be reached (each instance counts alone; nothing throws).

import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { deleteKeys, REDIS_URL, redisSkipReason, testKeyPrefix } from '../../../test/helpers/redis.ts';
import {
  countingUsage,
  describeBudgetCountersConformance,
  describeStreamSlotsConformance,
} from '../limits.conformance.ts';
import { TokenBudgets } from '../../core/token-budgets.ts';
import { RedisBudgetCounters } from './redis-budget-counters.ts';
import { openSharedLimits, type SharedLimits } from './redis-limits.ts';
import { RedisStreamSlots } from './redis-stream-slots.ts';

const prefix = testKeyPrefix('limits');
const silent = { info() {}, warn() {}, error() {} };

describe.skipIf(redisSkipReason !== undefined)('shared limits on Redis', () => {
  const redis = new Redis(REDIS_URL ?? '', { lazyConnect: redisSkipReason !== undefined });
  afterAll(async () => {
    await deleteKeys(prefix);
    redis.disconnect();
  });

  describeStreamSlotsConformance('redis', () => new RedisStreamSlots(redis, prefix));
  describeBudgetCountersConformance('redis', () => new RedisBudgetCounters(redis, prefix));

  it('a slot set expires as a whole once its last lease lapsed, and not before', async () => {
    const slots = new RedisStreamSlots(redis, prefix);
    const key = `expiry-${Date.now()}`;
    await slots.acquire(key, 'a', 2, 2_000);
    await slots.acquire(key, 'b', 2, 500);
    const ttl = await redis.pttl(slots.key(key));
    expect(ttl).toBeGreaterThan(1_000);
    expect(ttl).toBeLessThanOrEqual(2_000);
  });

  it('budget keys expire after two days, and a subject cannot name another subject’s holds', async () => {
    const counters = new RedisBudgetCounters(redis, prefix);
    const day = '2030-01-03';
    const alice = { scope: 'principal' as const, subject: 'user:alice', day, limit: 100, spent: 0 };
    const forged = { ...alice, subject: 'user:alice:holds' };
    await counters.hold({ holdId: 'h1', budgets: [alice], want: 40, atLeast: 1, leaseMs: 60_000 });
    await counters.hold({ holdId: 'h2', budgets: [forged], want: 100, atLeast: 1, leaseMs: 60_000 });
    const [counter, holds] = counters.keys([alice]);
    expect(await redis.hgetall(counter!)).toEqual({ spent: '0', held: '40', 'h:h1': '40' });
    expect(await redis.zrange(holds!, 0, -1)).toEqual(['h1']);
    expect(await redis.pttl(counter!)).toBeGreaterThan(47 * 3600 * 1000);
    expect(new Set(counters.keys([forged])).size).toBe(2);
    expect(counters.keys([forged])).not.toContain(holds);
  });

  it('settling into a counter Redis lost leaves it missing, so the next hold starts from the store', async () => {
    const counters = new RedisBudgetCounters(redis, prefix);
    const budget = {
      scope: 'chatbot' as const,
      subject: `lost-${Date.now()}`,
      day: '2030-01-04',
      limit: 100,
    };
    await counters.hold({
      holdId: 'h1',
      budgets: [{ ...budget, spent: 0 }],
      want: 10,
      atLeast: 1,
      leaseMs: 60_000,
    });
    await redis.del(...counters.keys([budget]));
    await counters.settle('h1', [budget], 30);
    expect(await redis.exists(counters.keys([budget])[0]!)).toBe(0);
    expect(
      await counters.hold({ holdId: 'h2', budgets: [budget], want: 10, atLeast: 1, leaseMs: 60_000 }),
    ).toEqual({
      status: 'unknown',
      budgets: [0],
    });
  });

  it('two instances holding at once never hold more than the budget together', async () => {
    const other = new Redis(REDIS_URL ?? '');
    try {
      const usage = countingUsage();
      const a = new TokenBudgets({ counters: new RedisBudgetCounters(redis, prefix), usage, logger: silent });
      const b = new TokenBudgets({ counters: new RedisBudgetCounters(other, prefix), usage, logger: silent });
      const subjects = [
        { scope: 'chatbot' as const, subject: `shared-${Date.now()}`, limit: 500, what: 'x' },
      ];
      const results = await Promise.allSettled(
        Array.from({ length: 30 }, (_, index) => (index % 2 === 0 ? a : b).reserve(subjects, 70)),
      );
      // Each holds its whole 70 while a token is left besides the others: 7 x 70 = 490, the 8th starts with 10 left.
      expect(results.filter((result) => result.status === 'fulfilled')).toHaveLength(8);
      for (const result of results) if (result.status === 'fulfilled') await result.value.settle(0);
    } finally {
      other.disconnect();
    }
  });

  describe('while Redis cannot be reached', () => {
    let limits: SharedLimits;
    afterAll(async () => {
      await limits.close();
    });

    it('stream slots and budgets are counted by this instance alone, and nothing throws', async () => {
      const warnings: string[] = [];
      limits = openSharedLimits({
        // Nothing listens on port 1.
        url: 'redis://127.0.0.1:1',
        keyPrefix: prefix,
        logger: { ...silent, warn: (_fields, message) => void warnings.push(message) },
      });
      const key = 'offline-principal';
      expect(await limits.streamSlots.acquire(key, 'a', 1, 60_000)).toEqual({ acquired: true });
      expect(await limits.streamSlots.acquire(key, 'b', 1, 60_000)).toEqual({ acquired: false, running: 1 });
      await limits.streamSlots.refresh(key, 'a', 60_000);
      await limits.streamSlots.release(key, 'a');
      expect(await limits.streamSlots.acquire(key, 'b', 1, 60_000)).toEqual({ acquired: true });

      const usage = countingUsage();
      await usage.charge([{ scope: 'principal', subject: 'offline' }], 90, '2030-01-05');
      const budgets = new TokenBudgets({
        counters: limits.budgetCounters,
        usage,
        logger: silent,
        now: () => Date.UTC(2030, 0, 5),
      });
      const subjects = [{ scope: 'principal' as const, subject: 'offline', limit: 100, what: 'your' }];
      const held = await budgets.reserve(subjects, 50);
      expect(held.left).toBe(10);
      await expect(budgets.reserve(subjects, 50)).rejects.toMatchObject({ code: 'TOKEN_BUDGET_EXCEEDED' });
      await held.settle(10);
      expect(
        warnings.filter((message) => message.startsWith('limits: Redis cannot be reached')),
      ).toHaveLength(1);
    });
  });
});
