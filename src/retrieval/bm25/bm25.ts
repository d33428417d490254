// BM25's parameters and query terms, shared by every store's lexical index (see bm25-scorer.ts).

import { analyze } from '../text-analysis.ts';

/**
 * BM25 parameters, chosen on the SciFact train queries: Lucene's defaults, and title/heading terms counted three
 * times (train nDCG@10 0.7078, twice 0.7057; Anserini's k1 0.9, b 0.4 with a flat title 0.697). The grid (k1
 * 0.6-2.2, b 0.5-1, weight 1-3) is flat near its top: 0.705-0.708 for k1 0.9-1.5, b 0.5-1.
 */
export const BM25 = { k1: 1.2, b: 0.75, titleWeight: 3 } as const;

/**
 * The terms of recent queries (at most RECENT_QUERIES, of at most RECENT_QUERY_CHARS each): one answer analyses its
 * question three times (the lexical search, the proximity rerank, the match quality).
 */
const recentQueries = new Map<string, readonly string[]>();
const RECENT_QUERIES = 64;
const RECENT_QUERY_CHARS = 1_000;

/** The distinct terms of a query, in order; empty when nothing searchable is left. Shared: never modify it. */
export function queryTerms(query: string): readonly string[] {
  const kept = recentQueries.get(query);
  if (kept !== undefined) return kept;
  const terms = Object.freeze([...new Set(analyze(query))]);
  if (query.length <= RECENT_QUERY_CHARS) {
    if (recentQueries.size >= RECENT_QUERIES)
      recentQueries.delete(recentQueries.keys().next().value as string);
    recentQueries.set(query, terms);
  }
  return terms;
}
