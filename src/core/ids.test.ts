import { afterEach, describe, expect, it, vi } from 'vitest';
import { newConversationId, newMessageId } from './conversation-ids.ts';
import { takeRandomBytes, timeOrderedUuid } from './ids.ts';

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** The Unix milliseconds a UUIDv7 carries in its first 48 bits. */
function millisecondsOf(uuid: string): number {
  return Number.parseInt(uuid.replaceAll('-', '').slice(0, 12), 16);
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('timeOrderedUuid', () => {
  it('is a version 7 UUID carrying the time it was made', () => {
    const before = Date.now();
    const uuid = timeOrderedUuid();
    const after = Date.now();
    expect(uuid).toMatch(UUID_V7);
    expect(millisecondsOf(uuid)).toBeGreaterThanOrEqual(before);
    expect(millisecondsOf(uuid)).toBeLessThanOrEqual(after + 1);
  });

  it('sorts in the order the ids were made, many within one millisecond, and all differ', () => {
    const ids = Array.from({ length: 20_000 }, () => timeOrderedUuid());
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('keeps counting up when the clock is set back, and past 4,096 ids in one millisecond', () => {
    const first = timeOrderedUuid();
    const now = vi.spyOn(Date, 'now').mockReturnValue(millisecondsOf(first) - 60_000);
    const later = Array.from({ length: 5_000 }, () => timeOrderedUuid());
    expect(now).toHaveBeenCalled();
    expect([first, ...later].sort()).toEqual([first, ...later]);
    for (const uuid of later) expect(uuid).toMatch(UUID_V7);
  });

  it('puts random bits after the counter: ids of one millisecond share no more than their time and counter', () => {
    vi.spyOn(Date, 'now').mockReturnValue(Date.UTC(2031, 0, 1));
    const ids = Array.from({ length: 64 }, () => timeOrderedUuid().slice(19));
    expect(new Set(ids).size).toBe(64);
  });
});

describe('generated conversation and message ids', () => {
  it('are prefixed time-ordered UUIDs, a later one sorting after an earlier one', () => {
    const conversation = newConversationId();
    const question = newMessageId();
    const answer = newMessageId();
    expect(conversation).toMatch(/^conv_/);
    expect(conversation.slice('conv_'.length)).toMatch(UUID_V7);
    expect(question.slice('msg_'.length)).toMatch(UUID_V7);
    expect(question < answer).toBe(true);
  });
});

describe('takeRandomBytes', () => {
  it('never hands out the same bytes twice, across refills of the pool', () => {
    const seen = new Set<string>();
    for (let index = 0; index < 2_000; index += 1) {
      const { bytes, offset } = takeRandomBytes(16);
      seen.add(bytes.toString('hex', offset, offset + 16));
    }
    expect(seen.size).toBe(2_000);
  });
});
