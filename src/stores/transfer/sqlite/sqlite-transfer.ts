// Export and import for the embedded SQLite file: its tables read as records in one read transaction
// (sqlite-snapshot.ts), and records written in one write transaction (sqlite-writer.ts).

import type { DatabaseSync } from 'node:sqlite';
import { openDatabase } from '../../sqlite/database.ts';
import type { SourceSnapshot, TargetWriter, TransferSource, TransferTarget } from '../transfer-backend.ts';
import { SqliteSnapshot } from './sqlite-snapshot.ts';
import { SqliteWriter } from './sqlite-writer.ts';

/** Opens (creating and migrating if need be) the SQLite file at `path` for export or import. */
export function openSqliteTransfer(path: string): SqliteTransfer {
  const { db, vectors, vectorError } = openDatabase(path);
  // An import is one long transaction: with SQLite's default 2 MB page cache, the index and vector pages it keeps
  // rewriting spill to disk and back (twice as slow at 20k chunks). 64 MB bounds it as well, for this one connection.
  db.exec('PRAGMA cache_size = -65536');
  return new SqliteTransfer(db, {
    available: vectors,
    ...(vectorError === undefined ? {} : { error: vectorError }),
  });
}

export class SqliteTransfer implements TransferSource, TransferTarget {
  readonly backend = 'sqlite';
  readonly vectors: { available: boolean; error?: string };
  private readonly db: DatabaseSync;

  constructor(db: DatabaseSync, vectors: { available: boolean; error?: string }) {
    this.db = db;
    this.vectors = vectors;
  }

  async snapshot<T>(work: (snapshot: SourceSnapshot) => Promise<T>): Promise<T> {
    // A read transaction: in WAL mode it sees the database as of its first read, whatever a server writes meanwhile.
    this.db.exec('BEGIN');
    try {
      this.db.prepare('SELECT count(*) FROM meta').get();
      return await work(new SqliteSnapshot(this.db, this.vectors.available));
    } finally {
      this.db.exec('COMMIT');
    }
  }

  async transaction<T>(work: (writer: TargetWriter) => Promise<T>): Promise<T> {
    this.db.exec('BEGIN IMMEDIATE');
    try {
      const result = await work(new SqliteWriter(this.db, this.vectors.available));
      this.db.exec('COMMIT');
      return result;
    } catch (error) {
      // SQLite may have rolled back already (a full disk, say): a second ROLLBACK would hide the first error.
      if (this.db.isTransaction) this.db.exec('ROLLBACK');
      throw error;
    }
  }

  close(): Promise<void> {
    if (this.db.isOpen) this.db.close();
    return Promise.resolve();
  }
}
