// The retrieval contract the pipeline uses: passages for a question, from one collection.

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
}

export interface QueryEmbedding {
  space: { model: string; dimensions: number };
  vector: Float32Array;
}

export interface Retriever {
  /** Embeds a question once, for both the semantic cache and vector search; undefined without an embedding model. */
  embedQuery(question: string, signal: AbortSignal): Promise<QueryEmbedding | undefined>;
  /** Best first; at most `limit` passages fused from BM25 and (when available) vector search. */
  search(
    collectionId: string,
    query: string,
    embedding: QueryEmbedding | undefined,
    limit: number,
  ): Promise<Passage[]>;
}
