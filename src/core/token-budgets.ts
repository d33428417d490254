// Daily token budgets as reservations: an answer holds its maximum (prompt and output) against the principal's and the
// chatbot's budgets before it is generated and settles with its real usage after. The rule lives here once; the day's
// counters live behind BudgetCounters (one process's memory, or Redis for every instance), while the TokenUsageStore
// stays the record of what was spent.
//
// The rule: an answer may start while every budget has a token left besides what running answers hold; it holds its
// whole maximum even past the limit, and writes at most what was left. So whatever runs in parallel, on any
// instance, what is charged stays within the budget plus the prompt of one answer (the last one to start, which took
// the last tokens), as long as the usage estimator counts a prompt at least as the provider does.

import { randomUUID } from 'node:crypto';
import { RivuletError } from './errors.ts';
import type { Logger } from './logger.ts';
import { msUntilNextDay, usageDay, type TokenUsageStore, type UsageScope } from './token-usage.ts';

/** One budget's counter for one UTC day. */
export interface BudgetDay {
  scope: UsageScope;
  subject: string;
  /** YYYY-MM-DD, UTC, as the usage store keys it. */
  day: string;
}

export interface BudgetLimit extends BudgetDay {
  limit: number;
  /** What the day's counter starts from when the backend holds none yet (read from the usage store). */
  spent?: number | undefined;
}

export interface HoldRequest {
  holdId: string;
  budgets: readonly BudgetLimit[];
  /** Tokens held, in full, when every budget has at least `atLeast` left besides this hold. */
  want: number;
  atLeast: number;
  /** The hold lapses unless refreshed within this time (an instance that died frees it so). */
  leaseMs: number;
}

export type HoldResult =
  /**
   * `want` is held for holdId (replacing what it held before); `left` is the least any budget had besides it, which
   * the hold may exceed: the answer is then capped to `left`.
   */
  | { status: 'held'; left: number }
  /** budgets[budget] has fewer than `atLeast` tokens left: nothing changed. */
  | { status: 'refused'; budget: number }
  /** The backend has no counter yet for these budgets: ask again with their `spent`. Nothing changed. */
  | { status: 'unknown'; budgets: number[] };

/**
 * The day's counters of every budget: spent (charged answers) and held (running answers). Each call is atomic, so
 * two instances holding at once both see each other: `spent + held + this <= limit`, always.
 */
export interface BudgetCounters {
  /**
   * Drops lapsed holds, then holds `want` for holdId in every budget at once when each has at least `atLeast` left
   * besides this hold, or in none.
   */
  hold(request: HoldRequest): Promise<HoldResult>;
  /** Extends the hold's lease; holds `tokens` again where the backend lost it (a restarted Redis). */
  refresh(holdId: string, budgets: readonly BudgetDay[], tokens: number, leaseMs: number): Promise<void>;
  /** Releases the hold and adds `spent` to each day counter that exists (a missing one starts from the store). */
  settle(holdId: string, budgets: readonly BudgetDay[], spent: number): Promise<void>;
}

/** How long a hold lives without a refresh, and how often a running answer refreshes it. */
export const HOLD_LEASE_MS = 30_000;
export const HOLD_REFRESH_MS = 10_000;

export interface BudgetSubject {
  scope: UsageScope;
  subject: string;
  limit: number;
  /** "your", "this chatbot’s": for the refusal message. */
  what: string;
}

export interface TokenBudgetsDeps {
  counters: BudgetCounters;
  /** The record of what was spent: charged after each answer, and where a day's counter starts from. */
  usage: TokenUsageStore;
  logger: Logger;
  now?: () => number;
  leaseMs?: number;
  refreshMs?: number;
}

const budgetKey = (budget: BudgetDay): string => `${budget.scope}\u0000${budget.subject}\u0000${budget.day}`;

export class TokenBudgets {
  private readonly deps: TokenBudgetsDeps;
  /**
   * Budgets whose counters missed an answer's usage (Redis failed when it settled): the next hold reads the store
   * again, and the counter is raised to it.
   */
  private readonly behind = new Set<string>();

  constructor(deps: TokenBudgetsDeps) {
    this.deps = deps;
  }

  /**
   * Holds `want` tokens against every budget, or refuses with TOKEN_BUDGET_EXCEEDED when one has nothing left today
   * besides what running answers hold. The hold's lease is refreshed until it is settled.
   */
  async reserve(subjects: readonly BudgetSubject[], want: number): Promise<BudgetHold> {
    const now = (this.deps.now ?? Date.now)();
    const day = usageDay(now);
    const budgets: BudgetLimit[] = await Promise.all(
      subjects.map(async ({ scope, subject, limit }) => {
        const budget: BudgetLimit = { scope, subject, day, limit };
        if (!this.behind.has(budgetKey(budget))) return budget;
        return { ...budget, spent: await this.deps.usage.spent(scope, subject, day) };
      }),
    );
    const holdId = randomUUID();
    const left = await holdTokens(this.deps, holdId, budgets, want, (index) => {
      const budget = subjects[index];
      return new RivuletError('TOKEN_BUDGET_EXCEEDED', {
        message: `Today's token budget (${budget?.what ?? 'a'}, ${budget?.limit ?? 0} tokens) is spent: it renews at midnight UTC.`,
        retryAfterMs: msUntilNextDay(now),
      });
    });
    for (const budget of budgets) this.behind.delete(budgetKey(budget));
    return new BudgetHold(this.deps, holdId, budgets, want, left, (missed) => {
      for (const budget of missed) this.behind.add(budgetKey(budget));
    });
  }
}

