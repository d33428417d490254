// Documents and chunks in SQLite: BM25 through the lexical index (lexical.ts), vectors through sqlite-vec.

import { randomUUID } from 'node:crypto';
import type { DatabaseSync, StatementSync } from 'node:sqlite';
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
import { RivuletError } from '../../core/errors.ts';
import { sqliteColumns, type SqliteColumnTypes } from '../rows/columns.ts';
import {
  toChunk,
  toChunkFace,
  toDocument,
  type ChunkRow,
  type DocumentRow,
  type HitRow,
} from '../rows/documents.ts';
import { transaction } from './database.ts';
import { vectorBlob } from './json-columns.ts';
import { LexicalIndex } from './lexical.ts';

/** The `meta` key under which the embedding space of the stored vectors is recorded (JSON). */
export const SPACE_KEY = 'embedding_space';

/** Creates the sqlite-vec table of chunk vectors (rowid: the chunk's rowid) for vectors of `dimensions` floats. */
export function createVectorTable(db: DatabaseSync, dimensions: number): void {
  db.exec(`
    CREATE VIRTUAL TABLE IF NOT EXISTS chunk_vectors USING vec0(
      collection_id TEXT PARTITION KEY,
      embedding FLOAT[${dimensions}] DISTANCE_METRIC=cosine
    )`);
}

export class SqliteDocumentStore implements DocumentStore {
  private readonly db: DatabaseSync;
  private readonly lexical: LexicalIndex;
  /** False when sqlite-vec is not loaded: documents are stored without vectors and vector search is empty. */
  private readonly vectorsAvailable: boolean;
  /** As recorded in `meta`; re-read before use, since `rivulet ingest` in another process may have set or dropped it. */
  private space: EmbeddingSpace | undefined;
  private readonly readSpace: StatementSync;
  /** Whether the hits statement returns arrays (in its column order) rather than objects. */
  private readonly hitRowsAsArrays: boolean;
  private vectorStatements: { insert: StatementSync; remove: StatementSync; knn: StatementSync } | undefined;
  private readonly statements: Record<
    | 'bySource'
    | 'byId'
    | 'list'
    | 'count'
    | 'upsertDocument'
    | 'deleteDocument'
    | 'chunkRowids'
    | 'deleteChunks'
    | 'insertChunk'
    | 'faces'
    | 'chunks'
    | 'hashes'
    | 'claimCollection',
    StatementSync
  >;

