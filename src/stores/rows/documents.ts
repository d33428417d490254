// documents and chunks rows and the records they hold, for every backend.

import type { ChunkFace, ChunkRecord, DocumentRecord } from '../../core/documents.ts';
import type { ColumnCodec, ColumnTypes } from './columns.ts';

export interface DocumentRow<C extends ColumnTypes> {
  id: string;
  collection_id: string;
  source: string;
  title: string;
  media_type: string;
  content_hash: string;
  embedding_model: string | null;
  metadata: C['json'];
  chunk_count: number;
  bytes: number;
  owner_id: string | null;
  created_at: number;
  updated_at: number;
}

export interface ChunkRow<C extends ColumnTypes> {
  rowid: number;
  id: string;
  document_id: string;
  ordinal: number;
  heading: string;
  text: string;
  /** NULL when the chunk has none. */
  metadata: C['json'] | null;
}

/** A chunk joined with its document, as searches read it. */
export interface HitRow<C extends ColumnTypes> extends ChunkRow<C> {
  document_title: string;
  source: string;
  content_hash: string;
}

export function toDocument<C extends ColumnTypes>(
  row: DocumentRow<C>,
  columns: ColumnCodec<C>,
): DocumentRecord {
  return {
    id: row.id,
    collectionId: row.collection_id,
    source: row.source,
    title: row.title,
    mediaType: row.media_type,
    contentHash: row.content_hash,
    embeddingModel: row.embedding_model,
    metadata: columns.json(row.metadata),
    chunkCount: row.chunk_count,
    bytes: row.bytes,
    ownerId: row.owner_id,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export function toChunk<C extends ColumnTypes>(row: ChunkRow<C>, columns: ColumnCodec<C>): ChunkRecord {
  return {
    id: row.id,
    documentId: row.document_id,
    ordinal: row.ordinal,
    text: row.text,
    heading: row.heading,
    metadata: row.metadata === null ? {} : columns.json(row.metadata),
  };
}

/** A chunk with its document's title, source and hash: what a search finds (ChunkFace; with a score, a ChunkHit). */
export function toChunkFace<C extends ColumnTypes>(row: HitRow<C>, columns: ColumnCodec<C>): ChunkFace {
  return {
    ...toChunk(row, columns),
    documentTitle: row.document_title,
    source: row.source,
    contentHash: row.content_hash,
  };
}
