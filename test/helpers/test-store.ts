// Which backend the integration tests run on. The default Vitest project uses SQLite; the `postgres` project
// (vitest.config.ts) runs the storage-heavy integration files again with RIVULET_TEST_STORE=postgres, where every
// server and CLI run gets DATABASE_URL for a fresh database on the test server instead of a SQLite file.

import type { PgliteServer } from './pglite.ts';
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
export async function storeEnv(
  dataDir: string,
  options: { vectors?: boolean } = {},
): Promise<Record<string, string>> {
  if (TEST_STORE !== 'postgres') return {};
  // The PostgreSQL server here has no pgvector: a test that needs vector search gets PGlite with it instead, over
  // the same wire protocol and driver (one connection at a time).
  if (options.vectors === true) return pgliteEnv();
  // Loaded only here: it probes the server when imported, which SQLite runs need not do.
  const { createTestDatabase } = await import('./postgres.ts');
  if (dataDir === ':memory:')
    return { DATABASE_URL: (await createTestDatabase(INTEGRATION_DATABASE_LABEL)).url };
  let database = byDataDir.get(dataDir);
  if (database === undefined) {
    database = createTestDatabase(INTEGRATION_DATABASE_LABEL);
    byDataDir.set(dataDir, database);
  }
  return { DATABASE_URL: (await database).url };
}

const pglites = new Map<string, PgliteServer>();

async function pgliteEnv(): Promise<Record<string, string>> {
  const { startPglite } = await import('./pglite.ts');
  const server = await startPglite();
  pglites.set(server.url, server);
  return { DATABASE_URL: server.url, DATABASE_POOL_MAX: '1' };
}

/** Stops the PGlite server storeEnv started for this DATABASE_URL, if it did (after the app using it closed). */
export async function releaseStore(databaseUrl: string | undefined): Promise<void> {
  const server = databaseUrl === undefined ? undefined : pglites.get(databaseUrl);
  if (server === undefined || databaseUrl === undefined) return;
  pglites.delete(databaseUrl);
  await server.stop();
}
