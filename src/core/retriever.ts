// The retrieval contract the pipeline uses: passages for a question, from one collection.

import type { Source, SourceMatch } from './events.ts';

export interface Passage {
  chunkId: string;
  documentId: string;
  documentTitle: string;
  /** Where the document came from (file path or upload name). */
  source: string;
  heading: string;
  text: string;
  /** The document version the passage was read from. */
  contentHash: string;
  /** Fused score, higher is better (comparable within one result list only). */
  score: number;
  /** Cosine similarity to the question, when vector search found the passage. */
  similarity?: number;
}

export interface QueryEmbedding {
  space: { model: string; dimensions: number };
  vector: Float32Array;
}

/** What the match of sources is measured on: a source's searched text and, when vector search found it, its cosine. */
export interface MatchCandidate {
  text: string;
  similarity?: number | undefined;
  /** The chunk the text is from, when it is a passage's: lets a cache find the text's terms by id. */
  chunk?: { id: string; contentHash: string };
}

/** Passages as match candidates: title, heading and text (what BM25 searched). */
export function passageCandidates(passages: readonly Passage[]): MatchCandidate[] {
  return passages.map((passage) => ({
    text: `${passage.documentTitle}\n${passage.heading}\n${passage.text}`,
    similarity: passage.similarity,
    chunk: { id: passage.chunkId, contentHash: passage.contentHash },
  }));
}

/** An answer's stored sources (a cached answer's) as match candidates: their titles and snippets. */
export function sourceCandidates(sources: readonly Source[]): MatchCandidate[] {
  return sources.map((source) => ({ text: `${source.title}\n${source.snippet}` }));
}

export interface Retriever {
  /** Embeds a question once, for both the semantic cache and vector search; undefined without an embedding model. */
  embedQuery(question: string, signal: AbortSignal): Promise<QueryEmbedding | undefined>;
  /**
   * Best first; at most `limit` passages fused from BM25 and (when available) vector search. `signal` (the run's)
   * cancels the store's queries when the answer is stopped. `atGeneration`: the collection's lexical generation as
   * read after the question arrived (DocumentStore.rankText).
   */
  search(
    collectionId: string,
    query: string,
    embedding: QueryEmbedding | undefined,
    limit: number,
    signal?: AbortSignal,
    atGeneration?: number,
  ): Promise<Passage[]>;
  /** How well sources match the question: the `sources` event's `match` (see SourceMatch). */
  assessMatch(question: string, sources: readonly MatchCandidate[]): SourceMatch;
}
