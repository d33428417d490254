// The shared-limits conformance suite: every StreamSlots and BudgetCounters backend (memory, Redis) must pass it
// unchanged, and the one budget rule (TokenBudgets) must hold on each.

import { describe, expect, it } from 'vitest';
import { RivuletError } from '../core/errors.ts';
import type { StreamSlots } from '../core/stream-slots.ts';
import { TokenBudgets, type BudgetCounters, type BudgetLimit } from '../core/token-budgets.ts';
import type { TokenUsageStore, UsageScope } from '../core/token-usage.ts';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
let unique = 0;
/** A key no other test (nor an earlier run against the same Redis) uses. */
const fresh = (label: string): string => `${label}-${process.pid}-${Date.now().toString(36)}-${++unique}`;
const LONG = 60_000;

/** A usage store in memory that counts what it is asked. */
export function countingUsage(): TokenUsageStore & { reads: number; totals: Map<string, number> } {
  const totals = new Map<string, number>();
  const key = (scope: UsageScope, subject: string, day: string): string => `${scope}/${subject}/${day}`;
  return {
    reads: 0,
    totals,
    spent(scope, subject, day) {
      this.reads += 1;
      return Promise.resolve(totals.get(key(scope, subject, day)) ?? 0);
    },
    charge(subjects, tokens, day) {
      for (const { scope, subject } of subjects) {
        totals.set(key(scope, subject, day), (totals.get(key(scope, subject, day)) ?? 0) + tokens);
      }
      return Promise.resolve();
    },
  };
}

export function describeStreamSlotsConformance(name: string, make: () => StreamSlots): void {
  describe(`StreamSlots conformance: ${name}`, () => {
    it('takes up to the limit, refuses beyond it with the count, and frees a slot on release', async () => {
      const slots = make();
      const key = fresh('principal');
      expect(await slots.acquire(key, 'a', 2, LONG)).toEqual({ acquired: true });
      expect(await slots.acquire(key, 'b', 2, LONG)).toEqual({ acquired: true });
      expect(await slots.acquire(key, 'c', 2, LONG)).toEqual({ acquired: false, running: 2 });
      await slots.release(key, 'a');
      expect(await slots.acquire(key, 'c', 2, LONG)).toEqual({ acquired: true });
      // Other principals count apart.
      expect(await slots.acquire(fresh('other'), 'a', 1, LONG)).toEqual({ acquired: true });
    });

    it('taking a slot it already holds again is not a second slot', async () => {
      const slots = make();
      const key = fresh('principal');
      expect(await slots.acquire(key, 'a', 1, LONG)).toEqual({ acquired: true });
      expect(await slots.acquire(key, 'a', 1, LONG)).toEqual({ acquired: true });
      expect(await slots.acquire(key, 'b', 1, LONG)).toEqual({ acquired: false, running: 1 });
    });

    it('a slot nobody refreshes lapses after its lease; a refreshed one stays', async () => {
      const slots = make();
      const key = fresh('principal');
      expect(await slots.acquire(key, 'dead', 2, 300)).toEqual({ acquired: true });
      expect(await slots.acquire(key, 'alive', 2, 300)).toEqual({ acquired: true });
      for (let beat = 0; beat < 4; beat++) {
        await sleep(150);
        await slots.refresh(key, 'alive', 300);
      }
      // 600 ms on: the unrefreshed slot lapsed, the refreshed one did not.
      expect(await slots.acquire(key, 'new', 2, LONG)).toEqual({ acquired: true });
      expect(await slots.acquire(key, 'more', 2, LONG)).toEqual({ acquired: false, running: 2 });
    });

    it('a short lease taken after a long one does not cut the long one short', async () => {
      const slots = make();
      const key = fresh('principal');
      await slots.acquire(key, 'long', 2, LONG);
      await slots.acquire(key, 'short', 2, 100);
      await sleep(300);
      expect(await slots.acquire(key, 'x', 2, LONG)).toEqual({ acquired: true });
      expect(await slots.acquire(key, 'y', 2, LONG)).toEqual({ acquired: false, running: 2 });
    });

    it('refreshing a slot the backend lost takes it again (the answer still runs)', async () => {
      const slots = make();
      const key = fresh('principal');
      await slots.refresh(key, 'survivor', LONG);
      expect(await slots.acquire(key, 'b', 1, LONG)).toEqual({ acquired: false, running: 1 });
    });

    it('chats sent at once take no more than the limit', async () => {
      const slots = make();
      const key = fresh('principal');
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, index) => slots.acquire(key, `s${index}`, 3, LONG)),
      );
      expect(results.filter((result) => result.acquired)).toHaveLength(3);
    });
  });
}

