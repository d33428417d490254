// The document store contract: documents, their chunks, lexical and vector search over the chunks.
// Implemented by the SQLite store (own BM25 postings, sqlite-vec) and the PostgreSQL store (the same postings, pgvector).

export interface DocumentRecord {
  id: string;
  /** The chatbot's document collection ("default" on a fresh install). */
  collectionId: string;
  /** Where the document came from: a path relative to the ingest root, or an upload's file name. Unique per collection. */
  source: string;
  title: string;
  /** MIME type of the original file (text/markdown, application/pdf, ...). */
  mediaType: string;
  /** sha256 of the original bytes and the ingest settings that shape the chunks: re-ingesting the same file is a no-op. */
  contentHash: string;
  metadata: Record<string, unknown>;
  chunkCount: number;
  /** Size of the original file in bytes. */
  bytes: number;
  ownerId: string | null;
  /** The embedding space ("provider:model") of the chunks' vectors, or null when they have none. */
  embeddingModel: string | null;
  createdAt: number;
  updatedAt: number;
}

/**
 * Re-ingesting is a no-op when the content hash is the same and the chunks already have vectors in the embedding
 * space in use (or no embedding model is in use). The store decides by it, and the ingestor asks it first so that an
 * unchanged file is neither parsed nor embedded.
 */
export function isUnchanged(
  existing: Pick<DocumentRecord, 'contentHash' | 'embeddingModel'>,
  contentHash: string,
  embeddingModel: string | null,
): boolean {
  return (
    existing.contentHash === contentHash &&
    (embeddingModel === null || existing.embeddingModel === embeddingModel)
  );
}

export interface ChunkInput {
  /** Position in the document, from 0. */
  ordinal: number;
  text: string;
  /** Heading path of the section the chunk sits in ("Install > Linux"), or a record label; may be empty. */
  heading: string;
  metadata?: Record<string, unknown>;
  /** Present when an embedding model is configured. */
  embedding?: Float32Array;
}

export interface ChunkRecord {
  id: string;
  documentId: string;
  ordinal: number;
  text: string;
  heading: string;
  metadata: Record<string, unknown>;
}

/** One search result: the chunk with its document's title and source. Higher score is better. */
export interface ChunkHit extends ChunkRecord {
  documentTitle: string;
  source: string;
  /** The document's content hash when the chunk was found, so an answer can say which version it rests on. */
  contentHash: string;
  score: number;
}

/** A chunk as a search finds it, without the score: what a retriever may keep between searches (RankedChunks). */
export type ChunkFace = Omit<ChunkHit, 'score'>;

/**
 * A collection's lexical ranking by chunk rowid (rankText), or its chunks read by rowid (chunksByRowid), with the
 * collection's generation read in the same snapshot. The generation changes with every write to the collection's
 * chunks (an ingest, a re-ingest, a delete, an import; in any process or instance on the database), so a chunk read
 * at one generation is the same chunk, same text and document, whenever the generation is the same again. It is
 * undefined when the collection has never had a chunk indexed.
 */
export interface RankedChunks {
  generation: number | undefined;
  /** Best first; rowids whose chunk was deleted meanwhile may appear (chunksByRowid leaves them out). */
  ranked: { rowid: number; score: number }[];
}

export interface ChunksByRowid {
  generation: number | undefined;
  /** The collection's chunks among the rowids asked for; missing ones (deleted, another collection's) are absent. */
  chunks: Map<number, ChunkFace>;
}

/**
 * The ranked chunks as hits, in rank order, with their scores, read through the store's chunksByRowid (chunks deleted
 * meanwhile are left out): every store's searchText (from its ranking) and searchVector (from its nearest chunks).
 */
export async function hitsByRank(
  store: Pick<DocumentStore, 'chunksByRowid'>,
  collectionId: string,
  ranked: RankedChunks['ranked'],
  signal?: AbortSignal,
): Promise<ChunkHit[]> {
  const { chunks } = await store.chunksByRowid(
    collectionId,
    ranked.map((entry) => entry.rowid),
    signal,
  );
  const hits: ChunkHit[] = [];
  for (const { rowid, score } of ranked) {
    const face = chunks.get(rowid);
    if (face !== undefined) hits.push({ ...face, score });
  }
  return hits;
}

export interface DocumentInput {
  collectionId: string;
  source: string;
  title: string;
  mediaType: string;
  contentHash: string;
  metadata?: Record<string, unknown>;
  bytes: number;
  ownerId?: string | null;
  /** Required when the chunks carry embeddings: the space they are in. */
  embeddingSpace?: EmbeddingSpace;
}

