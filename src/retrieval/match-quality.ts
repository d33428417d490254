// How well an answer's sources matched its question: the `match` of the `sources` event (docs/protocol.md).
//
// Retrieval scores are not comparable across questions (BM25 grows with term rarity and text length, RRF scores
// depend on ranks only, cosine similarities on the embedding model), so the quality is measured on the text: the
// share of the question's search terms (the terms BM25 searches: stopwords dropped, stemmed) that the best-matching
// source contains. That reads the same for every collection, question and model.

import type { SourceMatch } from '../core/events.ts';
import type { MatchCandidate } from '../core/retriever.ts';
import type { Analyze } from './analysis-cache.ts';
import { indexTerms } from './indexed-terms.ts';
import { queryTerms } from './bm25/bm25.ts';

/** The best source holding at least this share of the question's terms is a strong match. */
export const STRONG_MATCH_SHARE = 0.6;

/**
 * - `none`: no source, or none holds any of the question's terms and vector search did not run.
 * - `weak`: the best source holds some of the terms (less than 60%), or the sources were found by meaning alone
 *   (vector search) without sharing a term.
 * - `strong`: a source holds at least 60% of the question's distinct terms (all of them for one or two).
 *
 * `analyzeText` analyses the sources' text: `indexTerms`, or a retriever's AnalysisCache.
 */
export function sourceMatch(
  question: string,
  sources: readonly MatchCandidate[],
  analyzeText: Analyze = indexTerms,
): SourceMatch {
  const terms = new Set(queryTerms(question));
  let matchedTerms = 0;
  let similarity: number | undefined;
  for (const source of sources) {
    if (source.similarity !== undefined) similarity = Math.max(similarity ?? -1, source.similarity);
    if (terms.size === 0 || matchedTerms === terms.size) continue;
    const held = analyzeText(
      source.text,
      source.chunk === undefined
        ? undefined
        : { chunkId: source.chunk.id, contentHash: source.chunk.contentHash, field: 'source' },
    );
    let count = 0;
    for (const term of terms) if (held.has(term)) count += 1;
    matchedTerms = Math.max(matchedTerms, count);
  }
  const share = terms.size === 0 ? 0 : matchedTerms / terms.size;
  const quality: SourceMatch['quality'] =
    sources.length === 0 || (matchedTerms === 0 && similarity === undefined)
      ? 'none'
      : share >= STRONG_MATCH_SHARE
        ? 'strong'
        : 'weak';
  return {
    quality,
    topScore: Math.round(share * 100) / 100,
    matchedTerms,
    queryTerms: terms.size,
    ...(similarity === undefined ? {} : { similarity: Math.round(similarity * 10_000) / 10_000 }),
  };
}
