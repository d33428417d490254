import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { queryTerms } from './bm25/bm25.ts';
import { IndexedTerms } from './indexed-terms.ts';
import { PROXIMITY, proximityBonus, rerankByProximity } from './proximity.ts';
import { analyze } from './text-analysis.ts';

const body = (text: string) => ({ documentTitle: '', heading: '', text });
const bonusOf = (query: string, fields: { documentTitle: string; heading: string; text: string }) =>
  proximityBonus(queryTerms(query), fields);

describe('proximityBonus', () => {
  it('adds weight * ln(1 + n) for each pair of query terms standing n times within the window', () => {
    expect(bonusOf('vitamin deficiency', body('vitamin deficiency'))).toBeCloseTo(
      PROXIMITY.weight * Math.log(2),
    );
    // Two near occurrences (0-1 and 6-7); 1-6 is five terms apart, outside the window.
    expect(
      bonusOf('vitamin deficiency', body('vitamin deficiency one two three four vitamin deficiency')),
    ).toBeCloseTo(PROXIMITY.weight * Math.log(3));
    // Every pair of positions within the window counts: 0-1, 0-4, 3-1, 3-4.
    expect(
      bonusOf('vitamin deficiency', body('vitamin deficiency and later vitamin deficiency')),
    ).toBeCloseTo(PROXIMITY.weight * Math.log(5));
    // Three terms side by side: three pairs, each near once.
    expect(bonusOf('vitamin deficiency rickets', body('rickets vitamin deficiency'))).toBeCloseTo(
      3 * PROXIMITY.weight * Math.log(2),
    );
  });

  it('counts terms as analysis makes them: stems match, stopwords take no place in the distance', () => {
    // "deficiencies" stems like "deficiency"; "of the" are dropped, so the two are 4 terms apart, in the window.
    expect(bonusOf('vitamin deficiency', body('deficiencies of the one two three vitamins'))).toBeGreaterThan(
      0,
    );
    expect(bonusOf('vitamin deficiency', body('deficiencies one two three four vitamins'))).toBe(0);
  });

  it("pairs only a question's first PROXIMITY.maxTerms distinct terms, however long it is", () => {
    // Filler terms that analysis keeps as they are (letters and digits, no stopwords).
    const fillers = Array.from({ length: 5_000 }, (_, index) => `zq${index.toString(36)}x`);
    const text = body('vitamin deficiency');
    const early = ['vitamin', 'deficiency', ...fillers].join(' ');
    const late = [...fillers.slice(0, PROXIMITY.maxTerms - 1), 'vitamin', 'deficiency'].join(' ');
    expect(queryTerms(early).length).toBeGreaterThan(5_000);
    expect(bonusOf(early, text)).toBeCloseTo(PROXIMITY.weight * Math.log(2));
    // "deficiency" is the 65th distinct term: it pairs with nothing, as the 64th, "vitamin", has no partner left.
    expect(bonusOf(late, text)).toBe(0);
    const hits = [
      { ...body('nothing in common'), score: 2 },
      { ...text, score: 1 },
    ];
    const scoreOfNear = (query: string) =>
      rerankByProximity(query, hits).find((hit) => hit.text === text.text)?.score;
    expect(scoreOfNear(early)).toBeCloseTo(1 + PROXIMITY.weight * Math.log(2));
    expect(scoreOfNear(late)).toBe(1);
  });

  it('is zero for fewer than two query terms, and for terms that never meet', () => {
    expect(bonusOf('vitamin', body('vitamin vitamin'))).toBe(0);
    expect(bonusOf('vitamin deficiency', body('vitamin'))).toBe(0);
  });

  it('reads title and heading as one field and the body as another, with no pair across them', () => {
    expect(
      bonusOf('vitamin deficiency', { documentTitle: 'Vitamin', heading: 'Deficiency', text: '' }),
    ).toBeGreaterThan(0);
    expect(
      bonusOf('vitamin deficiency', { documentTitle: 'About vitamin', heading: '', text: 'deficiency' }),
    ).toBe(0);
  });
});

