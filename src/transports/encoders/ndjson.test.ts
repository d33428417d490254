import { describe, expect, it } from 'vitest';
import type { RunEvent } from '../../core/events.ts';
import { HOSTILE_TOKENS } from './hostile-text.test-fixture.ts';
import { encodeNdjsonBatch } from './ndjson.ts';

describe('NDJSON encoder', () => {
  it('writes one event per line and round-trips hostile text', () => {
    const events: RunEvent[] = HOSTILE_TOKENS.map((text, seq) => ({ type: 'token', seq, text }));
    const wire = encodeNdjsonBatch(events.map((event) => ({ event, json: JSON.stringify(event) })));
    const lines = wire.split('\n');
    expect(lines.at(-1)).toBe('');
    expect(lines.slice(0, -1).map((line) => JSON.parse(line) as RunEvent)).toEqual(events);
  });
});
