import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { describe, expect, it } from 'vitest';
import { encodeEvent, type RunEvent } from '../../core/events.ts';
import type { LogEntry } from '../../core/run-hub.ts';
import { HOSTILE_TOKENS } from './hostile-text.test-fixture.ts';
import { encodeSseBatch, formatSseComment, formatSseFrame, formatSseRetry, parseLastEventId } from './sse.ts';

const entry = (event: RunEvent): LogEntry => ({ event, json: encodeEvent(event) });

function parseAll(chunks: string[]): {
  messages: EventSourceMessage[];
  retry: number | undefined;
  comments: string[];
} {
  const messages: EventSourceMessage[] = [];
  const comments: string[] = [];
  let retry: number | undefined;
  const parser = createParser({
    onEvent: (message) => messages.push(message),
    onRetry: (value) => (retry = value),
    onComment: (comment) => comments.push(comment),
  });
  for (const chunk of chunks) parser.feed(chunk);
  return { messages, retry, comments };
}

const tokenEvents: RunEvent[] = HOSTILE_TOKENS.map((text, seq) => ({ type: 'token', seq, text }));

describe('SSE encoder', () => {
  it('round-trips hostile token text through a real SSE parser', () => {
    const wire = encodeSseBatch('run_a', tokenEvents.map(entry));
    const { messages } = parseAll([wire]);
    expect(messages).toHaveLength(tokenEvents.length);
    messages.forEach((message, index) => {
      expect(message.id).toBe(`run_a:${index}`);
      expect(message.event).toBe('token');
      expect(JSON.parse(message.data)).toEqual(tokenEvents[index]);
    });
  });

  it('writes exactly what the generic frame formatter writes, for every event type', () => {
    const events: RunEvent[] = [
      {
        type: 'start',
        seq: 0,
        runId: 'run_a',
        conversationId: 'c',
        messageId: 'm',
        chatbotId: 'b',
        provider: 'p',
        model: 'x',
      },
      { type: 'phase', seq: 1, name: 'generate', state: 'end', durationMs: 2 },
      ...tokenEvents.map((event, index) => ({ ...event, seq: index + 2 })),
      { type: 'error', seq: 99, code: 'INTERNAL', message: 'line\nbreak', retryable: true },
    ];
    const expected = events
      .map((event) =>
        formatSseFrame({ id: `run_a:${event.seq}`, event: event.type, data: encodeEvent(event) }),
      )
      .join('');
    expect(encodeSseBatch('run_a', events.map(entry))).toBe(expected);
  });

  it('refuses a run id that would forge fields', () => {
    expect(() => encodeSseBatch('run\nevent: done', [])).toThrow(/id must not contain/);
  });

  it('survives being split at every possible chunk boundary', () => {
    const wire = formatSseRetry(1500) + encodeSseBatch('run_b', tokenEvents.map(entry));
    for (let cut = 1; cut < wire.length; cut += 7) {
      const { messages, retry } = parseAll([wire.slice(0, cut), wire.slice(cut)]);
      expect(retry).toBe(1500);
      expect(messages.map((message) => JSON.parse(message.data) as RunEvent)).toEqual(tokenEvents);
    }
  });

  it('splits multi-line data into several data lines that parse back to the original', () => {
    const data = 'first\nsecond\r\nthird\rfourth\n\ndata: fifth';
    const frame = formatSseFrame({ event: 'message', data });
    expect(frame).not.toMatch(/\r/);
    expect(frame.split('\n').filter((line) => line.startsWith('data: '))).toHaveLength(6);
    // The spec turns every line break into LF when it joins data lines.
    expect(parseAll([frame]).messages[0]?.data).toBe(data.replace(/\r\n|\r/g, '\n'));
  });

  it('refuses CR or LF in the id and event fields', () => {
    expect(() => formatSseFrame({ id: 'a\nevent: forged', data: 'x' })).toThrow(/id must not contain/);
    expect(() => formatSseFrame({ event: 'token\r', data: 'x' })).toThrow(/event must not contain/);
  });

  it('writes comments that parsers ignore as events', () => {
    const { messages, comments } = parseAll([formatSseComment('ping\nevent: x')]);
    expect(messages).toHaveLength(0);
    expect(comments).toEqual(['ping event: x']);
  });
});

describe('parseLastEventId', () => {
  it('accepts "<runId>:<seq>" and a bare seq', () => {
    expect(parseLastEventId('run_x:41', 'run_x')).toBe(41);
    expect(parseLastEventId(' 7 ', 'run_x')).toBe(7);
  });

  it('rejects another run, negative, fractional and garbage values', () => {
    for (const bad of ['run_y:3', 'run_x:-1', 'run_x:1.5', 'run_x:', 'abc', '', 'run_x:99999999999']) {
      expect(parseLastEventId(bad, 'run_x')).toBeUndefined();
    }
  });
});