describe('rerankByProximity', () => {
  const hit = (id: string, score: number, text: string) => ({
    id,
    score,
    documentTitle: '',
    heading: '',
    text,
  });

  it('raises a hit whose query terms stand together above one that has them apart', () => {
    const hits = [
      hit('apart', 5, 'vitamin levels were measured in spring and autumn; deficiency was rare'),
      hit('together', 4.9, 'vitamin deficiency was rare'),
    ];
    const reranked = rerankByProximity('vitamin deficiency', hits);
    expect(reranked.map((entry) => entry.id)).toEqual(['together', 'apart']);
    expect(reranked[0]?.score).toBeCloseTo(4.9 + PROXIMITY.weight * Math.log(2));
    expect(reranked[1]?.score).toBe(5);
  });

  it('keeps the first-pass order on a tie and for a one-term query', () => {
    const hits = [hit('a', 2, 'vitamin deficiency'), hit('b', 2, 'vitamin deficiency')];
    expect(rerankByProximity('vitamin deficiency', hits).map((entry) => entry.id)).toEqual(['a', 'b']);
    const far = [hit('a', 3, 'vitamin'), hit('b', 2, 'vitamin vitamin')];
    expect(rerankByProximity('vitamin', far)).toEqual(far);
  });

  it('reorders only the first PROXIMITY.depth hits and leaves the rest, still best first', () => {
    const hits = Array.from({ length: PROXIMITY.depth + 5 }, (_, i) =>
      hit(
        `h${i}`,
        100 - i,
        i % 2 === 0 ? 'vitamin deficiency' : 'vitamin and then more words about deficiency',
      ),
    );
    const reranked = rerankByProximity('vitamin deficiency', hits);
    expect(reranked).toHaveLength(hits.length);
    expect(reranked.slice(PROXIMITY.depth)).toEqual(hits.slice(PROXIMITY.depth));
    expect(new Set(reranked.slice(0, PROXIMITY.depth).map((entry) => entry.id))).toEqual(
      new Set(hits.slice(0, PROXIMITY.depth).map((entry) => entry.id)),
    );
    const scores = reranked.map((entry) => entry.score);
    expect(scores).toEqual([...scores].sort((a, b) => b - a));
  });
});

/**
 * The bonus as first written: every term of each field looked up in turn, the query terms of the last window - 1
 * positions kept in a ring. The indexed count (proximity.ts) must give exactly these sums.
 */
function referenceBonus(terms: readonly string[], fields: readonly (readonly string[])[]): number {
  if (terms.length < 2) return 0;
  const index = new Map(terms.map((term, i) => [term, i]));
  const n = index.size;
  const pairs = new Float64Array(terms.length * terms.length);
  for (const fieldTerms of fields) {
    const recent = new Int32Array(PROXIMITY.window - 1).fill(-1);
    for (let position = 0; position < fieldTerms.length; position += 1) {
      const term = index.get(fieldTerms[position] as string) ?? -1;
      if (term >= 0) {
        for (const other of recent) {
          if (other < 0 || other === term) continue;
          (pairs[Math.min(term, other) * n + Math.max(term, other)] as number) += 1;
        }
      }
      recent[position % recent.length] = term;
    }
  }
  let bonus = 0;
  for (const count of pairs) if (count > 0) bonus += Math.log1p(count);
  return PROXIMITY.weight * bonus;
}

describe('proximityBonus, counted from term positions', () => {
  it('equals the term-by-term count exactly, for any query terms and field terms', () => {
    const vocabulary = ['a', 'b', 'c', 'd', 'e', 'f'];
    // Texts here are terms separated by spaces; "analysis" splits them (the title field joins title and heading).
    const split = (text: string) => new IndexedTerms(text.split(/\s+/).filter((term) => term.length > 0));
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.constantFrom(...vocabulary), { maxLength: 6 }),
        fc.array(fc.constantFrom(...vocabulary), { maxLength: 4 }),
        fc.array(fc.constantFrom(...vocabulary), { maxLength: 4 }),
        fc.array(fc.constantFrom(...vocabulary, 'x'), { maxLength: 80 }),
        (terms, title, heading, text) => {
          const fields = { documentTitle: title.join(' '), heading: heading.join(' '), text: text.join(' ') };
          expect(proximityBonus(terms, fields, split)).toBe(
            referenceBonus(terms, [[...title, ...heading], text]),
          );
        },
      ),
      { numRuns: 2_000 },
    );
  });

  it('equals it on analysed text too', () => {
    const words = [
      'vitamin',
      'deficiency',
      'the',
      'of',
      'levels',
      'rickets',
      'vitamins',
      'deficiencies',
      'sun',
    ];
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom(...words), { maxLength: 5 }),
        fc.array(fc.constantFrom(...words), { maxLength: 60 }),
        (query, text) => {
          const terms = queryTerms(query.join(' '));
          const fields = { documentTitle: 'Vitamin D', heading: 'Deficiency', text: text.join(' ') };
          expect(proximityBonus(terms, fields)).toBe(
            referenceBonus(terms, [analyze('Vitamin D\nDeficiency'), analyze(fields.text)]),
          );
        },
      ),
    );
  });
});
