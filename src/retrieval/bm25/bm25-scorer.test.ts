import { describe, expect, it } from 'vitest';
import { BM25, queryTerms } from './bm25.ts';
import { Bm25Scorer, type TermPostings } from './bm25-scorer.ts';
import { encodePosting, joinPostings } from './postings.ts';

/** A chunk's occurrences of one term: [rowid, length, title frequency, text frequency]. */
type Occurrence = [rowid: number, length: number, title: number, text: number];

function reference(chunks: number, terms: number, lists: Occurrence[][], limit: number) {
  const { k1, b, titleWeight } = BM25;
  const average = terms / chunks;
  const scores = new Map<number, number>();
  for (const list of lists) {
    const idf = Math.log(1 + (chunks - list.length + 0.5) / (list.length + 0.5));
    for (const [rowid, length, title, text] of list) {
      const tf = titleWeight * title + text;
      const norm = k1 * (1 - b + (b * length) / average);
      scores.set(rowid, (scores.get(rowid) ?? 0) + (idf * tf * (k1 + 1)) / (tf + norm));
    }
  }
  return [...scores]
    .sort((x, y) => y[1] - x[1] || x[0] - y[0])
    .slice(0, limit)
    .map(([rowid, score]) => ({ rowid, score }));
}

describe('Bm25Scorer', () => {
  it('scores blocked and pending postings alike, as BM25 with title terms weighted', () => {
    const lists: Occurrence[][] = [
      [
        [1, 10, 0, 1],
        [2, 30, 1, 0],
        [5, 12, 0, 3],
        [2 ** 40, 8, 0, 1],
      ],
      [
        [2, 30, 0, 2],
        [6, 5, 1, 1],
      ],
      [],
    ];
    const asBlocks = (list: Occurrence[]): TermPostings => ({
      blocks: [
        {
          count: Math.min(list.length, 1),
          data: joinPostings(list.slice(0, 1).map((entry) => encodePosting(...entry))),
        },
        {
          count: Math.max(list.length - 1, 0),
          data: joinPostings(list.slice(1).map((entry) => encodePosting(...entry))),
        },
      ].filter((block) => block.count > 0),
      pending: [],
    });
    const asPending = (list: Occurrence[]): TermPostings => ({
      blocks: [],
      pending: list.map(([rowid, length, title, text]) => ({ rowid, length, title, text })),
    });
    const stats = { chunks: 40, terms: 600 };
    const wanted = reference(stats.chunks, stats.terms, lists, 10);
    const scorer = new Bm25Scorer();
    for (const actual of [
      scorer.rank(stats, lists.map(asBlocks), 10),
      scorer.rank(stats, lists.map(asPending), 10),
    ]) {
      expect(actual.map((hit) => hit.rowid)).toEqual(wanted.map((hit) => hit.rowid));
      actual.forEach((hit, i) => expect(hit.score).toBeCloseTo(wanted[i]?.score ?? NaN, 12));
    }
    expect(scorer.rank(stats, lists.map(asBlocks), 2)).toEqual(
      scorer.rank(stats, lists.map(asBlocks), 10).slice(0, 2),
    );
    expect(scorer.rank(stats, lists.map(asBlocks), 0)).toEqual([]);
    expect(scorer.rank({ chunks: 0, terms: 0 }, lists.map(asBlocks), 10)).toEqual([]);
  });

  it('breaks ties by the lower rowid and reuses its table across queries of any size', () => {
    const scorer = new Bm25Scorer();
    const many = Array.from({ length: 5_000 }, (_, i) => ({
      rowid: 5_000 - i,
      length: 10,
      title: 0,
      text: 1,
    }));
    const hits = scorer.rank({ chunks: 10_000, terms: 100_000 }, [{ blocks: [], pending: many }], 3);
    expect(hits.map((hit) => hit.rowid)).toEqual([1, 2, 3]);
    const small = scorer.rank({ chunks: 10, terms: 100 }, [{ blocks: [], pending: many.slice(0, 2) }], 5);
    expect(small.map((hit) => hit.rowid)).toEqual([4_999, 5_000]);
  });

  it('searches the distinct analyzed terms of a query', () => {
    expect(queryTerms('How do refunds work? Refund policy, refunds!')).toEqual(['refund', 'work', 'polici']);
    expect(queryTerms('what is the')).toEqual([]);
  });

  it('keeps the terms of recent queries: the same array for the same question, read-only', () => {
    const question = 'How are refunds paid back?';
    const terms = queryTerms(question);
    expect(queryTerms(question)).toBe(terms);
    expect(Object.isFrozen(terms)).toBe(true);
    expect(queryTerms('How are invoices paid?')).toEqual(['invoic', 'paid']);
    // Many other questions later, the first is analysed again, to the same terms.
    for (let index = 0; index < 100; index += 1) queryTerms(`question number ${index}`);
    expect(queryTerms(question)).not.toBe(terms);
    expect(queryTerms(question)).toEqual(terms);
    // A long text is analysed every time (it is not kept), to the same terms.
    const long = `${'refund '.repeat(200)}policy`;
    expect(queryTerms(long)).toEqual(['refund', 'polici']);
    expect(queryTerms(long)).not.toBe(queryTerms(long));
  });
});
