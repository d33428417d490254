// Documents and chunks in PostgreSQL: BM25 through the lexical index (postgres-lexical.ts), vectors through pgvector
// (postgres-vectors.ts). Behaves as the SQLite store (src/stores/sqlite/sqlite-document-store.ts) does, call for call.

import { randomUUID } from 'node:crypto';
import type { TransactionSql } from 'postgres';
import {
  isUnchanged,
  hitsByRank,
  type ChunkFace,
  type ChunkHit,
  type ChunkInput,
  type ChunksByRowid,
  type ChunkRecord,
  type DocumentInput,
  type DocumentRecord,
  type DocumentStore,
  type EmbeddingSpace,
  type RankedChunks,
  type UpsertStatus,
  upsertSpace,
} from '../../core/documents.ts';
import { postgresColumns, type PostgresColumnTypes } from '../rows/columns.ts';
import {
  toChunk,
  toChunkFace,
  toDocument,
  type ChunkRow,
  type DocumentRow,
  type HitRow,
} from '../rows/documents.ts';
import { pgJson, pgText, type Sql } from './database.ts';
import { PostgresLexicalIndex } from './postgres-lexical.ts';
import {
  claimSpace,
  dropSpace,
  hasIterativeScans,
  insertVectors,
  nearestChunks,
  readSpace,
  sameSpace,
} from './postgres-vectors.ts';

/** A search that the caller gave up on rejects with the caller's reason, not the driver's cancellation error. */
async function abortable<T>(signal: AbortSignal | undefined, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (signal?.aborted === true) throw signal.reason;
    throw error;
  }
}

export class PostgresDocumentStore implements DocumentStore {
  private readonly sql: Sql;
  private readonly lexical = new PostgresLexicalIndex();
  /** False when pgvector is not enabled: documents are stored without vectors and vector search is empty. */
  private readonly vectorsAvailable: boolean;
  /** Asked once, when vectors are first searched. */
  private iterativeScans: Promise<boolean> | undefined;

  constructor(sql: Sql, options: { vectors: boolean }) {
    this.sql = sql;
    this.vectorsAvailable = options.vectors;
  }

  async upsertDocument(
    input: DocumentInput,
    chunks: readonly ChunkInput[],
  ): Promise<{ document: DocumentRecord; status: UpsertStatus }> {
    const space = upsertSpace(input, chunks, this.vectorsAvailable);
    const embeddingModel = space?.model ?? null;
    const collectionId = pgText(input.collectionId);
    const source = pgText(input.source);
    const [existingRow] = await this.sql<DocumentRow<PostgresColumnTypes>[]>`
      SELECT * FROM documents WHERE collection_id = ${collectionId} AND source = ${source}`;
    const existing = existingRow === undefined ? undefined : toDocument(existingRow, postgresColumns);
    if (existing !== undefined && isUnchanged(existing, input.contentHash, embeddingModel)) {
      return { document: existing, status: 'unchanged' };
    }
    // The first vectors fix the store's space; vectors of another space are refused (before anything is written).
    if (space !== undefined) await this.sql.begin((tx) => claimSpace(tx, space));

    const now = Date.now();
    const id = existingRow?.id ?? `doc_${randomUUID()}`;
    const document = await this.sql.begin(async (tx) => {
      // Documents put into a collection nobody owns yet (`rivulet ingest`) leave it to admins of no organisation.
      await tx`
        INSERT INTO collections (id, org_id, created_at) VALUES (${collectionId}, NULL, ${now})
        ON CONFLICT (id) DO NOTHING`;
      if (existingRow !== undefined) await this.removeChunks(tx, id);
      // One statement for both cases: a new row, or the existing one (same id and created_at) brought up to date.
      const [row] = await tx<DocumentRow<PostgresColumnTypes>[]>`
        INSERT INTO documents (id, collection_id, source, title, media_type, content_hash, embedding_model, metadata,
          chunk_count, bytes, owner_id, created_at, updated_at)
        VALUES (${id}, ${collectionId}, ${source}, ${pgText(input.title)}, ${pgText(input.mediaType)},
          ${pgText(input.contentHash)}, ${embeddingModel}, ${pgJson(input.metadata ?? {})}::text::jsonb, ${chunks.length},
          ${input.bytes}, ${input.ownerId ?? null}, ${now}, ${now})
        ON CONFLICT (collection_id, source) DO UPDATE SET title = excluded.title, media_type = excluded.media_type,
          content_hash = excluded.content_hash, embedding_model = excluded.embedding_model,
          metadata = excluded.metadata, chunk_count = excluded.chunk_count, bytes = excluded.bytes,
          updated_at = excluded.updated_at
        RETURNING *`;
      if (chunks.length > 0) await this.insertChunks(tx, id, input, chunks, space);
      return toDocument(row as DocumentRow<PostgresColumnTypes>, postgresColumns);
    });
    return { document, status: existingRow === undefined ? 'added' : 'updated' };
  }

