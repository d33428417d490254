import { describe, expect, it } from 'vitest';
import { encodeEvent, type RunEvent } from '../../core/events.ts';
import type { LogEntry } from '../../core/run-hub.ts';
import { CompactLog } from './compact-log.ts';

function entry(event: RunEvent): LogEntry {
  return { event, json: encodeEvent(event) };
}

const log: LogEntry[] = [
  entry({
    type: 'start',
    seq: 0,
    runId: 'run_a',
    conversationId: 'conv_a',
    messageId: 'msg_a',
    chatbotId: 'default',
    provider: 'fake',
    model: 'm',
  }),
  entry({ type: 'token', seq: 1, text: 'Hel' }),
  entry({ type: 'token', seq: 2, text: 'lo ' }),
  entry({ type: 'token', seq: 3, text: 'there' }),
  entry({
    type: 'done',
    seq: 4,
    finishReason: 'stop',
    text: 'Hello there',
    usage: null,
    cached: false,
    timings: { ttftMs: 1, totalMs: 2, phases: {} },
  }),
];

describe('CompactLog', () => {
  it('reads from any seq what a reader behind gets: tokens merged into one carrying the last seq', () => {
    const compact = new CompactLog(log);
    const expected = ['Hello there', 'Hello there', 'lo there', 'there', '', ''];
    expected.forEach((text, from) => {
      const read = compact.read(from, 100);
      const tokens = read.entries.map((e) => (e.event.type === 'token' ? e.event.text : ''));
      expect(tokens.join('')).toBe(text);
      expect(read.next).toBe(log.length);
      for (const one of read.entries) expect(JSON.parse(one.json)).toEqual(one.event);
    });
    expect(compact.read(2, 100).entries.map((e) => e.event.seq)).toEqual([3, 4]);
  });

  it('parses an event again for each replay instead of keeping the parsed copy for the rest of the retention', () => {
    const compact = new CompactLog(log);
    const first = compact.read(4, 1).entries[0]!;
    const second = compact.read(4, 1).entries[0]!;
    expect(second.event).toEqual(first.event);
    expect(second.event).not.toBe(first.event);
    expect(second.json).toBe(log[4]!.json);
  });
});
