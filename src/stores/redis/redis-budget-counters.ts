// Token budget counters in Redis, per budget and UTC day: what was spent and what running answers hold (a hash),
// and when each hold lapses (a sorted set). Every change is one Lua script (redis-limit-scripts.ts).

import type { Redis } from 'ioredis';
import type { BudgetCounters, BudgetDay, HoldRequest, HoldResult } from '../../core/token-budgets.ts';
import { HOLD_TOKENS, REFRESH_HOLD, runScript, SETTLE_HOLD } from './redis-limit-scripts.ts';

/** A day's counters outlive the day by one more, for answers that cross midnight. */
const COUNTER_TTL_MS = 2 * 24 * 60 * 60 * 1000;

export class RedisBudgetCounters implements BudgetCounters {
  private readonly redis: Redis;
  private readonly prefix: string;

  constructor(redis: Redis, keyPrefix: string) {
    this.redis = redis;
    this.prefix = keyPrefix;
  }

  async hold(request: HoldRequest): Promise<HoldResult> {
    const args = request.budgets.flatMap((budget) => [budget.limit, budget.spent ?? '']);
    const reply = (await runScript(this.redis, HOLD_TOKENS, this.keys(request.budgets), [
      request.holdId,
      Math.max(0, Math.ceil(request.want)),
      request.atLeast,
      request.leaseMs,
      COUNTER_TTL_MS,
      ...args,
    ])) as number[];
    const [status, ...rest] = reply;
    if (status === 1) return { status: 'held', left: rest[0] ?? 0 };
    if (status === 2) return { status: 'refused', budget: rest[0] ?? 0 };
    return { status: 'unknown', budgets: rest };
  }

  async refresh(
    holdId: string,
    budgets: readonly BudgetDay[],
    tokens: number,
    leaseMs: number,
  ): Promise<void> {
    await runScript(this.redis, REFRESH_HOLD, this.keys(budgets), [holdId, tokens, leaseMs, COUNTER_TTL_MS]);
  }

  async settle(holdId: string, budgets: readonly BudgetDay[], spent: number): Promise<void> {
    await runScript(this.redis, SETTLE_HOLD, this.keys(budgets), [holdId, spent]);
  }

  /** The hash and the set of holds of each budget, in that order. */
  keys(budgets: readonly BudgetDay[]): string[] {
    return budgets.flatMap((budget) => {
      // Two namespaces, so no subject (a JWT's sub is anyone's choice) can name another's set of holds.
      const name = `${budget.scope}:${budget.day}:${budget.subject}`;
      return [`${this.prefix}:budget:${name}`, `${this.prefix}:budget-holds:${name}`];
    });
  }
}