  async getDocument(id: string): Promise<DocumentRecord | undefined> {
    const [row] = await this.sql<
      DocumentRow<PostgresColumnTypes>[]
    >`SELECT * FROM documents WHERE id = ${pgText(id)}`;
    return row === undefined ? undefined : toDocument(row, postgresColumns);
  }

  async findDocumentBySource(collectionId: string, source: string): Promise<DocumentRecord | undefined> {
    const [row] = await this.sql<DocumentRow<PostgresColumnTypes>[]>`
      SELECT * FROM documents WHERE collection_id = ${pgText(collectionId)} AND source = ${pgText(source)}`;
    return row === undefined ? undefined : toDocument(row, postgresColumns);
  }

  async listDocuments(
    collectionId: string,
    options: { limit?: number; offset?: number } = {},
  ): Promise<DocumentRecord[]> {
    // COLLATE "C": ties in time come in the same (byte) order as SQLite's, whatever the database's collation.
    const rows = await this.sql<DocumentRow<PostgresColumnTypes>[]>`
      SELECT * FROM documents WHERE collection_id = ${pgText(collectionId)}
      ORDER BY updated_at DESC, id COLLATE "C" LIMIT ${options.limit ?? 100} OFFSET ${options.offset ?? 0}`;
    return rows.map((row) => toDocument(row, postgresColumns));
  }

  async countDocuments(collectionId: string): Promise<{ documents: number; chunks: number }> {
    const [row] = await this.sql<{ documents: number; chunks: number }[]>`
      SELECT count(*) AS documents, coalesce(sum(chunk_count), 0) AS chunks
      FROM documents WHERE collection_id = ${pgText(collectionId)}`;
    return { documents: row?.documents ?? 0, chunks: row?.chunks ?? 0 };
  }

  async deleteDocument(id: string): Promise<boolean> {
    return this.sql.begin(async (tx) => {
      await this.removeChunks(tx, pgText(id));
      const deleted = await tx`DELETE FROM documents WHERE id = ${pgText(id)}`;
      return deleted.count > 0;
    });
  }

  async getChunks(ids: readonly string[]): Promise<ChunkRecord[]> {
    if (ids.length === 0) return [];
    const rows = await this.sql<ChunkRow<PostgresColumnTypes>[]>`
      SELECT rowid, id, document_id, ordinal, heading, text, metadata FROM chunks
      WHERE id = ANY(${ids.map(pgText)}::text[])`;
    const byId = new Map(rows.map((row) => [row.id, toChunk(row, postgresColumns)]));
    return ids.flatMap((id) => byId.get(pgText(id)) ?? []);
  }

  async mergeTextIndex(collectionId: string): Promise<void> {
    await this.sql.begin((tx) => this.lexical.mergePending(tx, pgText(collectionId)));
  }

  async searchText(
    collectionId: string,
    query: string,
    limit: number,
    signal?: AbortSignal,
  ): Promise<ChunkHit[]> {
    const { ranked } = await this.rankText(collectionId, query, limit, signal);
    return hitsByRank(this, collectionId, ranked, signal);
  }

  async rankText(
    collectionId: string,
    query: string,
    limit: number,
    signal?: AbortSignal,
    atGeneration?: number,
  ): Promise<RankedChunks> {
    return abortable(signal, () =>
      this.lexical.rankAt(this.sql, pgText(collectionId), query, limit, signal, atGeneration),
    );
  }

  async chunksByRowid(
    collectionId: string,
    rowids: readonly number[],
    signal?: AbortSignal,
  ): Promise<ChunksByRowid> {
    const chunks = new Map<number, ChunkFace>();
    if (rowids.length === 0) return { generation: undefined, chunks };
    return abortable(signal, async () => {
      // One statement, so the generation is the rows' snapshot's.
      const rows = await this.sql<(HitRow<PostgresColumnTypes> & { generation: number | null })[]>`
        SELECT c.rowid, c.id, c.document_id, c.ordinal, c.heading, c.text, c.metadata,
          d.title AS document_title, d.source, d.content_hash,
          (SELECT generation FROM lexical_collections WHERE collection_id = ${pgText(collectionId)}) AS generation
        FROM chunks AS c JOIN documents AS d ON d.id = c.document_id
        WHERE c.rowid = ANY(${[...rowids]}::bigint[]) AND c.collection_id = ${pgText(collectionId)}`.signal(
        signal,
      );
      let generation: number | null = null;
      for (const row of rows) {
        generation = row.generation;
        chunks.set(row.rowid, toChunkFace(row, postgresColumns));
      }
      return { generation: generation ?? undefined, chunks };
    });
  }

