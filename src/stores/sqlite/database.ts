// Opens the embedded SQLite database (built-in node:sqlite), loads sqlite-vec and applies migrations in order.

import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { getLoadablePath } from 'sqlite-vec';
import { RivuletError } from '../../core/errors.ts';
import { MIGRATIONS } from './migrations.ts';

/** See openDatabase. Measured with the answer-cost bench: the answer's three writes 143 -> 115 µs of thread CPU. */
export const WAL_AUTOCHECKPOINT_PAGES = 4000;

export interface OpenDatabaseResult {
  db: DatabaseSync;
  /** False when the sqlite-vec extension could not be loaded (unsupported platform): vector search is off. */
  vectors: boolean;
  vectorError?: string;
  /** Schema versions before and after opening (equal when nothing was pending). */
  migrated: { from: number; to: number };
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
    // The WAL is copied back into the file (with two fsyncs) once it holds this many pages, not SQLite's 1,000: an
    // answer's writes touch the same few pages (the newest conversation and message rows, their index pages) again
    // and again, and a longer WAL copies each of them once for more answers. The WAL grows to about 16 MB. The
    // stores then hand the checkpoints to a worker thread (WalCheckpointer), which turns this off.
    db.exec(`PRAGMA wal_autocheckpoint = ${WAL_AUTOCHECKPOINT_PAGES}`);
  }
  db.exec('PRAGMA busy_timeout = 5000');
  let migrated: { from: number; to: number };
  try {
    migrated = migrate(db);
  } catch (error) {
    db.close();
    throw error;
  }
  return { db, vectors, migrated, ...(vectorError === undefined ? {} : { vectorError }) };
}

/**
 * Applies every migration newer than the database's user_version, each in its own transaction. A file migrated by a
 * newer Rivulet is refused (DATABASE_TOO_NEW): this code would not know its tables.
 */
export function migrate(db: DatabaseSync): { from: number; to: number } {
  const row = db.prepare('PRAGMA user_version').get() as { user_version: number };
  if (row.user_version > MIGRATIONS.length) {
    throw new RivuletError('DATABASE_TOO_NEW', {
      message:
        `The database's schema is version ${row.user_version}, newer than this Rivulet knows (${MIGRATIONS.length}): ` +
        'a newer release has migrated it. Run that release (or newer) against this database.',
    });
  }
  for (let version = row.user_version; version < MIGRATIONS.length; version += 1) {
    db.exec('BEGIN IMMEDIATE');
    try {
      db.exec(MIGRATIONS[version] as string);
      db.exec(`PRAGMA user_version = ${version + 1}`);
      db.exec('COMMIT');
    } catch (error) {
      db.exec('ROLLBACK');
      throw new RivuletError('MIGRATION_FAILED', {
        message: `database migration ${version + 1} failed: ${(error as Error).message}`,
        cause: error,
      });
    }
  }
  return { from: row.user_version, to: Math.max(row.user_version, MIGRATIONS.length) };
}

/** Each connection's group commit, made by groupCommit. */
const groupCommits = new WeakMap<DatabaseSync, GroupCommit>();

/** Each database's BEGIN IMMEDIATE, COMMIT and ROLLBACK, prepared once (exec parses them on every call). */
const transactionStatements = new WeakMap<
  DatabaseSync,
  Record<'begin' | 'commit' | 'rollback', StatementSync>
>();

function transactionStatementsOf(db: DatabaseSync): Record<'begin' | 'commit' | 'rollback', StatementSync> {
  let statements = transactionStatements.get(db);
  if (statements === undefined) {
    statements = {
      begin: db.prepare('BEGIN IMMEDIATE'),
      commit: db.prepare('COMMIT'),
      rollback: db.prepare('ROLLBACK'),
    };
    transactionStatements.set(db, statements);
  }
  return statements;
}

/**
 * Runs `work` in a transaction (IMMEDIATE, so writers queue instead of failing mid-way). Group-committed writes still
 * pending are committed first, so writes reach the file in the order they were issued.
 */
export function transaction<T>(db: DatabaseSync, work: () => T): T {
  groupCommits.get(db)?.flush();
  const statements = transactionStatementsOf(db);
  statements.begin.run();
  try {
    const result = work();
    statements.commit.run();
    return result;
  } catch (error) {
    statements.rollback.run();
    throw error;
  }
}

