// Lexical search as retrieval uses it: the store's BM25 (searchText) and the proximity rerank of its best hits
// (proximity.ts), the same over every store.

import type { ChunkHit, DocumentStore } from '../core/documents.ts';
import type { Analyze } from './analysis-cache.ts';
import type { ChunkCache } from './chunk-cache.ts';
import { PROXIMITY, rerankAnalysed, rerankByProximity } from './proximity.ts';
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

/**
 * searchLexical, with the hits and their analysed text from a retriever's ChunkCache: the store ranks (rankText),
 * and only chunks the cache does not hold at the ranking's generation are read. The same hits, order and scores.
 * `atGeneration`: see DocumentStore.rankText.
 */
export async function searchLexicalCached(
  documents: Pick<DocumentStore, 'rankText' | 'chunksByRowid'>,
  cache: ChunkCache,
  collectionId: string,
  query: string,
  limit: number,
  signal?: AbortSignal,
  atGeneration?: number,
): Promise<ChunkHit[]> {
  if (!(limit >= 1)) return [];
  const ranking = await documents.rankText(
    collectionId,
    query,
    Math.max(limit, PROXIMITY.depth),
    signal,
    atGeneration,
  );
  const found = await cache.found(documents, collectionId, ranking, signal);
  const best = rerankAnalysed(
    query,
    found,
    (entry) => entry.score,
    (entry) => entry.chunk,
    limit,
  );
  return best.map(({ index, score }) => (found[index] as (typeof found)[number]).chunk.hit(score));
}
