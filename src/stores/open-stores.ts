// The one way to open the stores: the server, every CLI command and the tests call openStores(config), which picks
// the backend from the configuration. Only the backends' own tests open a backend directly.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import type { Config } from '../config.ts';
import { connect, migrate, schemaVersion } from './postgres/database.ts';
import { MIGRATIONS as POSTGRES_MIGRATIONS } from './postgres/migrations.ts';
import { openPostgresStores } from './postgres/postgres-stores.ts';
import { openDatabase } from './sqlite/database.ts';
import { MIGRATIONS as SQLITE_MIGRATIONS } from './sqlite/migrations.ts';
import { openSqliteStores } from './sqlite/sqlite-stores.ts';
import type { StoreOptions, Stores } from './stores.ts';

/**
 * What openStores reads from the configuration. Only `dataDir` is required, so a test or a tool can open an
 * installation from its data directory alone.
 */
export type StoreConfig = Pick<Config, 'dataDir'> &
  Partial<Pick<Config, 'databaseUrl' | 'databasePoolMax' | 'sqliteCommitDelayMs'>> & {
    cache?: Pick<Config['cache'], 'maxEntriesPerChatbot'>;
  };

/**
 * Opens every store of one installation: PostgreSQL when DATABASE_URL is set (migrated to the code's schema first),
 * otherwise the SQLite file under DATA_DIR. `options` overrides what the configuration says.
 */
export async function openStores(config: StoreConfig, options: StoreOptions = {}): Promise<Stores> {
  const maxCachedAnswersPerChatbot = options.maxCachedAnswersPerChatbot ?? config.cache?.maxEntriesPerChatbot;
  const storeOptions: StoreOptions = {
    ...(maxCachedAnswersPerChatbot === undefined ? {} : { maxCachedAnswersPerChatbot }),
    ...(options.shared === undefined ? {} : { shared: options.shared }),
  };
  if (config.databaseUrl !== undefined) {
    return openPostgresStores(config.databaseUrl, {
      ...storeOptions,
      ...(config.databasePoolMax === undefined ? {} : { poolMax: config.databasePoolMax }),
    });
  }
  const commitDelayMs = options.commitDelayMs ?? config.sqliteCommitDelayMs;
  return openSqliteStores(databasePath(config.dataDir), {
    ...storeOptions,
    ...(commitDelayMs === undefined ? {} : { commitDelayMs }),
  });
}

/** The SQLite file under DATA_DIR, or an in-memory database for DATA_DIR=:memory:. */
export function databasePath(dataDir: string): string {
  return dataDir === ':memory:' ? ':memory:' : join(dataDir, 'rivulet.sqlite');
}

/** Where an installation's stores live, for messages: the database host and name, or the SQLite file. */
export function describeStoreLocation(config: StoreConfig): string {
  if (config.databaseUrl !== undefined) {
    const url = new URL(config.databaseUrl);
    return `PostgreSQL ${url.hostname}${url.port === '' ? '' : `:${url.port}`}${url.pathname}`;
  }
  return databasePath(config.dataDir);
}

export interface SchemaStatus {
  backend: 'sqlite' | 'postgres';
  /** Where, without credentials (describeStoreLocation). */
  location: string;
  /** The database's schema version before (0: empty or missing). */
  from: number;
  /** Its version after (equal to `from` for a check). */
  to: number;
  /** The version this code migrates to. */
  latest: number;
}

/**
 * `rivulet migrate`: brings the installation's schema to this code's version (`apply`), or only reads where it stands.
 * The server migrates at start as well; this runs it alone, e.g. before rolling out new instances.
 */
export async function migrateStores(config: StoreConfig, apply: boolean): Promise<SchemaStatus> {
  const location = describeStoreLocation(config);
  if (config.databaseUrl !== undefined) {
    const sql = connect(config.databaseUrl, { max: 1 });
    try {
      const latest = POSTGRES_MIGRATIONS.length;
      if (!apply) {
        const version = await schemaVersion(sql);
        return { backend: 'postgres', location, from: version, to: version, latest };
      }
      return { backend: 'postgres', location, ...(await migrate(sql)), latest };
    } finally {
      await sql.end({ timeout: 1 });
    }
  }
  const path = databasePath(config.dataDir);
  const latest = SQLITE_MIGRATIONS.length;
  if (!apply) {
    if (path !== ':memory:' && !existsSync(path))
      return { backend: 'sqlite', location, from: 0, to: 0, latest };
    const db = new DatabaseSync(path, { readOnly: path !== ':memory:' });
    try {
      const { user_version: version } = db.prepare('PRAGMA user_version').get() as { user_version: number };
      return { backend: 'sqlite', location, from: version, to: version, latest };
    } finally {
      db.close();
    }
  }
  const { db, migrated } = openDatabase(path);
  db.close();
  return { backend: 'sqlite', location, ...migrated, latest };
}
