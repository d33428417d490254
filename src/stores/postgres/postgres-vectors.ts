// Chunk vectors in PostgreSQL with pgvector: the embedding space claim (the chunk_vectors table and its HNSW index are
// made when the first vectors arrive, since their dimensions are known only then) and k-nearest search within a
// collection. Used by the document store and by import (src/stores/transfer/).
//
// Vectors travel as text ("[0.1,0.2]") cast with `::text::vector`: a parameter typed `vector` would make the driver
// look up the extension's type first, on another connection, which a one-connection pool (PGlite in tests) never
// has free.

import type { TransactionSql } from 'postgres';
import type { EmbeddingSpace } from '../../core/documents.ts';
import { RivuletError } from '../../core/errors.ts';
import type { Sql } from './database.ts';

export const SPACE_KEY = 'embedding_space';

/** pgvector's HNSW index takes `vector` columns of at most this many dimensions; larger ones are searched exactly. */
const HNSW_MAX_DIMENSIONS = 2000;

/** Serialises space claims across every instance and `rivulet ingest` sharing the database. */
const SPACE_LOCK = 0x7269_7673; // "rivs"

/** A vector in pgvector's text form; a float32 printed as a double reads back as the same float32. */
export function vectorLiteral(vector: Float32Array): string {
  return `[${vector.join(',')}]`;
}

export function sameSpace(a: EmbeddingSpace | undefined, b: EmbeddingSpace): boolean {
  return a !== undefined && a.model === b.model && a.dimensions === b.dimensions;
}

/** The space recorded in `meta`, if any. */
export async function readSpace(sql: Sql | TransactionSql): Promise<EmbeddingSpace | undefined> {
  const [row] = await sql<{ value: string }[]>`SELECT value FROM meta WHERE key = ${SPACE_KEY}`;
  return row === undefined ? undefined : (JSON.parse(row.value) as EmbeddingSpace);
}

/**
 * Records `space` as the store's and makes its vector table, or checks it is the one already recorded (throws
 * EMBEDDING_SPACE_MISMATCH otherwise). Needs pgvector. Under an advisory lock, so two ingesting processes cannot claim
 * different spaces; call it in a transaction.
 */
export async function claimSpace(tx: TransactionSql, space: EmbeddingSpace): Promise<void> {
  if (!Number.isInteger(space.dimensions) || space.dimensions < 1 || space.dimensions > 8192) {
    throw new Error(`embedding dimensions out of range: ${space.dimensions}`);
  }
  await tx`SELECT pg_advisory_xact_lock(${SPACE_LOCK}::bigint)`;
  const stored = await readSpace(tx);
  if (stored !== undefined) {
    if (sameSpace(stored, space)) return;
    throw new RivuletError('EMBEDDING_SPACE_MISMATCH', {
      detail: `stored ${stored.model}/${stored.dimensions}, given ${space.model}/${space.dimensions}`,
    });
  }
  // The dimensions are an integer checked above: safe to put in the statement.
  await tx
    .unsafe(
      `
    CREATE TABLE IF NOT EXISTS chunk_vectors (
      rowid BIGINT PRIMARY KEY REFERENCES chunks (rowid) ON DELETE CASCADE,
      collection_id TEXT NOT NULL,
      embedding vector(${space.dimensions}) NOT NULL
    );
    CREATE INDEX IF NOT EXISTS chunk_vectors_by_collection ON chunk_vectors (collection_id);
    ${
      space.dimensions <= HNSW_MAX_DIMENSIONS
        ? 'CREATE INDEX IF NOT EXISTS chunk_vectors_hnsw ON chunk_vectors USING hnsw (embedding vector_cosine_ops);'
        : ''
    }`,
    )
    .simple();
  await tx`INSERT INTO meta (key, value) VALUES (${SPACE_KEY}, ${JSON.stringify(space)})`;
}

/** Forgets every vector and the space they were in. */
export async function dropSpace(tx: TransactionSql): Promise<void> {
  await tx`DROP TABLE IF EXISTS chunk_vectors`;
  await tx`DELETE FROM meta WHERE key = ${SPACE_KEY}`;
}

/** Stores chunks' vectors (the space must be claimed); one statement for all of them. */
export async function insertVectors(
  tx: TransactionSql,
  rows: readonly { rowid: number; collectionId: string; vector: Float32Array }[],
): Promise<void> {
  if (rows.length === 0) return;
  await tx`
    INSERT INTO chunk_vectors (rowid, collection_id, embedding)
    SELECT rowid, collection_id, embedding::vector
    FROM unnest(
      ${rows.map((row) => row.rowid)}::bigint[],
      ${rows.map((row) => row.collectionId)}::text[],
      ${rows.map((row) => vectorLiteral(row.vector))}::text[]) AS v(rowid, collection_id, embedding)`;
}

/**
 * Whether the server's pgvector has iterative index scans (0.8.0 and later): with them an HNSW scan filtered by
 * collection keeps going until it has `limit` rows of the collection.
 */
export async function hasIterativeScans(sql: Sql): Promise<boolean> {
  const [row] = await sql<{ version: string }[]>`
    SELECT extversion AS version FROM pg_extension WHERE extname = 'vector'`;
  const [major = 0, minor = 0] = (row?.version ?? '0').split('.').map(Number);
  return major > 0 || minor >= 8;
}

/**
 * The `limit` chunks of the collection nearest to `vector` by cosine distance, nearest first.
 *
 * The HNSW index is searched for the nearest vectors of every collection and the collection filter applies to what
 * it returns. With iterative scans (pgvector 0.8+) the scan continues until `limit` rows pass the filter
 * (strict_order keeps them in distance order). Older pgvector stops after hnsw.ef_search candidates, so there we
 * over-fetch: ef_search at ten times the limit (pgvector's maximum is 1000), which still returns fewer than `limit`
 * for a collection holding under a tenth of the vectors near the query; the planner uses the collection index and an
 * exact scan for small collections anyway.
 */
export async function nearestChunks(
  sql: Sql,
  options: { iterative: boolean },
  collectionId: string,
  vector: Float32Array,
  limit: number,
  signal?: AbortSignal,
): Promise<{ rowid: number; distance: number }[]> {
  if (!(limit >= 1)) return [];
  const efSearch = Math.min(1000, Math.max(40, options.iterative ? limit : limit * 10));
  const literal = vectorLiteral(vector);
  return sql
    .begin(async (tx) => {
      // Both settings in one round trip; they last until the end of this transaction.
      await tx
        .unsafe(
          `SET LOCAL hnsw.ef_search = ${efSearch};${options.iterative ? ' SET LOCAL hnsw.iterative_scan = strict_order;' : ''}`,
        )
        .simple();
      return tx<{ rowid: number; distance: number }[]>`
        SELECT rowid, embedding <=> ${literal}::text::vector AS distance
        FROM chunk_vectors
        WHERE collection_id = ${collectionId}
        ORDER BY embedding <=> ${literal}::text::vector
        LIMIT ${limit}`.signal(signal);
    })
    .signal(signal);
}
