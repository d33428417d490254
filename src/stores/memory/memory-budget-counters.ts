// Token budget counters in this process's memory (no REDIS_URL, or Redis away): per budget and day, what was spent
// and what running answers hold. Each call runs without an await, so it is as atomic as the Redis scripts.

import type { BudgetCounters, BudgetDay, HoldRequest, HoldResult } from '../../core/token-budgets.ts';

interface DayCounter {
  spent: number;
  /** holdId -> tokens held and when the hold lapses. */
  holds: Map<string, { tokens: number; expiresAt: number }>;
}

const keyOf = (budget: BudgetDay): string => `${budget.scope}\u0000${budget.subject}\u0000${budget.day}`;

export class MemoryBudgetCounters implements BudgetCounters {
  private readonly counters = new Map<string, DayCounter>();
  private readonly now: () => number;
  private day: string | undefined;

  constructor(options: { now?: () => number } = {}) {
    this.now = options.now ?? Date.now;
  }

  hold(request: HoldRequest): Promise<HoldResult> {
    const now = this.now();
    this.forgetOtherDays(request.budgets[0]?.day);
    const unknown = request.budgets.flatMap((budget, index) =>
      this.counters.has(keyOf(budget)) || budget.spent !== undefined ? [] : [index],
    );
    if (unknown.length > 0) return Promise.resolve({ status: 'unknown', budgets: unknown });
    const counters = request.budgets.map((budget) => {
      const key = keyOf(budget);
      const counter: DayCounter = this.counters.get(key) ?? { spent: 0, holds: new Map() };
      // A known spent starts the counter, or raises one that fell behind the store (never lowers it).
      counter.spent = Math.max(counter.spent, budget.spent ?? 0);
      this.counters.set(key, counter);
      for (const [holdId, hold] of counter.holds) if (hold.expiresAt <= now) counter.holds.delete(holdId);
      return counter;
    });
    let least = Infinity;
    for (const [index, counter] of counters.entries()) {
      let held = 0;
      for (const [holdId, hold] of counter.holds) if (holdId !== request.holdId) held += hold.tokens;
      const left = (request.budgets[index]?.limit ?? 0) - counter.spent - held;
      if (left < request.atLeast) return Promise.resolve({ status: 'refused', budget: index });
      least = Math.min(least, left);
    }
    for (const counter of counters) {
      counter.holds.set(request.holdId, { tokens: request.want, expiresAt: now + request.leaseMs });
    }
    return Promise.resolve({ status: 'held', left: least });
  }

  refresh(holdId: string, budgets: readonly BudgetDay[], tokens: number, leaseMs: number): Promise<void> {
    const expiresAt = this.now() + leaseMs;
    for (const budget of budgets) {
      const counter = this.counters.get(keyOf(budget));
      counter?.holds.set(holdId, { tokens: counter.holds.get(holdId)?.tokens ?? tokens, expiresAt });
    }
    return Promise.resolve();
  }

  settle(holdId: string, budgets: readonly BudgetDay[], spent: number): Promise<void> {
    for (const budget of budgets) {
      const counter = this.counters.get(keyOf(budget));
      if (counter === undefined) continue;
      counter.holds.delete(holdId);
      counter.spent += spent;
    }
    return Promise.resolve();
  }

  /** Yesterday's counters are of no use once a hold for today comes. */
  private forgetOtherDays(day: string | undefined): void {
    if (day === undefined || day === this.day) return;
    this.day = day;
    for (const [key, counter] of this.counters) {
      if (!key.endsWith(`\u0000${day}`) && counter.holds.size === 0) this.counters.delete(key);
    }
  }
}
