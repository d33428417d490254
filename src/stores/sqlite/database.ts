// Opens the embedded SQLite database (built-in node:sqlite), loads sqlite-vec and applies migrations in order.

import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { getLoadablePath } from 'sqlite-vec';
import { MIGRATIONS } from './migrations.ts';

export interface OpenDatabaseResult {
  db: DatabaseSync;
  /** False when the sqlite-vec extension could not be loaded (unsupported platform): vector search is off. */
  vectors: boolean;
  vectorError?: string;
}

/** `path` is a file path, or ":memory:" for a private in-memory database (tests). */
export function openDatabase(path: string): OpenDatabaseResult {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const db = new DatabaseSync(path, { allowExtension: true, enableForeignKeyConstraints: true });
  let vectors = true;
  let vectorError: string | undefined;
  try {
    db.loadExtension(getLoadablePath());
  } catch (error) {
    vectors = false;
    vectorError = error instanceof Error ? error.message : String(error);
  }
  // Extensions are loaded once, here; nothing later may load another.
  db.enableLoadExtension(false);
  if (path !== ':memory:') {
    db.exec('PRAGMA journal_mode = WAL');
    db.exec('PRAGMA synchronous = NORMAL');
  }
  db.exec('PRAGMA busy_timeout = 5000');
  migrate(db);
  return { db, vectors, ...(vectorError === undefined ? {} : { vectorError }) };
}

/** Applies every migration newer than the database's user_version, each in its own transaction. */
export function migrate(db: DatabaseSync): void {
  const row = db.prepare('PRAGMA user_version').get() as { user_version: number };
  for (let version = row.user_version; version < MIGRATIONS.length; version += 1) {
    db.exec('BEGIN IMMEDIATE');
    try {
      db.exec(MIGRATIONS[version] as string);
      db.exec(`PRAGMA user_version = ${version + 1}`);
      db.exec('COMMIT');
    } catch (error) {
      db.exec('ROLLBACK');
      throw new Error(`database migration ${version + 1} failed: ${(error as Error).message}`, {
        cause: error,
      });
    }
  }
}

/** Runs `work` in a transaction (IMMEDIATE, so writers queue instead of failing mid-way). */
export function transaction<T>(db: DatabaseSync, work: () => T): T {
  db.exec('BEGIN IMMEDIATE');
  try {
    const result = work();
    db.exec('COMMIT');
    return result;
  } catch (error) {
    db.exec('ROLLBACK');
    throw error;
  }
}