interface PendingWrite {
  work: () => unknown;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

/**
 * While `busy()` says the event loop has been busy a while (EventLoopBusy), a new group waits `delayMs` for other
 * writes before its commit (see GroupCommit). `busy` is asked once per group.
 */
export interface CommitDelay {
  delayMs: number;
  busy: () => boolean;
}

/**
 * Group commit: the writes issued in one event-loop turn run in one transaction, committed at the end of the turn
 * (setImmediate), each in its own savepoint, so a write that fails rolls back only itself and its caller alone gets
 * the error. Each promise settles after the COMMIT. Answers running at once otherwise commit one by one, each writing
 * the same leaf and index pages (the newest message and conversation rows) to the WAL again.
 *
 * With a CommitDelay, a group started while the event loop is busy is committed `delayMs` later instead, with every
 * write issued meanwhile: under a burst of new answers each turn brings about one write, and one commit per write is
 * what fell behind first (a commit's fixed cost and its WAL frames, paid again for every answer). Idle or lightly
 * loaded, nothing waits.
 */
export class GroupCommit {
  readonly #db: DatabaseSync;
  readonly #delay: CommitDelay | undefined;
  #pending: PendingWrite[] = [];
  /** The commit that is due: at the end of the turn, or after the delay. */
  #due: { immediate: NodeJS.Immediate } | { timer: NodeJS.Timeout } | undefined;
  #savepoint: Record<'open' | 'release' | 'undo', StatementSync> | undefined;

  constructor(db: DatabaseSync, delay?: CommitDelay) {
    this.#db = db;
    this.#delay = delay !== undefined && delay.delayMs > 0 ? delay : undefined;
  }

  /** Queues `work` (synchronous statements, no transaction of its own) for this group's commit. */
  run<T>(work: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#pending.push({ work, resolve: resolve as (value: unknown) => void, reject });
      if (this.#due === undefined) {
        const delay = this.#delay;
        const flush = (): void => {
          this.flush();
        };
        this.#due =
          delay !== undefined && delay.busy()
            ? { timer: setTimeout(flush, delay.delayMs) }
            : { immediate: setImmediate(flush) };
      }
    });
  }

  /**
   * Commits the pending writes now (when their turn or delay ends, before a transaction(), and before closing).
   */
  flush(): void {
    const due = this.#due;
    if (due !== undefined) {
      if ('timer' in due) clearTimeout(due.timer);
      else clearImmediate(due.immediate);
      this.#due = undefined;
    }
    const writes = this.#pending;
    if (writes.length === 0) return;
    this.#pending = [];
    const settled: Array<{ ok: true; value: unknown } | { ok: false; error: unknown }> = [];
    try {
      const statements = transactionStatementsOf(this.#db);
      statements.begin.run();
      try {
        if (writes.length === 1) {
          // Alone: the transaction is its savepoint.
          settled.push({ ok: true, value: (writes[0] as PendingWrite).work() });
        } else {
          const savepoint = this.savepointStatements();
          for (const write of writes) {
            savepoint.open.run();
            try {
              settled.push({ ok: true, value: write.work() });
            } catch (error) {
              savepoint.undo.run();
              settled.push({ ok: false, error });
            }
            savepoint.release.run();
          }
        }
        statements.commit.run();
      } catch (error) {
        if (this.#db.isTransaction) statements.rollback.run();
        throw error;
      }
    } catch (error) {
      // The transaction itself failed (busy, I/O, closed): nothing was stored, every write gets the error.
      for (const write of writes) write.reject(error);
      return;
    }
    writes.forEach((write, index) => {
      const outcome = settled[index] as (typeof settled)[number];
      if (outcome.ok) write.resolve(outcome.value);
      else write.reject(outcome.error);
    });
  }

  private savepointStatements(): Record<'open' | 'release' | 'undo', StatementSync> {
    this.#savepoint ??= {
      open: this.#db.prepare('SAVEPOINT grouped_write'),
      release: this.#db.prepare('RELEASE grouped_write'),
      undo: this.#db.prepare('ROLLBACK TO grouped_write'),
    };
    return this.#savepoint;
  }
}

/**
 * The database's group commit (one per connection, so closing can flush it). `delay` is given where the group is
 * made (openSqliteStores, before any store asks for it); giving one to a group made already throws.
 */
export function groupCommit(db: DatabaseSync, delay?: CommitDelay): GroupCommit {
  let group = groupCommits.get(db);
  if (group !== undefined && delay !== undefined) {
    // A delay given after a store made the group would be dropped without a sign.
    throw new Error('groupCommit: the connection has its group commit already; give its delay first');
  }
  if (group === undefined) {
    group = new GroupCommit(db, delay);
    groupCommits.set(db, group);
  }
  return group;
}
