import { describe, expect, it } from 'vitest';
import type { TermPostings } from './bm25-scorer.ts';
import { PostingsCache } from './postings-cache.ts';

const stats = { chunks: 3, terms: 30 };
const postings = (bytes: number): TermPostings => ({
  blocks: [{ count: bytes / 10, data: new Uint8Array(bytes) }],
  pending: [],
});

describe('PostingsCache', () => {
  it('answers only when every term was kept at the generation asked for, and drops another generation', () => {
    const cache = new PostingsCache();
    const alpha = postings(100);
    const beta = postings(200);
    cache.keep('docs', 7, stats, ['alpha', 'beta'], [alpha, beta]);
    expect(cache.lookup('docs', 7, ['beta', 'alpha'])).toEqual({ stats, lists: [beta, alpha] });
    expect(cache.lookup('docs', 7, ['alpha', 'gamma'])).toBeUndefined();
    expect(cache.lookup('other', 7, ['alpha'])).toBeUndefined();
    expect(cache.bytes).toBe(300);
    // Asked at another generation: the collection changed, what was kept of it goes.
    expect(cache.lookup('docs', 8, ['alpha'])).toBeUndefined();
    expect(cache.bytes).toBe(0);
    expect(cache.lookup('docs', 7, ['alpha'])).toBeUndefined();
    // Kept at a newer generation: the older terms go with it.
    cache.keep('docs', 8, stats, ['alpha'], [alpha]);
    cache.keep('docs', 9, stats, ['beta'], [beta]);
    expect(cache.lookup('docs', 9, ['alpha'])).toBeUndefined();
    expect(cache.lookup('docs', 9, ['beta'])).toEqual({ stats, lists: [beta] });
    expect(cache.bytes).toBe(200);
  });

  it('stays within its byte budget: over it, it starts over; a list larger than the budget is not kept', () => {
    const cache = new PostingsCache(1_000);
    cache.keep('docs', 1, stats, ['a', 'b'], [postings(400), postings(400)]);
    cache.keep('other', 1, stats, ['c'], [postings(100)]);
    expect(cache.bytes).toBe(900);
    cache.keep('docs', 1, stats, ['d'], [postings(300)]);
    expect(cache.bytes).toBe(300);
    expect(cache.lookup('docs', 1, ['a'])).toBeUndefined();
    expect(cache.lookup('other', 1, ['c'])).toBeUndefined();
    expect(cache.lookup('docs', 1, ['d'])?.lists).toHaveLength(1);
    cache.keep('docs', 1, stats, ['huge'], [postings(2_000)]);
    expect(cache.lookup('docs', 1, ['huge'])).toBeUndefined();
    expect(cache.bytes).toBeLessThanOrEqual(1_000);
  });
});