  constructor(db: DatabaseSync, options: { vectors: boolean }) {
    this.db = db;
    this.lexical = new LexicalIndex(db);
    this.vectorsAvailable = options.vectors;
    this.readSpace = db.prepare('SELECT value FROM meta WHERE key = ?');
    this.statements = {
      bySource: db.prepare('SELECT * FROM documents WHERE collection_id = ? AND source = ?'),
      byId: db.prepare('SELECT * FROM documents WHERE id = ?'),
      list: db.prepare(
        'SELECT * FROM documents WHERE collection_id = ? ORDER BY updated_at DESC, id LIMIT ? OFFSET ?',
      ),
      count: db.prepare(
        'SELECT count(*) AS documents, coalesce(sum(chunk_count), 0) AS chunks FROM documents WHERE collection_id = ?',
      ),
      upsertDocument: db.prepare(`
        INSERT INTO documents (id, collection_id, source, title, media_type, content_hash, embedding_model, metadata,
          chunk_count, bytes, owner_id, created_at, updated_at)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (collection_id, source) DO UPDATE SET title = excluded.title, media_type = excluded.media_type,
          content_hash = excluded.content_hash, embedding_model = excluded.embedding_model,
          metadata = excluded.metadata, chunk_count = excluded.chunk_count, bytes = excluded.bytes,
          updated_at = excluded.updated_at`),
      deleteDocument: db.prepare('DELETE FROM documents WHERE id = ?'),
      chunkRowids: db.prepare('SELECT rowid FROM chunks WHERE document_id = ?'),
      deleteChunks: db.prepare('DELETE FROM chunks WHERE document_id = ?'),
      insertChunk: db.prepare(`
        INSERT INTO chunks (id, document_id, collection_id, ordinal, heading, text, metadata)
        VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING rowid`),
      // A search's chunks by rowid, with the collection's lexical generation on every row (one read transaction:
      // the same snapshot).
      faces: db.prepare(`
        SELECT c.rowid, c.id, c.document_id, c.ordinal, c.heading, c.text, c.metadata,
          d.title AS document_title, d.source, d.content_hash,
          (SELECT generation FROM lexical_collections WHERE collection_id = ?2) AS generation
        FROM chunks c JOIN documents d ON d.id = c.document_id
        WHERE c.rowid IN (SELECT value FROM json_each(?1)) AND c.collection_id = ?2`),
      chunks: db.prepare('SELECT rowid, * FROM chunks WHERE id IN (SELECT value FROM json_each(?))'),
      hashes: db.prepare(
        'SELECT id, content_hash FROM documents WHERE id IN (SELECT value FROM json_each(?))',
      ),
      // Documents put into a collection nobody owns yet (`rivulet ingest`) leave it to admins of no organisation.
      claimCollection: db.prepare(
        'INSERT OR IGNORE INTO collections (id, org_id, created_at) VALUES (?, NULL, ?)',
      ),
    };
    // node:sqlite builds a row object value by value; as arrays, a search's hit rows cost about a quarter less
    // (Node 24; older Node has no setReturnArrays and gives objects).
    this.hitRowsAsArrays = typeof this.statements.faces.setReturnArrays === 'function';
    if (this.hitRowsAsArrays) this.statements.faces.setReturnArrays(true);
    this.refreshSpace();
  }

  async upsertDocument(
    input: DocumentInput,
    chunks: readonly ChunkInput[],
  ): Promise<{ document: DocumentRecord; status: UpsertStatus }> {
    const space = upsertSpace(input, chunks, this.vectorsAvailable);
    const embeddingModel = space?.model ?? null;
    const existingRow = this.statements.bySource.get(input.collectionId, input.source) as
      DocumentRow<SqliteColumnTypes> | undefined;
    const existing = existingRow === undefined ? undefined : toDocument(existingRow, sqliteColumns);
    if (existing !== undefined && isUnchanged(existing, input.contentHash, embeddingModel)) {
      return { document: existing, status: 'unchanged' };
    }
    if (space !== undefined) this.useSpace(space);
    else this.refreshSpace();

    const now = Date.now();
    const metadata = JSON.stringify(input.metadata ?? {});
    const id = existingRow?.id ?? `doc_${randomUUID()}`;
    transaction(this.db, () => {
      this.statements.claimCollection.run(input.collectionId, now);
      if (existingRow !== undefined) this.removeChunks(id);
      // One statement for both cases: a new row, or the existing one (same id and created_at) brought up to date.
      this.statements.upsertDocument.run(
        id,
        input.collectionId,
        input.source,
        input.title,
        input.mediaType,
        input.contentHash,
        embeddingModel,
        metadata,
        chunks.length,
        input.bytes,
        input.ownerId ?? null,
        now,
        now,
      );
      for (const chunk of chunks) {
        const { rowid } = this.statements.insertChunk.get(
          `chk_${randomUUID()}`,
          id,
          input.collectionId,
          chunk.ordinal,
          chunk.heading,
          chunk.text,
          chunk.metadata === undefined || Object.keys(chunk.metadata).length === 0
            ? null
            : JSON.stringify(chunk.metadata),
        ) as { rowid: number };
        this.lexical.add({ rowid, title: input.title, heading: chunk.heading, text: chunk.text });
        if (space !== undefined && chunk.embedding !== undefined) {
          this.vectorStatements?.insert.run(BigInt(rowid), input.collectionId, vectorBlob(chunk.embedding));
        }
      }
    });
    const document = toDocument(
      this.statements.byId.get(id) as unknown as DocumentRow<SqliteColumnTypes>,
      sqliteColumns,
    );
    return { document, status: existingRow === undefined ? 'added' : 'updated' };
  }

