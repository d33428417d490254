import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { IndexedTerms, indexTerms } from './indexed-terms.ts';
import { analyze } from './text-analysis.ts';

/** encodeInTextOrder's codes for `terms`, as an array. */
function encoded(index: IndexedTerms, terms: readonly string[]): number[] {
  const codes = new Float64Array(index.length);
  const count = index.encodeInTextOrder(terms, codes, new Int32Array(3 * terms.length));
  return [...codes.subarray(0, count)];
}

/** The term sequence an index holds, rebuilt from its codes (every term of the text must be in `vocabulary`). */
function termsOf(index: IndexedTerms, vocabulary: readonly string[]): string[] {
  return encoded(index, vocabulary).map((code) => vocabulary[code % vocabulary.length] as string);
}

describe('IndexedTerms', () => {
  it('holds every term at every position it stands, and nothing else', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom<string>('a', 'b', 'c', 'd', 'e'), { maxLength: 60 }), (terms) => {
        const index = new IndexedTerms(terms);
        expect(index.length).toBe(terms.length);
        if (new Set(terms).size >= 2) expect(termsOf(index, ['a', 'b', 'c', 'd', 'e'])).toEqual(terms);
        for (const term of ['a', 'b', 'c', 'd', 'e', 'z']) expect(index.has(term)).toBe(terms.includes(term));
      }),
    );
  });

  it("puts the asked terms' positions into text order, as sorting them would, for few terms and many", () => {
    const vocabulary = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l'];
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom(...vocabulary), { maxLength: 120 }),
        fc.uniqueArray(fc.constantFrom(...vocabulary, 'missing'), { minLength: 1, maxLength: 13 }),
        (text, asked) => {
          const index = new IndexedTerms(text);
          const expected: number[] = [];
          text.forEach((term, position) => {
            const tag = asked.indexOf(term);
            if (tag !== -1) expected.push(position * asked.length + tag);
          });
          const present = new Set(text.filter((term) => asked.includes(term))).size;
          expect(encoded(index, asked)).toEqual(present >= 2 ? expected : []);
        },
      ),
    );
  });

  it('encodes positions as position * n + t, and gives nothing when fewer than two of the terms stand there', () => {
    const index = new IndexedTerms(['x', 'y', 'x', 'x', 'z']);
    expect(encoded(index, ['z', 'x'])).toEqual([1, 5, 7, 8]);
    expect(encoded(index, ['x', 'missing'])).toEqual([]);
    expect(encoded(index, ['missing', 'other'])).toEqual([]);
  });

  it('indexes the terms analysis gives', () => {
    const text = 'Resuming a stream: the client resumes the stream after the connection drops.';
    const terms = analyze(text);
    expect(termsOf(indexTerms(text), [...new Set(terms)])).toEqual(terms);
  });
});
