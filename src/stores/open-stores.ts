// The one way to open the stores: the server, every CLI command and the tests call openStores(config), which picks
// the backend from the configuration. Only the backends' own tests open a backend directly.

import { join } from 'node:path';
import type { Config } from '../config.ts';
import { openSqliteStores } from './sqlite/sqlite-stores.ts';
import type { StoreOptions, Stores } from './stores.ts';

/**
 * What openStores reads from the configuration. `cache` is optional so a test or a tool can open an installation
 * from its data directory alone.
 */
export type StoreConfig = Pick<Config, 'dataDir'> & { cache?: Pick<Config['cache'], 'maxEntriesPerChatbot'> };

/**
 * Opens every store of one installation. Today that is the SQLite file under DATA_DIR. The seam for more backends is
 * here: a PostgreSQL backend adds its field to StoreConfig (DATABASE_URL) and a branch before the SQLite one, and no
 * caller changes. `options` overrides what the configuration says.
 */
export function openStores(config: StoreConfig, options: StoreOptions = {}): Stores {
  const maxCachedAnswersPerChatbot = options.maxCachedAnswersPerChatbot ?? config.cache?.maxEntriesPerChatbot;
  return openSqliteStores(
    databasePath(config.dataDir),
    maxCachedAnswersPerChatbot === undefined ? {} : { maxCachedAnswersPerChatbot },
  );
}

/** The SQLite file under DATA_DIR, or an in-memory database for DATA_DIR=:memory:. */
export function databasePath(dataDir: string): string {
  return dataDir === ':memory:' ? ':memory:' : join(dataDir, 'rivulet.sqlite');
}
