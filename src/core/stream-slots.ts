// Concurrent answers per principal (MAX_STREAMS_PER_PRINCIPAL): a slot per running answer, counted in one process's
// memory or in Redis for every instance. A slot is a lease: refreshed while its answer runs, so the slots of an
// instance that died lapse by themselves.

import { randomUUID } from 'node:crypto';
import { RivuletError } from './errors.ts';
import type { Logger } from './logger.ts';

export type SlotResult = { acquired: true } | { acquired: false; running: number };

export interface StreamSlots {
  /** Atomically: drops lapsed slots of `key`, then takes one for `slotId` if fewer than `limit` are taken. */
  acquire(key: string, slotId: string, limit: number, leaseMs: number): Promise<SlotResult>;
  /** Extends the slot's lease; takes it again where the backend lost it (a restarted Redis). */
  refresh(key: string, slotId: string, leaseMs: number): Promise<void>;
  release(key: string, slotId: string): Promise<void>;
}

/** How long a slot lives without a refresh, and how often a running answer refreshes it. */
export const SLOT_LEASE_MS = 30_000;
export const SLOT_REFRESH_MS = 10_000;

export interface SlotLease {
  /** Frees the slot (once; later calls do nothing). */
  release(): void;
}

/**
 * Takes one of `limit` slots of `key` for a new answer, or refuses with TOO_MANY_STREAMS; the slot's lease is
 * refreshed until it is released.
 */
export async function takeStreamSlot(
  slots: StreamSlots,
  key: string,
  limit: number,
  logger: Logger,
  timing: { leaseMs?: number; refreshMs?: number } = {},
): Promise<SlotLease> {
  const slotId = randomUUID();
  const leaseMs = timing.leaseMs ?? SLOT_LEASE_MS;
  const result = await slots.acquire(key, slotId, limit, leaseMs);
  if (!result.acquired) {
    throw new RivuletError('TOO_MANY_STREAMS', {
      message: `${result.running} answers are streaming already (at most ${limit} at once): wait for one to finish or stop one.`,
    });
  }
  const refresher = setInterval(() => {
    slots
      .refresh(key, slotId, leaseMs)
      .catch((error: unknown) => logger.warn({ err: error }, 'refreshing a stream slot failed'));
  }, timing.refreshMs ?? SLOT_REFRESH_MS);
  refresher.unref();
  let released = false;
  return {
    release() {
      if (released) return;
      released = true;
      clearInterval(refresher);
      slots
        .release(key, slotId)
        .catch((error: unknown) =>
          logger.warn({ err: error }, 'releasing a stream slot failed: it lapses with its lease'),
        );
    },
  };
}