/**
 * One hold request, starting the day's counters from the usage store where the backend has none yet. Returns what
 * was left besides the hold.
 */
async function holdTokens(
  deps: TokenBudgetsDeps,
  holdId: string,
  budgets: BudgetLimit[],
  want: number,
  refusal: (budget: number) => RivuletError,
): Promise<number> {
  const leaseMs = deps.leaseMs ?? HOLD_LEASE_MS;
  // Twice at most: the second request carries what the store says was spent for every counter the first missed.
  for (let attempt = 0; attempt < 2; attempt++) {
    const result = await deps.counters.hold({ holdId, budgets, want, atLeast: 1, leaseMs });
    switch (result.status) {
      case 'held':
        return result.left;
      case 'refused':
        throw refusal(result.budget);
      case 'unknown':
        for (const index of result.budgets) {
          const budget = budgets[index];
          if (budget === undefined) continue;
          budgets[index] = {
            ...budget,
            spent: await deps.usage.spent(budget.scope, budget.subject, budget.day),
          };
        }
        break;
      default: {
        const unreachable: never = result;
        throw new Error(`unknown hold result ${String(unreachable)}`);
      }
    }
  }
  throw new Error('the token budget counters did not start from the usage store');
}

/** One answer's hold on its budgets: resized once its prompt is known, refreshed while it runs, settled after. */
export class BudgetHold {
  private readonly deps: TokenBudgetsDeps;
  private readonly id: string;
  private readonly budgets: BudgetLimit[];
  private held: number;
  private room: number;
  private readonly refresher: ReturnType<typeof setInterval>;
  private readonly missed: (budgets: readonly BudgetDay[]) => void;
  private done = false;

  constructor(
    deps: TokenBudgetsDeps,
    id: string,
    budgets: BudgetLimit[],
    held: number,
    left: number,
    missed: (budgets: readonly BudgetDay[]) => void,
  ) {
    this.deps = deps;
    this.missed = missed;
    this.id = id;
    this.budgets = budgets;
    this.held = held;
    this.room = left;
    this.refresher = setInterval(() => {
      deps.counters
        .refresh(this.id, this.budgets, this.held, deps.leaseMs ?? HOLD_LEASE_MS)
        .catch((error: unknown) => deps.logger.warn({ err: error }, 'refreshing a token budget hold failed'));
    }, deps.refreshMs ?? HOLD_REFRESH_MS);
    this.refresher.unref();
  }

  /** What the budgets had left besides this hold when it was last made: the answer writes no more than that. */
  get left(): number {
    return this.room;
  }

  /**
   * Holds `want` tokens instead (once the prompt is known) and returns what is left besides the hold. Refuses with
   * TOKEN_BUDGET_EXCEEDED when answers that started meanwhile took what was left.
   */
  async resize(want: number): Promise<number> {
    if (this.done) return this.room;
    const now = (this.deps.now ?? Date.now)();
    this.room = await holdTokens(
      this.deps,
      this.id,
      this.budgets,
      want,
      () => new RivuletError('TOKEN_BUDGET_EXCEEDED', { retryAfterMs: msUntilNextDay(now) }),
    );
    this.held = want;
    return this.room;
  }

  /**
   * Ends the hold: `spent` tokens (the answer's real usage) are charged to the usage store and to the day's counters,
   * and the hold is released. Once; later calls do nothing.
   */
  async settle(spent: number): Promise<void> {
    if (this.done) return;
    this.done = true;
    clearInterval(this.refresher);
    const { counters, usage, logger, now } = this.deps;
    const day = usageDay((now ?? Date.now)());
    // The store first: it is the record. Counters of another day (the answer crossed midnight) are only released.
    if (spent > 0) {
      await usage
        .charge(
          this.budgets.map(({ scope, subject }) => ({ scope, subject })),
          spent,
          day,
        )
        .catch((error: unknown) => logger.warn({ err: error }, 'charging token usage failed'));
    }
    const sameDay = this.budgets.every((budget) => budget.day === day);
    try {
      await counters.settle(this.id, this.budgets, sameDay ? spent : 0);
    } catch (error) {
      logger.warn({ err: error }, 'releasing a token budget hold failed: it lapses with its lease');
      if (spent > 0) this.missed(this.budgets);
    }
  }
}
