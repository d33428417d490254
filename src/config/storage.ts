// Where the stores live: one SQLite file under DATA_DIR (the embedded default), or PostgreSQL when DATABASE_URL is
// set. openStores (src/stores/open-stores.ts) picks the backend from these settings.

import { z } from 'zod';
import { integer, optionalText } from './fields.ts';
import type { Problems } from './problems.ts';

/**
 * DATABASE_POOL_MAX's default. The driver sends a query to an idle connection, opens another while it may, and only
 * then pipelines queries on the busy ones; an answer's statements are short, so a few connections carrying several
 * each cost less than one connection each (fewer socket writes and wake-ups on both sides). Eight answers at once on
 * the bench machine (medians of 6 trials): 10 connections 1,146 µs of Rivulet's CPU an answer and 760 in PostgreSQL,
 * 4 connections 1,050 and 665 (docs/postgres.md). Four still leaves two for answers while two ingests hold theirs in
 * transactions.
 */
export const DEFAULT_DATABASE_POOL_MAX = 4;

export const storageSchema = z.object({
  DATA_DIR: z.string().trim().min(1).default('./data'),
  DATABASE_URL: optionalText.pipe(
    z
      .string()
      .refine((value) => /^postgres(ql)?:\/\//i.test(value), {
        message: 'expected a postgres:// or postgresql:// URL',
      })
      .optional(),
  ),
  DATABASE_POOL_MAX: integer(DEFAULT_DATABASE_POOL_MAX, 1),
  SQLITE_COMMIT_DELAY_MS: integer(5).pipe(z.number().max(100)),
});
export type StorageValues = z.infer<typeof storageSchema>;

export interface StorageSettings {
  /** Directory of the SQLite file, or ":memory:" for a database that lives as long as the process (tests). */
  dataDir: string;
  /** PostgreSQL connection URL: when set, every store lives there instead of the SQLite file. */
  databaseUrl: string | undefined;
  /** Connections this process keeps to PostgreSQL at most. */
  databasePoolMax: number;
  /**
   * SQLite: how long a group of writes (conversations, token usage) waits for more before its commit once the event
   * loop has been busy a while (0: never; see GroupCommit).
   */
  sqliteCommitDelayMs: number;
}

export function resolveStorage(values: StorageValues): StorageSettings {
  return {
    dataDir: values.DATA_DIR,
    databaseUrl: values.DATABASE_URL,
    databasePoolMax: values.DATABASE_POOL_MAX,
    sqliteCommitDelayMs: values.SQLITE_COMMIT_DELAY_MS,
  };
}

/** The longest RUN_CHECKPOINT_MS PostgreSQL allows (see checkStorage). */
export const MAX_SHARED_CHECKPOINT_MS = 30_000;

/**
 * Processes sharing a database (instances on PostgreSQL, or the workers of `rivulet serve --workers N` on either
 * backend) take an answer left unsaved for a minute for one whose process died, and mark it interrupted: there,
 * answers must be checkpointed, and more often than that.
 */
export function checkStorage(
  storage: StorageValues,
  checkpointMs: number,
  workers: number,
  problems: Problems,
): void {
  const sharedBy =
    storage.DATABASE_URL !== undefined
      ? { setting: 'DATABASE_URL', who: 'instances' }
      : workers > 1
        ? { setting: 'WORKERS above 1', who: 'workers' }
        : undefined;
  if (sharedBy === undefined) return;
  if (checkpointMs === 0 || checkpointMs > MAX_SHARED_CHECKPOINT_MS) {
    problems.add(
      'RUN_CHECKPOINT_MS',
      `must be between 1 and ${MAX_SHARED_CHECKPOINT_MS} with ${sharedBy.setting}: ${sharedBy.who} sharing the database take an answer unsaved for a minute for one whose process died`,
    );
  }
}