  async getDocument(id: string): Promise<DocumentRecord | undefined> {
    const row = this.statements.byId.get(id) as DocumentRow<SqliteColumnTypes> | undefined;
    return row === undefined ? undefined : toDocument(row, sqliteColumns);
  }

  async findDocumentBySource(collectionId: string, source: string): Promise<DocumentRecord | undefined> {
    const row = this.statements.bySource.get(collectionId, source) as
      DocumentRow<SqliteColumnTypes> | undefined;
    return row === undefined ? undefined : toDocument(row, sqliteColumns);
  }

  async listDocuments(
    collectionId: string,
    options: { limit?: number; offset?: number } = {},
  ): Promise<DocumentRecord[]> {
    const rows = this.statements.list.all(
      collectionId,
      options.limit ?? 100,
      options.offset ?? 0,
    ) as unknown as DocumentRow<SqliteColumnTypes>[];
    return rows.map((row) => toDocument(row, sqliteColumns));
  }

  async countDocuments(collectionId: string): Promise<{ documents: number; chunks: number }> {
    const row = this.statements.count.get(collectionId) as { documents: number; chunks: number };
    return { documents: row.documents, chunks: row.chunks };
  }

  async deleteDocument(id: string): Promise<boolean> {
    const deleted = transaction(this.db, () => {
      this.refreshSpace();
      this.removeChunks(id);
      return Number(this.statements.deleteDocument.run(id).changes) > 0;
    });
    return deleted;
  }

  async getChunks(ids: readonly string[]): Promise<ChunkRecord[]> {
    const rows = this.statements.chunks.all(JSON.stringify(ids)) as unknown as ChunkRow<SqliteColumnTypes>[];
    const byId = new Map(rows.map((row) => [row.id, toChunk(row, sqliteColumns)]));
    return ids.flatMap((id) => byId.get(id) ?? []);
  }

  async mergeTextIndex(collectionId: string): Promise<void> {
    transaction(this.db, () => this.lexical.mergePending(collectionId));
  }

  async searchText(collectionId: string, query: string, limit: number): Promise<ChunkHit[]> {
    const { ranked } = this.lexical.rank(collectionId, query, limit);
    return hitsByRank(this, collectionId, ranked);
  }

  async rankText(collectionId: string, query: string, limit: number): Promise<RankedChunks> {
    return this.lexical.rank(collectionId, query, limit);
  }

  async chunksByRowid(collectionId: string, rowids: readonly number[]): Promise<ChunksByRowid> {
    const chunks = new Map<number, ChunkFace>();
    if (rowids.length === 0) return { generation: undefined, chunks };
    const found = this.statements.faces.all(JSON.stringify(rowids), collectionId);
    let generation: number | null = null;
    if (this.hitRowsAsArrays) {
      for (const columns of found as unknown as [...HitColumns, number | null][]) {
        generation = columns[10];
        chunks.set(columns[0], toChunkFace(hitRow(columns as unknown as HitColumns), sqliteColumns));
      }
    } else {
      for (const row of found as unknown as (HitRow<SqliteColumnTypes> & { generation: number | null })[]) {
        generation = row.generation;
        chunks.set(row.rowid, toChunkFace(row, sqliteColumns));
      }
    }
    return { generation: generation ?? undefined, chunks };
  }

  async searchVector(
    collectionId: string,
    space: EmbeddingSpace,
    vector: Float32Array,
    limit: number,
  ): Promise<ChunkHit[]> {
    this.refreshSpace();
    if (this.vectorStatements === undefined || !sameSpace(this.space, space)) return [];
    const rows = this.vectorStatements.knn.all(vectorBlob(vector), limit, collectionId) as unknown as {
      rowid: number;
      distance: number;
    }[];
    const ranked = rows.map(({ rowid, distance }) => ({ rowid, score: 1 - distance }));
    return hitsByRank(this, collectionId, ranked);
  }

  async embeddingSpace(): Promise<EmbeddingSpace | undefined> {
    this.refreshSpace();
    return this.space;
  }

