// Token budgets: what a chatbot and a principal spent per UTC day, checked before an answer is generated and
// charged with the answer's real usage afterwards.

export type UsageScope = 'chatbot' | 'principal';

export interface TokenUsageStore {
  /** Tokens charged to this subject on `day` (YYYY-MM-DD, UTC). */
  spent(scope: UsageScope, subject: string, day: string): Promise<number>;
  /** Adds tokens to each subject's total for `day`, in one transaction. */
  charge(
    subjects: readonly { scope: UsageScope; subject: string }[],
    tokens: number,
    day: string,
  ): Promise<void>;
}

/** The UTC day of a time, as the usage store keys it. */
export function usageDay(at: number): string {
  return new Date(at).toISOString().slice(0, 10);
}

/** Budgets are per day: older usage is only history, kept for a month. The first day still kept once `day` is charged. */
export function firstKeptUsageDay(day: string): string {
  return new Date(Date.parse(`${day}T00:00:00Z`) - 31 * 86_400_000).toISOString().slice(0, 10);
}

/** Milliseconds until the next UTC midnight, when every daily budget starts again. */
export function msUntilNextDay(at: number): number {
  const next = new Date(at);
  next.setUTCHours(24, 0, 0, 0);
  return next.getTime() - at;
}
