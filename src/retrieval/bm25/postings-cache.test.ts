import { describe, expect, it } from 'vitest';
import type { TermPostings } from './bm25-scorer.ts';
import { PostingsCache } from './postings-cache.ts';

const stats = { chunks: 3, terms: 30 };
const postings = (bytes: number): TermPostings => ({
  blocks: bytes === 0 ? [] : [{ count: bytes / 10, data: new Uint8Array(bytes) }],
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
    expect(cache.kept('docs', ['gamma', 'beta'])).toEqual({ generation: 7, stats, lists: [undefined, beta] });
    expect(cache.bytes).toBeGreaterThan(300);
    // Asked at another generation: the collection changed, what was kept of it goes.
    expect(cache.lookup('docs', 8, ['alpha'])).toBeUndefined();
    expect(cache.bytes).toBe(0);
    expect(cache.lookup('docs', 7, ['alpha'])).toBeUndefined();
    // Kept at a newer generation: the older terms go with it; what a slower query read at an older one is not kept.
    cache.keep('docs', 8, stats, ['alpha'], [alpha]);
    cache.keep('docs', 9, stats, ['beta'], [beta]);
    cache.keep('docs', 8, stats, ['alpha'], [alpha]);
    expect(cache.lookup('docs', 9, ['alpha'])).toBeUndefined();
    expect(cache.lookup('docs', 9, ['beta'])).toEqual({ stats, lists: [beta] });
  });

  it('stays within its byte budget, counting terms without postings too', () => {
    const cache = new PostingsCache(10_000);
    // A term the collection lacks (a typo) has no postings but still costs its entry.
    for (let index = 0; index < 1_000; index += 1)
      cache.keep('docs', 1, stats, [`typo${index}`], [postings(0)]);
    expect(cache.bytes).toBeGreaterThan(0);
    expect(cache.bytes).toBeLessThanOrEqual(10_000);
    expect(cache.lookup('docs', 1, ['typo0'])).toBeUndefined();
    expect(cache.lookup('docs', 1, ['typo999'])).toBeDefined();
  });

  it('over its budget starts over; a list larger than the budget is not kept and costs the others nothing', () => {
    const cache = new PostingsCache(1_000);
    cache.keep('docs', 1, stats, ['a'], [postings(300)]);
    cache.keep('other', 1, stats, ['c'], [postings(100)]);
    const before = cache.bytes;
    cache.keep('docs', 1, stats, ['huge'], [postings(2_000)]);
    expect(cache.lookup('docs', 1, ['huge'])).toBeUndefined();
    expect(cache.bytes).toBe(before);
    expect(cache.lookup('other', 1, ['c'])).toBeDefined();
    cache.keep('docs', 1, stats, ['d'], [postings(500)]);
    expect(cache.lookup('docs', 1, ['a'])).toBeUndefined();
    expect(cache.lookup('other', 1, ['c'])).toBeUndefined();
    expect(cache.lookup('docs', 1, ['d'])?.lists).toHaveLength(1);
    expect(cache.bytes).toBeLessThanOrEqual(1_000);
  });
});
