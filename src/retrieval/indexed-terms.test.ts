import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { IndexedTerms, indexTerms } from './indexed-terms.ts';
import { analyze } from './text-analysis.ts';

/** The term sequence an index holds, rebuilt from its positions. */
function termsOf(index: IndexedTerms, vocabulary: readonly string[]): string[] {
  const terms: string[] = new Array<string>(index.length);
  for (const term of vocabulary) {
    const codes = new Float64Array(index.length);
    const count = index.encodePositions(term, 1, 0, codes, 0);
    for (const position of codes.subarray(0, count)) terms[position] = term;
  }
  return terms;
}

describe('IndexedTerms', () => {
  it('holds every term at every position it stands, and nothing else', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom<string>('a', 'b', 'c', 'd', 'e'), { maxLength: 60 }), (terms) => {
        const index = new IndexedTerms(terms);
        expect(index.length).toBe(terms.length);
        expect(termsOf(index, ['a', 'b', 'c', 'd', 'e'])).toEqual(terms);
        for (const term of ['a', 'b', 'c', 'd', 'e', 'z']) expect(index.has(term)).toBe(terms.includes(term));
      }),
    );
  });

  it('encodes positions as position * stride + tag, ascending, and counts them', () => {
    const index = new IndexedTerms(['x', 'y', 'x', 'x']);
    const codes = Float64Array.of(7, 0, 0, 0, 0);
    expect(index.encodePositions('x', 3, 2, codes, 1)).toBe(3);
    expect([...codes]).toEqual([7, 2, 8, 11, 0]);
    expect(index.encodePositions('missing', 3, 2, codes, 0)).toBe(0);
  });

  it('indexes the terms analysis gives', () => {
    const text = 'Resuming a stream: the client resumes the stream after the connection drops.';
    const terms = analyze(text);
    expect(termsOf(indexTerms(text), terms)).toEqual(terms);
  });
});