export function describeBudgetCountersConformance(name: string, make: () => BudgetCounters): void {
  const day = '2030-01-02';
  const budget = (subject: string, limit: number, spent?: number): BudgetLimit => ({
    scope: 'principal',
    subject,
    day,
    limit,
    ...(spent === undefined ? {} : { spent }),
  });
  const hold = (
    counters: BudgetCounters,
    holdId: string,
    budgets: BudgetLimit[],
    want: number,
    leaseMs = LONG,
  ) => counters.hold({ holdId, budgets, want, atLeast: 1, leaseMs });

  describe(`BudgetCounters conformance: ${name}`, () => {
    it('asks for what was spent when it has no counter yet, then holds from there', async () => {
      const counters = make();
      const subject = fresh('user');
      expect(await hold(counters, 'h1', [budget(subject, 100)], 30)).toEqual({
        status: 'unknown',
        budgets: [0],
      });
      expect(await hold(counters, 'h1', [budget(subject, 100, 60)], 30)).toEqual({
        status: 'held',
        left: 40,
      });
      // Known now: no spent needed, and what is held counts (60 spent + 30 held: 10 left).
      expect(await hold(counters, 'h2', [budget(subject, 100)], 30)).toEqual({ status: 'held', left: 10 });
      // h2 holds its whole 30, past the limit: nothing is left for a third.
      expect(await hold(counters, 'h3', [budget(subject, 100)], 1)).toEqual({ status: 'refused', budget: 0 });
    });

    it('holds in every budget at once or in none, and names the one that refused', async () => {
      const counters = make();
      const roomy = budget(fresh('user'), 1000, 0);
      const tight = { ...budget(fresh('bot'), 50, 45), scope: 'chatbot' as const };
      expect(await hold(counters, 'h1', [roomy, tight], 20)).toEqual({ status: 'held', left: 5 });
      expect(await hold(counters, 'h2', [roomy, tight], 20)).toEqual({ status: 'refused', budget: 1 });
      // The refusal held nothing in the roomy budget: only h1's 20 are held there.
      expect(await hold(counters, 'h3', [roomy], 10_000)).toEqual({ status: 'held', left: 980 });
    });

    it('holding again under the same id replaces the hold, which does not count against itself', async () => {
      const counters = make();
      const subject = budget(fresh('user'), 100, 0);
      expect(await hold(counters, 'h1', [subject], 40)).toEqual({ status: 'held', left: 100 });
      expect(await hold(counters, 'h1', [subject], 90)).toEqual({ status: 'held', left: 100 });
      expect(await hold(counters, 'h2', [subject], 50)).toEqual({ status: 'held', left: 10 });
      expect(await hold(counters, 'h3', [subject], 1)).toEqual({ status: 'refused', budget: 0 });
      expect(await hold(counters, 'h1', [subject], 20)).toEqual({ status: 'held', left: 50 });
      expect(await hold(counters, 'h3', [subject], 500)).toEqual({ status: 'held', left: 30 });
    });

    it('settling releases the hold and adds what was spent', async () => {
      const counters = make();
      const subject = budget(fresh('user'), 100, 0);
      await hold(counters, 'h1', [subject], 80);
      await counters.settle('h1', [subject], 30);
      expect(await hold(counters, 'h2', [subject], 500)).toEqual({ status: 'held', left: 70 });
      // Settling twice, or a hold it never made, changes nothing but what was spent.
      await counters.settle('h1', [subject], 0);
      expect(await hold(counters, 'h3', [subject], 1)).toEqual({ status: 'refused', budget: 0 });
    });

    it('a hold nobody refreshes lapses and gives its tokens back; a refreshed one does not', async () => {
      const counters = make();
      const subject = budget(fresh('user'), 100, 0);
      await hold(counters, 'dead', [subject], 40, 300);
      await hold(counters, 'alive', [subject], 40, 300);
      for (let beat = 0; beat < 4; beat++) {
        await sleep(150);
        await counters.refresh('alive', [subject], 40, 300);
      }
      expect(await hold(counters, 'new', [subject], 500)).toEqual({ status: 'held', left: 60 });
    });

    it('a counter that fell behind the store is raised to it, never lowered', async () => {
      const counters = make();
      const subject = fresh('user');
      await hold(counters, 'h1', [budget(subject, 100, 10)], 5);
      await counters.settle('h1', [budget(subject, 100)], 5);
      // The store says 50 (an answer's usage missed the counter): raised.
      expect(await hold(counters, 'h2', [budget(subject, 100, 50)], 500)).toEqual({
        status: 'held',
        left: 50,
      });
      await counters.settle('h2', [budget(subject, 100)], 0);
      // A stale read (20) does not lower it.
      expect(await hold(counters, 'h3', [budget(subject, 100, 20)], 500)).toEqual({
        status: 'held',
        left: 50,
      });
    });

    it('refreshing a hold the backend lost holds its tokens again', async () => {
      const counters = make();
      const subject = budget(fresh('user'), 100, 0);
      await hold(counters, 'h0', [subject], 1);
      await counters.settle('h0', [subject], 0);
      await counters.refresh('lost', [subject], 70, LONG);
      expect(await hold(counters, 'h1', [subject], 500)).toEqual({ status: 'held', left: 30 });
    });

    it('the budget rule: parallel answers spend at most the budget plus one prompt', async () => {
      const usage = countingUsage();
      const budgets = new TokenBudgets({ counters: make(), usage, logger: silent });
      const subject = fresh('user');
      const subjects = [{ scope: 'principal' as const, subject, limit: 1000, what: 'your' }];
      // Each answer: a prompt of 100 tokens and at most 50 out, no more than was left; it spends all of that a little
      // later, while others start (some after earlier ones settled).
      const outcomes = await Promise.allSettled(
        Array.from({ length: 25 }, async (_, index) => {
          await sleep(index * 2);
          const held = await budgets.reserve(subjects, 150);
          await sleep(10);
          await held.settle(100 + Math.min(50, held.left));
        }),
      );
      const spent = [...usage.totals.values()].reduce((sum, tokens) => sum + tokens, 0);
      expect(spent).toBeGreaterThan(0);
      expect(spent).toBeLessThanOrEqual(1000 + 100);
      const refused = outcomes.filter((outcome) => outcome.status === 'rejected');
      expect(refused.length).toBeGreaterThan(0);
      for (const outcome of refused) {
        expect(outcome.reason).toBeInstanceOf(RivuletError);
        expect((outcome.reason as RivuletError).code).toBe('TOKEN_BUDGET_EXCEEDED');
      }
      // Once the counter exists, holds no longer read the store.
      const reads = usage.reads;
      await expect(budgets.reserve(subjects, 1)).rejects.toThrow();
      expect(usage.reads).toBe(reads);
    });
  });
}

const silent = { info() {}, warn() {}, error() {} };