export type UpsertStatus = 'added' | 'updated' | 'unchanged';

/**
 * The space in which a store keeps an upsert's vectors: the input's when every chunk has one and the store can keep
 * vectors, else none (the document is stored without them). Chunks with embeddings but no space are refused.
 */
export function upsertSpace(
  input: DocumentInput,
  chunks: readonly ChunkInput[],
  vectorsAvailable: boolean,
): EmbeddingSpace | undefined {
  const withVectors = chunks.length > 0 && chunks.every((chunk) => chunk.embedding !== undefined);
  if (withVectors && input.embeddingSpace === undefined) {
    throw new Error('upsertDocument: chunks carry embeddings but no embeddingSpace was given');
  }
  return withVectors && vectorsAvailable ? input.embeddingSpace : undefined;
}

export interface EmbeddingSpace {
  /** "provider:model", recorded so vectors from another model are never compared with these. */
  model: string;
  dimensions: number;
}

export interface DocumentStore {
  /**
   * Adds a document or replaces its chunks when `source` exists in the collection with another content hash (or
   * vectors from another embedding space, or none where there now are some). Unchanged content is a no-op.
   * Throws EMBEDDING_SPACE_MISMATCH when the store holds vectors of another space. Atomic: a failure leaves the old
   * version in place.
   */
  upsertDocument(
    input: DocumentInput,
    chunks: readonly ChunkInput[],
  ): Promise<{ document: DocumentRecord; status: UpsertStatus }>;
  getDocument(id: string): Promise<DocumentRecord | undefined>;
  findDocumentBySource(collectionId: string, source: string): Promise<DocumentRecord | undefined>;
  /** Newest first. */
  listDocuments(
    collectionId: string,
    options?: { limit?: number; offset?: number },
  ): Promise<DocumentRecord[]>;
  countDocuments(collectionId: string): Promise<{ documents: number; chunks: number }>;
  /** Removes the document and its chunks; false when it did not exist. */
  deleteDocument(id: string): Promise<boolean>;
  getChunks(ids: readonly string[]): Promise<ChunkRecord[]>;
  /**
   * BM25 over chunk headings, document titles and text. Best first; at most `limit`. A networked store stops the
   * search when `signal` aborts and rejects with its reason; an embedded one may finish it.
   */
  searchText(collectionId: string, query: string, limit: number, signal?: AbortSignal): Promise<ChunkHit[]>;
  /**
   * searchText's BM25 ranking without reading the chunks: rowids and scores, best first, and the collection's
   * generation as of the ranking. searchText(c, q, n) is chunksByRowid's chunks for rankText(c, q, n)'s rowids, in
   * rank order, when the two generations are the same. `atGeneration`: the collection's generation as a statement
   * read it after the question arrived (CreateConversationOptions.readGeneration); a store that keeps postings read
   * at that generation may rank from them without reading the generation again (every write committed before the
   * question is in it). A store may ignore it.
   */
  rankText(
    collectionId: string,
    query: string,
    limit: number,
    signal?: AbortSignal,
    atGeneration?: number,
  ): Promise<RankedChunks>;
  /** The collection's chunks for the given rowids, with the collection's generation as of the read. */
  chunksByRowid(
    collectionId: string,
    rowids: readonly number[],
    signal?: AbortSignal,
  ): Promise<ChunksByRowid>;
  /**
   * Finishes indexing the collection's recently added chunks for searchText (the lexical index merges new chunks
   * into its postings in batches; a small collection may never fill one, and searching unmerged chunks costs more).
   * The ingestor calls it after a batch of documents. Hits and scores are the same before and after (up to a
   * merged posting's limits, 65,535 terms a chunk and 255 occurrences a term, far beyond a chunk's size).
   */
  mergeTextIndex(collectionId: string): Promise<void>;
  /**
   * Nearest chunks by cosine distance in the given embedding space; empty when the collection has no vectors in it.
   * Score is the cosine similarity. `signal` as for searchText.
   */
  searchVector(
    collectionId: string,
    space: EmbeddingSpace,
    vector: Float32Array,
    limit: number,
    signal?: AbortSignal,
  ): Promise<ChunkHit[]>;
  /** The space of the vectors stored so far, if any. */
  embeddingSpace(): Promise<EmbeddingSpace | undefined>;
  /**
   * Forgets every stored vector and the space they were in (before re-embedding with another model); documents
   * then re-ingest as changed.
   */
  dropVectors(): Promise<void>;
  /** Content hashes of the given documents as they are now (missing ids are absent from the map). */
  contentHashes(documentIds: readonly string[]): Promise<Map<string, string>>;
}