  async searchVector(
    collectionId: string,
    space: EmbeddingSpace,
    vector: Float32Array,
    limit: number,
    signal?: AbortSignal,
  ): Promise<ChunkHit[]> {
    if (!this.vectorsAvailable) return [];
    return abortable(signal, async () => {
      // Read each time: `rivulet ingest` or another instance may have claimed or dropped the space meanwhile.
      if (!sameSpace(await readSpace(this.sql), space)) return [];
      this.iterativeScans ??= hasIterativeScans(this.sql).catch((error: unknown) => {
        this.iterativeScans = undefined;
        throw error;
      });
      const iterative = await this.iterativeScans;
      const rows = await nearestChunks(this.sql, { iterative }, pgText(collectionId), vector, limit, signal);
      const ranked = rows.map(({ rowid, distance }) => ({ rowid, score: 1 - distance }));
      return hitsByRank(this, collectionId, ranked, signal);
    });
  }

  async embeddingSpace(): Promise<EmbeddingSpace | undefined> {
    return readSpace(this.sql);
  }

  async dropVectors(): Promise<void> {
    await this.sql.begin(async (tx) => {
      await dropSpace(tx);
      await tx`UPDATE documents SET embedding_model = NULL`;
    });
  }

  async contentHashes(documentIds: readonly string[]): Promise<Map<string, string>> {
    if (documentIds.length === 0) return new Map();
    const rows = await this.sql<{ id: string; content_hash: string }[]>`
      SELECT id, content_hash FROM documents WHERE id = ANY(${documentIds.map(pgText)}::text[])`;
    return new Map(rows.map((row) => [row.id, row.content_hash]));
  }

  /** Writes the chunks (rowids in chunk order, as SQLite assigns them), indexes them and stores their vectors. */
  private async insertChunks(
    tx: TransactionSql,
    documentId: string,
    input: DocumentInput,
    chunks: readonly ChunkInput[],
    space: EmbeddingSpace | undefined,
  ): Promise<void> {
    const collectionId = pgText(input.collectionId);
    const ids = chunks.map(() => `chk_${randomUUID()}`);
    const inserted = await tx<{ rowid: number; id: string }[]>`
      INSERT INTO chunks (id, document_id, collection_id, ordinal, heading, text, metadata)
      SELECT id, ${documentId}, ${collectionId}, ordinal, heading, text, metadata::jsonb
      FROM unnest(
        ${ids}::text[],
        ${chunks.map((chunk) => chunk.ordinal)}::int[],
        ${chunks.map((chunk) => pgText(chunk.heading))}::text[],
        ${chunks.map((chunk) => pgText(chunk.text))}::text[],
        ${chunks.map((chunk) =>
          chunk.metadata === undefined || Object.keys(chunk.metadata).length === 0
            ? null
            : pgJson(chunk.metadata),
        )}::text[]) WITH ORDINALITY AS chunk(id, ordinal, heading, text, metadata, position)
      ORDER BY position
      RETURNING rowid, id`;
    const rowids = new Map(inserted.map((row) => [row.id, row.rowid]));
    const rowidOf = (index: number): number => rowids.get(ids[index] as string) as number;
    await this.lexical.add(
      tx,
      chunks.map((chunk, index) => ({
        rowid: rowidOf(index),
        collectionId,
        title: input.title,
        heading: chunk.heading,
        text: chunk.text,
      })),
    );
    if (space !== undefined) {
      await insertVectors(
        tx,
        chunks.flatMap((chunk, index) =>
          chunk.embedding === undefined
            ? []
            : [{ rowid: rowidOf(index), collectionId, vector: chunk.embedding }],
        ),
      );
    }
  }

  /** Deletes a document's chunks and takes them out of the index (their vectors go with them: ON DELETE CASCADE). */
  private async removeChunks(tx: TransactionSql, documentId: string): Promise<void> {
    const removed = await tx<
      { rowid: number }[]
    >`DELETE FROM chunks WHERE document_id = ${documentId} RETURNING rowid`;
    await this.lexical.remove(
      tx,
      removed.map((row) => row.rowid),
    );
  }
}