  async dropVectors(): Promise<void> {
    transaction(this.db, () => {
      this.db.exec('DROP TABLE IF EXISTS chunk_vectors');
      this.db.prepare('DELETE FROM meta WHERE key = ?').run(SPACE_KEY);
      this.db.exec('UPDATE documents SET embedding_model = NULL');
    });
    this.space = undefined;
    this.vectorStatements = undefined;
  }

  async contentHashes(documentIds: readonly string[]): Promise<Map<string, string>> {
    const rows = this.statements.hashes.all(JSON.stringify(documentIds)) as unknown as {
      id: string;
      content_hash: string;
    }[];
    return new Map(rows.map((row) => [row.id, row.content_hash]));
  }

  private removeChunks(documentId: string): void {
    const rows = this.statements.chunkRowids.all(documentId) as unknown as { rowid: number }[];
    for (const { rowid } of rows) {
      this.lexical.delete(rowid);
      this.vectorStatements?.remove.run(BigInt(rowid));
    }
    this.statements.deleteChunks.run(documentId);
  }

  /** The first vectors fix the store's space; vectors of another space are refused. */
  private useSpace(space: EmbeddingSpace): void {
    if (!Number.isInteger(space.dimensions) || space.dimensions < 1 || space.dimensions > 8192) {
      throw new Error(`embedding dimensions out of range: ${space.dimensions}`);
    }
    // Checked and claimed in one write transaction, so two ingesting processes cannot claim different spaces.
    transaction(this.db, () => {
      this.refreshSpace();
      if (this.space !== undefined) {
        if (sameSpace(this.space, space)) return;
        throw new RivuletError('EMBEDDING_SPACE_MISMATCH', {
          detail: `stored ${this.space.model}/${this.space.dimensions}, given ${space.model}/${space.dimensions}`,
        });
      }
      createVectorTable(this.db, space.dimensions);
      this.db.prepare('INSERT INTO meta (key, value) VALUES (?, ?)').run(SPACE_KEY, JSON.stringify(space));
      this.space = space;
      this.prepareVectors();
    });
  }

  /** Adopts the space recorded in the database if it changed since we last looked. */
  private refreshSpace(): void {
    const stored = this.readSpace.get(SPACE_KEY) as { value: string } | undefined;
    const space = stored === undefined ? undefined : sqliteColumns.json<EmbeddingSpace>(stored.value);
    if (space === undefined) {
      this.space = undefined;
      this.vectorStatements = undefined;
      return;
    }
    if (this.space !== undefined && sameSpace(this.space, space) && this.vectorStatements !== undefined)
      return;
    this.space = space;
    if (this.vectorsAvailable) this.prepareVectors();
  }

  private prepareVectors(): void {
    this.vectorStatements = {
      insert: this.db.prepare('INSERT INTO chunk_vectors (rowid, collection_id, embedding) VALUES (?, ?, ?)'),
      remove: this.db.prepare('DELETE FROM chunk_vectors WHERE rowid = ?'),
      knn: this.db.prepare(
        'SELECT rowid, distance FROM chunk_vectors WHERE embedding MATCH ? AND k = ? AND collection_id = ? ORDER BY distance',
      ),
    };
  }
}

/** A hit row as an array, in the hits statement's column order. */
type HitColumns = [
  rowid: number,
  id: string,
  documentId: string,
  ordinal: number,
  heading: string,
  text: string,
  metadata: string | null,
  documentTitle: string,
  source: string,
  contentHash: string,
];

function hitRow([
  rowid,
  id,
  documentId,
  ordinal,
  heading,
  text,
  metadata,
  documentTitle,
  source,
  contentHash,
]: HitColumns): HitRow<SqliteColumnTypes> {
  return {
    rowid,
    id,
    document_id: documentId,
    ordinal,
    heading,
    text,
    metadata,
    document_title: documentTitle,
    source,
    content_hash: contentHash,
  };
}

function sameSpace(a: EmbeddingSpace | undefined, b: EmbeddingSpace): boolean {
  return a !== undefined && a.model === b.model && a.dimensions === b.dimensions;
}
