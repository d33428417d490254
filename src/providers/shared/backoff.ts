// When to retry a failed provider call on the same provider, and how long to wait first: shared by the chat
// fallback chain and the embedding adapters.

import type { RivuletError } from '../../core/errors.ts';

export interface BackoffPolicy {
  /** Retries after the first attempt. */
  retries: number;
  /** Full jitter over min(maxDelayMs, baseDelayMs * 2^attempt). */
  baseDelayMs: number;
  maxDelayMs: number;
}

/**
 * The pause before retrying after `error` on attempt `attempt` (0 for the first), or undefined when it should not
 * be retried: not retryable, out of retries, or a Retry-After longer than the policy would ever wait.
 */
export function retryDelay(
  error: RivuletError,
  attempt: number,
  policy: BackoffPolicy,
  random: () => number = Math.random,
): number | undefined {
  if (!error.retryable || attempt >= policy.retries) return undefined;
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** attempt);
  const jittered = Math.round(random() * ceiling);
  if (error.retryAfterMs === undefined) return jittered;
  // A provider asking for a longer pause than we would wait is better skipped (or failed) now.
  return error.retryAfterMs > policy.maxDelayMs ? undefined : Math.max(jittered, error.retryAfterMs);
}
