// Hybrid retrieval: BM25 with its proximity rerank (lexical-search.ts), plus vector search when an embedding
// model is configured, fused with RRF.

import type { ChunkHit, DocumentStore } from '../core/documents.ts';
import type { Embedder } from '../core/embedder.ts';
import type { Logger } from '../core/logger.ts';
import type { SourceMatch } from '../core/events.ts';
import type { MatchCandidate, Passage, QueryEmbedding, Retriever } from '../core/retriever.ts';
import { AnalysisCache } from './analysis-cache.ts';
import { ChunkCache } from './chunk-cache.ts';
import { reciprocalRankFusion } from './fusion.ts';
import { searchLexicalCached } from './lexical-search.ts';
import { sourceMatch } from './match-quality.ts';

export interface HybridRetrieverOptions {
  documents: DocumentStore;
  embedder: Embedder | undefined;
  /** Candidates taken from each retriever before fusion. */
  candidates: number;
  rrfK: number;
  logger: Logger;
}

function toPassage(hit: ChunkHit, score: number): Passage {
  return {
    chunkId: hit.id,
    documentId: hit.documentId,
    documentTitle: hit.documentTitle,
    source: hit.source,
    heading: hit.heading,
    text: hit.text,
    contentHash: hit.contentHash,
    score,
  };
}

export class HybridRetriever implements Retriever {
  private readonly options: HybridRetrieverOptions;
  /** The analysed text of sources, for the match quality. */
  private readonly analysis = new AnalysisCache();
  /** The chunks lexical search lately found, with their text analysed for the proximity rerank. */
  private readonly chunks = new ChunkCache();

  constructor(options: HybridRetrieverOptions) {
    this.options = options;
  }

  async embedQuery(question: string, signal: AbortSignal): Promise<QueryEmbedding | undefined> {
    const embedder = this.options.embedder;
    if (embedder === undefined) return undefined;
    try {
      const [vector] = await embedder.embed([question], { signal, purpose: 'query' });
      if (vector === undefined) return undefined;
      return { space: await embedder.space(), vector };
    } catch (error) {
      if (signal.aborted) throw signal.reason;
      // Answers still come from BM25 when the embedding provider fails: worse recall, not a failed answer.
      this.options.logger.warn(
        { err: error, provider: embedder.provider },
        'query embedding failed; BM25 only',
      );
      return undefined;
    }
  }

  async search(
    collectionId: string,
    query: string,
    embedding: QueryEmbedding | undefined,
    limit: number,
    signal?: AbortSignal,
    atGeneration?: number,
  ): Promise<Passage[]> {
    const { documents, candidates, rrfK } = this.options;
    // Without vector search only the best `limit` lexical hits are kept, so no more are read (the rerank still
    // reorders its PROXIMITY.depth, so they are the same hits in the same order).
    const lexicalLimit = embedding === undefined ? Math.min(limit, candidates) : candidates;
    const [lexical, vector] = await Promise.all([
      searchLexicalCached(documents, this.chunks, collectionId, query, lexicalLimit, signal, atGeneration),
      embedding === undefined
        ? Promise.resolve([])
        : documents.searchVector(collectionId, embedding.space, embedding.vector, candidates, signal),
    ]);
    if (vector.length === 0) return lexical.slice(0, limit).map((hit) => toPassage(hit, hit.score));
    // Vector hits score their cosine similarity: kept on the passage (the sources' match reports the best).
    const similarity = new Map(vector.map((hit) => [hit.id, hit.score]));
    return reciprocalRankFusion([lexical, vector], (hit) => hit.id, rrfK)
      .slice(0, limit)
      .map(({ item, score }) => {
        const passage = toPassage(item, score);
        const cosine = similarity.get(item.id);
        return cosine === undefined ? passage : { ...passage, similarity: cosine };
      });
  }

  assessMatch(question: string, sources: readonly MatchCandidate[]): SourceMatch {
    return sourceMatch(question, sources, this.analysis.analyze);
  }
}
