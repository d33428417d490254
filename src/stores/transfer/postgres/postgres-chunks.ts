// Chunks on PostgreSQL, the one kind that needs more than its table: the embedding space and pgvector vectors, and
// the lexical index, built as they go in by the PostgreSQL store's own code.

import type { TransactionSql } from 'postgres';
import { pgJson } from '../../postgres/database.ts';
import { PostgresLexicalIndex } from '../../postgres/postgres-lexical.ts';
import { claimSpace, dropSpace, insertVectors, readSpace } from '../../postgres/postgres-vectors.ts';
import type { ExportedChunk, ExportedEmbeddingSpace } from '../format.ts';
import { TransferError } from '../transfer-error.ts';
import { decodeVector, encodeVector } from '../vector-codec.ts';

/** The embedding space the database's vectors are in, as a record, if any. */
export async function readSpaceRecord(tx: TransactionSql): Promise<ExportedEmbeddingSpace | undefined> {
  const space = await readSpace(tx);
  return space === undefined
    ? undefined
    : { kind: 'embedding-space', model: space.model, dimensions: space.dimensions };
}

/** Reads the vectors of a batch of chunks (by rowid) as export's base64; an empty map when there are none. */
export async function vectorReader(
  tx: TransactionSql,
  space: ExportedEmbeddingSpace | undefined,
  vectorsEnabled: boolean,
): Promise<(rowids: number[]) => Promise<Map<number, string>>> {
  const [table] = await tx<{ exists: boolean }[]>`SELECT to_regclass('chunk_vectors') IS NOT NULL AS exists`;
  if (space === undefined || table?.exists !== true) return () => Promise.resolve(new Map());
  if (!vectorsEnabled) {
    throw new TransferError(
      'refused',
      'This database holds vectors, but pgvector is not enabled here, so they cannot be read.',
    );
  }
  return async (rowids) => {
    const rows = await tx<{ rowid: number; embedding: string }[]>`
      SELECT rowid, embedding::text AS embedding FROM chunk_vectors WHERE rowid = ANY(${rowids}::bigint[])`;
    return new Map(rows.map((row) => [row.rowid, encodeVector(parsePgVector(row.embedding))]));
  };
}

/** pgvector's text form, "[1,2.5,-3]" (each float4 printed so that it reads back exactly), as float32. */
function parsePgVector(text: string): Float32Array {
  return Float32Array.from(text.slice(1, -1).split(','), Number);
}

export class PostgresChunkSink {
  private readonly tx: TransactionSql;
  private readonly vectorsAvailable: boolean;
  private readonly lexical = new PostgresLexicalIndex();
  private space: ExportedEmbeddingSpace | 'skip' | undefined;
  private skippedVectors = 0;

  constructor(tx: TransactionSql, vectorsAvailable: boolean) {
    this.tx = tx;
    this.vectorsAvailable = vectorsAvailable;
  }

  /** True once the file's embedding space is known and the target cannot store its vectors. */
  skipsVectors(): boolean {
    return this.space === 'skip';
  }

  /** The document store's own claim (vector table, index, meta), replacing a leftover space of an emptied install. */
  async claimSpace(record: ExportedEmbeddingSpace): Promise<void> {
    if (!this.vectorsAvailable) {
      this.space = 'skip';
      return;
    }
    await dropSpace(this.tx);
    await claimSpace(this.tx, { model: record.model, dimensions: record.dimensions });
    this.space = record;
  }

  /** Inserts chunks in file order (rowids keep it), indexes them with the store's lexical index, stores vectors. */
  async write(records: readonly ExportedChunk[]): Promise<void> {
    const inserted = await this.tx<{ rowid: number; id: string; collection_id: string; title: string }[]>`
      WITH inserted AS (
        INSERT INTO chunks (id, document_id, collection_id, ordinal, heading, text, metadata)
        SELECT r.id, r."documentId", d.collection_id, r.ordinal, r.heading, r.text, r.metadata
        FROM jsonb_to_recordset(${pgJson(records.map((record, n) => ({ ...record, vector: null, n })))}::text::jsonb)
          AS r(id text, "documentId" text, ordinal int, heading text, text text, metadata jsonb, n int)
        JOIN documents AS d ON d.id = r."documentId"
        ORDER BY r.n
        RETURNING rowid, id, document_id, collection_id
      )
      SELECT inserted.rowid, inserted.id, inserted.collection_id, d.title
      FROM inserted JOIN documents AS d ON d.id = inserted.document_id`;
    if (inserted.length !== records.length) await this.refuseOrphans(records);
    const byId = new Map(inserted.map((row) => [row.id, row]));
    const rowOf = (record: ExportedChunk) => byId.get(record.id) as (typeof inserted)[number];
    await this.lexical.add(
      this.tx,
      records.map((record) => {
        const row = rowOf(record);
        return {
          rowid: row.rowid,
          collectionId: row.collection_id,
          title: row.title,
          heading: record.heading,
          text: record.text,
        };
      }),
    );
    await insertVectors(this.tx, this.vectors(records, rowOf));
  }

  finish(): { warnings: string[] } {
    if (this.skippedVectors === 0) return { warnings: [] };
    return {
      warnings: [
        `${this.skippedVectors} chunk vectors were not imported: this PostgreSQL has no pgvector, so vector ` +
          'search is off and search is by keywords only. Install pgvector and ingest the documents again to ' +
          'restore it.',
      ],
    };
  }

  private vectors(
    records: readonly ExportedChunk[],
    rowOf: (record: ExportedChunk) => { rowid: number; collection_id: string },
  ): { rowid: number; collectionId: string; vector: Float32Array }[] {
    const vectors: { rowid: number; collectionId: string; vector: Float32Array }[] = [];
    for (const record of records) {
      if (record.vector === null) continue;
      const space = this.space;
      if (space === undefined) {
        throw new TransferError(
          'inconsistent',
          `chunk ${record.id} has a vector, but no embedding-space record came before it`,
        );
      }
      if (space === 'skip') {
        this.skippedVectors += 1;
        continue;
      }
      try {
        const row = rowOf(record);
        vectors.push({
          rowid: row.rowid,
          collectionId: row.collection_id,
          vector: decodeVector(record.vector, space.dimensions),
        });
      } catch (error) {
        throw new TransferError('inconsistent', `chunk ${record.id}: ${(error as Error).message}`);
      }
    }
    return vectors;
  }

  private async refuseOrphans(records: readonly ExportedChunk[]): Promise<never> {
    const ids = [...new Set(records.map((record) => record.documentId))];
    const found = await this.tx<{ id: string }[]>`SELECT id FROM documents WHERE id = ANY(${ids}::text[])`;
    const known = new Set(found.map((row) => row.id));
    const orphan = records.find((record) => !known.has(record.documentId));
    throw new TransferError(
      'inconsistent',
      `chunk ${orphan?.id} belongs to document ${orphan?.documentId}, which no document record before it names`,
    );
  }
}
