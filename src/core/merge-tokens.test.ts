import { describe, expect, it } from 'vitest';
import type { RunEvent } from './events.ts';
import { MAX_MERGED_TOKEN_CHARS, mergeTokens } from './merge-tokens.ts';
import type { LogEntry } from './run-hub.ts';

const entry = (event: RunEvent): LogEntry => ({ event, json: JSON.stringify(event) });

describe('mergeTokens', () => {
  it('folds runs of tokens into one token carrying the last seq, leaving other events in place', () => {
    const merged = mergeTokens([
      entry({ type: 'token', seq: 0, text: 'a' }),
      entry({ type: 'token', seq: 1, text: '\n' }),
      entry({ type: 'phase', seq: 2, name: 'generate', state: 'end', durationMs: 1 }),
      entry({ type: 'token', seq: 3, text: '😀' }),
      entry({ type: 'token', seq: 4, text: '漢' }),
      entry({ type: 'token', seq: 5, text: '字' }),
    ]);
    expect(merged.map((item) => item.event)).toEqual([
      { type: 'token', seq: 1, text: 'a\n' },
      { type: 'phase', seq: 2, name: 'generate', state: 'end', durationMs: 1 },
      { type: 'token', seq: 5, text: '😀漢字' },
    ]);
    for (const item of merged) expect(JSON.parse(item.json)).toEqual(item.event);
  });

  it('keeps a lone token as it was', () => {
    const lone = entry({ type: 'token', seq: 9, text: 'x' });
    expect(mergeTokens([lone])[0]).toBe(lone);
  });

  it('caps the size of one merged frame', () => {
    const big = 'y'.repeat(MAX_MERGED_TOKEN_CHARS / 2 + 1);
    const merged = mergeTokens([0, 1, 2].map((seq) => entry({ type: 'token', seq, text: big })));
    expect(merged).toHaveLength(3);
  });
});
