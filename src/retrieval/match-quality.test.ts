import { describe, expect, it } from 'vitest';
import { passageCandidates, sourceCandidates, type Passage } from '../core/retriever.ts';
import { sourceMatch, STRONG_MATCH_SHARE } from './match-quality.ts';

const REFUNDS =
  'Refund policy\nTiming\nRefunds are issued within 14 days after the parcel reaches our warehouse.';
const SHIPPING = 'Shipping\nOrders above 50 euros ship free of charge.';

function passage(text: string, similarity?: number): Passage {
  return {
    chunkId: 'c',
    documentId: 'd',
    documentTitle: 'Title',
    source: 'a.md',
    heading: '',
    text,
    contentHash: 'h',
    score: 0.5,
    ...(similarity === undefined ? {} : { similarity }),
  };
}

describe('sourceMatch', () => {
  it('is none without sources, whatever the question', () => {
    expect(sourceMatch('When are refunds issued?', [])).toEqual({
      quality: 'none',
      topScore: 0,
      matchedTerms: 0,
      queryTerms: 2,
    });
  });

  it('is strong when one source holds most of the question’s terms (stemmed, stopwords ignored)', () => {
    // "when", "are" are stopwords; "refunds" and "issued" stem to what the passage holds.
    expect(sourceMatch('When are refunds issued?', [{ text: SHIPPING }, { text: REFUNDS }])).toEqual({
      quality: 'strong',
      topScore: 1,
      matchedTerms: 2,
      queryTerms: 2,
    });
  });

  it('measures the best single source, not terms spread over several', () => {
    // "refunds" is in one source, "euros" in the other: each holds one of the three terms.
    const match = sourceMatch('refunds in euros for helmets', [{ text: REFUNDS }, { text: SHIPPING }]);
    expect(match).toMatchObject({ quality: 'weak', matchedTerms: 1, queryTerms: 3, topScore: 0.33 });
  });

  it('draws the line between weak and strong at 60% of the terms', () => {
    const text = 'alpha beta gamma delta epsilon';
    expect(sourceMatch('alpha beta gamma zulu yankee', [{ text }]).quality).toBe('strong');
    expect(sourceMatch('alpha beta xray zulu yankee', [{ text }]).quality).toBe('weak');
    expect(STRONG_MATCH_SHARE).toBe(0.6);
  });

  it('is none when the sources share no term with the question and vector search did not run', () => {
    expect(sourceMatch('capital of Mongolia', [{ text: REFUNDS }])).toMatchObject({
      quality: 'none',
      matchedTerms: 0,
    });
  });

  it('is weak for sources found by meaning alone, and reports the best cosine similarity', () => {
    const match = sourceMatch('capital of Mongolia', [
      { text: REFUNDS, similarity: 0.12 },
      { text: SHIPPING, similarity: 0.31234567 },
    ]);
    expect(match).toEqual({
      quality: 'weak',
      topScore: 0,
      matchedTerms: 0,
      queryTerms: 2,
      similarity: 0.3123,
    });
  });

  it('a question of stopwords alone matches nothing lexically', () => {
    expect(sourceMatch('what is it?', [{ text: REFUNDS }])).toEqual({
      quality: 'none',
      topScore: 0,
      matchedTerms: 0,
      queryTerms: 0,
    });
  });

  it('reads passages with their title and heading, and stored sources with their title and snippet', () => {
    expect(sourceMatch('warehouse timing', passageCandidates([passage(REFUNDS, 0.8)]))).toEqual({
      quality: 'strong',
      topScore: 1,
      matchedTerms: 2,
      queryTerms: 2,
      similarity: 0.8,
    });
    expect(sourceMatch('Title', passageCandidates([passage('nothing here')])).quality).toBe('strong');
    expect(
      sourceMatch(
        'refund timing',
        sourceCandidates([
          { id: '1', documentId: 'd', title: 'Refund policy', snippet: 'Timing: 14 days', score: 1 },
        ]),
      ).quality,
    ).toBe('strong');
  });
});
