// Stream slots in this process's memory (no REDIS_URL, or Redis away): per key, the slot ids and when they lapse.

import type { SlotResult, StreamSlots } from '../../core/stream-slots.ts';

export class MemoryStreamSlots implements StreamSlots {
  private readonly slots = new Map<string, Map<string, number>>();
  private readonly now: () => number;

  constructor(options: { now?: () => number } = {}) {
    this.now = options.now ?? Date.now;
  }

  acquire(key: string, slotId: string, limit: number, leaseMs: number): Promise<SlotResult> {
    // No await before the slot is taken: chats sent at once (one WebSocket frame batch) see each other's slots.
    const now = this.now();
    const slots = this.live(key, now);
    if (!slots.has(slotId) && slots.size >= limit) {
      return Promise.resolve({ acquired: false, running: slots.size });
    }
    slots.set(slotId, now + leaseMs);
    this.slots.set(key, slots);
    return Promise.resolve({ acquired: true });
  }

  refresh(key: string, slotId: string, leaseMs: number): Promise<void> {
    const slots = this.slots.get(key) ?? new Map<string, number>();
    slots.set(slotId, this.now() + leaseMs);
    this.slots.set(key, slots);
    return Promise.resolve();
  }

  release(key: string, slotId: string): Promise<void> {
    const slots = this.slots.get(key);
    slots?.delete(slotId);
    if (slots?.size === 0) this.slots.delete(key);
    return Promise.resolve();
  }

  private live(key: string, now: number): Map<string, number> {
    const slots = this.slots.get(key) ?? new Map<string, number>();
    for (const [slotId, expiresAt] of slots) if (expiresAt <= now) slots.delete(slotId);
    return slots;
  }
}
