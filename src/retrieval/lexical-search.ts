// Lexical search as retrieval uses it: the store's BM25 (searchText) and the proximity rerank of its best hits
// (proximity.ts), the same over every store.

import type { ChunkHit, DocumentStore } from '../core/documents.ts';
import type { Analyze } from './analysis-cache.ts';
import { PROXIMITY, rerankByProximity } from './proximity.ts';
import { indexTerms } from './indexed-terms.ts';

/**
 * The best `limit` chunks for the query, best first: BM25's best PROXIMITY.depth (at least; `limit` when more)
 * reordered by how close together the query's terms stand in them. `analyzeText` analyses the hits' text for the
 * rerank: `indexTerms`, or a retriever's AnalysisCache.
 */
export async function searchLexical(
  documents: Pick<DocumentStore, 'searchText'>,
  collectionId: string,
  query: string,
  limit: number,
  signal?: AbortSignal,
  analyzeText: Analyze = indexTerms,
): Promise<ChunkHit[]> {
  if (!(limit >= 1)) return [];
  const hits = await documents.searchText(collectionId, query, Math.max(limit, PROXIMITY.depth), signal);
  return rerankByProximity(query, hits, analyzeText).slice(0, limit);
}
