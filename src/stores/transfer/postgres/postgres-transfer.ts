// Export and import for PostgreSQL (DATABASE_URL): tables read through cursors in one REPEATABLE READ snapshot, and
// records written in one transaction, each batch as one INSERT from a JSON array (jsonb_to_recordset), so a batch is
// one round trip and one parameter whatever its size.

import { connect, enableVectors, migrate, storeError, type Sql } from '../../postgres/database.ts';
import type { SourceSnapshot, TargetWriter, TransferSource, TransferTarget } from '../transfer-backend.ts';
import { PostgresSnapshot } from './postgres-snapshot.ts';
import { PostgresWriter } from './postgres-writer.ts';

/** Connects, migrates the database to the code's schema and enables pgvector when the server has it. */
export async function openPostgresTransfer(url: string): Promise<PostgresTransfer> {
  // One connection: export and import each run in one transaction. A long export holds its cursors for minutes, but
  // each fetch is one query, well under the timeout.
  const sql = connect(url, { max: 1, queryTimeoutSeconds: 600 });
  try {
    await migrate(sql);
    return new PostgresTransfer(sql, await enableVectors(sql));
  } catch (error) {
    await sql.end({ timeout: 1 }).catch(() => {});
    throw storeError(error);
  }
}

export class PostgresTransfer implements TransferSource, TransferTarget {
  readonly backend = 'postgres';
  readonly vectors: { available: boolean; error?: string };
  private readonly sql: Sql;

  constructor(sql: Sql, vectors: { available: boolean; error?: string }) {
    this.sql = sql;
    this.vectors = vectors;
  }

  async snapshot<T>(work: (snapshot: SourceSnapshot) => Promise<T>): Promise<T> {
    const result = await this.sql.begin('ISOLATION LEVEL REPEATABLE READ READ ONLY', async (tx) => {
      const [row] = await tx<{ version: number }[]>`SELECT max(version) AS version FROM rivulet_migrations`;
      const snapshot = new PostgresSnapshot(tx, row?.version ?? 0, this.vectors.available);
      return [await work(snapshot)] as const;
    });
    return result[0];
  }

  async transaction<T>(work: (writer: TargetWriter) => Promise<T>): Promise<T> {
    const result = await this.sql.begin(
      async (tx) => [await work(new PostgresWriter(tx, this.vectors))] as const,
    );
    return result[0];
  }

  async close(): Promise<void> {
    await this.sql.end({ timeout: 5 });
  }
}
