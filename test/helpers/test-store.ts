// Which backend the integration tests run on. The default Vitest project uses SQLite; the `postgres` project
// (vitest.config.ts) runs the storage-heavy integration files again with RIVULET_TEST_STORE=postgres, where every
// server and CLI run gets DATABASE_URL for a fresh database on the test server instead of a SQLite file.

import type { TestDatabase } from './postgres.ts';

export const TEST_STORE: 'sqlite' | 'postgres' =
  process.env.RIVULET_TEST_STORE === 'postgres' ? 'postgres' : 'sqlite';

/** Databases of the postgres project are named with this prefix; its global setup drops them after the run. */
export const INTEGRATION_DATABASE_LABEL = 'it';

const byDataDir = new Map<string, Promise<TestDatabase>>();

/**
 * The environment a server or CLI run needs for `dataDir` on this project: nothing on SQLite; on PostgreSQL the
 * DATABASE_URL of a database that stands for that data directory (the same one for every server and CLI run that
 * names it, a new one for each ":memory:").
 */
export async function storeEnv(dataDir: string): Promise<Record<string, string>> {
  if (TEST_STORE !== 'postgres') return {};
  // Loaded only here: it probes the server when imported, which SQLite runs need not do.
  const { createTestDatabase } = await import('./postgres.ts');
  if (dataDir === ':memory:') return { DATABASE_URL: (await createTestDatabase(INTEGRATION_DATABASE_LABEL)).url };
  let database = byDataDir.get(dataDir);
  if (database === undefined) {
    database = createTestDatabase(INTEGRATION_DATABASE_LABEL);
    byDataDir.set(dataDir, database);
  }
  return { DATABASE_URL: (await database).url };
}
