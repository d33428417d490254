import { describe, expect, it } from 'vitest';
import { chunkTerms, mergedChunkTerms, parseChunkTerms, pendingPostings } from './chunk-terms.ts';

describe('chunk terms', () => {
  it('counts title and heading occurrences apart from the body, over analyzed terms', () => {
    const { length, terms } = chunkTerms({
      title: 'Refund policy',
      heading: 'Refunds',
      text: 'Refunds are issued within 14 days; a refund needs the receipt.',
    });
    expect(terms).toBe(' refund:2:2 polici:1:0 issu:0:1 within:0:1 14:0:1 dai:0:1 need:0:1 receipt:0:1 ');
    expect(length).toBe(11);
    expect(parseChunkTerms(terms)[0]).toEqual({ term: 'refund', title: 2, text: 2 });
    expect(mergedChunkTerms(terms)).toBe(' refund polici issu within 14 dai need receipt ');
    expect(parseChunkTerms(mergedChunkTerms(terms))[1]).toEqual({ term: 'polici', title: NaN, text: NaN });
  });

  it('finds a term among pending chunks by whole term only', () => {
    const chunks = [
      { rowid: 3, length: 4, terms: ' refund:1:2 dai:0:1 ' },
      { rowid: 7, length: 9, terms: ' refunds:0:1 refund2:0:1 ' },
      { rowid: 9, length: 2, terms: ' dai:0:2 refund:0:1 ' },
    ];
    expect(pendingPostings(chunks, 'refund')).toEqual([
      { rowid: 3, length: 4, title: 1, text: 2 },
      { rowid: 9, length: 2, title: 0, text: 1 },
    ]);
    expect(pendingPostings(chunks, 'missing')).toEqual([]);
  });
});
