// Global setup of the `postgres` Vitest project: drops the databases the integration tests created (named
// rivulet_it_*), before the run (left by an interrupted one) and after it.

import postgres from 'postgres';
import { INTEGRATION_DATABASE_LABEL } from './helpers/test-store.ts';

async function dropTestDatabases(): Promise<void> {
  const url = process.env.DATABASE_URL;
  if (url === undefined || url === '') return;
  const sql = postgres(url, { max: 1, connect_timeout: 3, onnotice: () => {} });
  try {
    const rows = await sql<{ datname: string }[]>`
      SELECT datname FROM pg_database WHERE datname LIKE ${`rivulet\\_${INTEGRATION_DATABASE_LABEL}\\_%`}`;
    for (const { datname } of rows) await sql.unsafe(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`);
  } catch (error) {
    console.warn(`[postgres] could not drop the test databases: ${(error as Error).message}`);
  } finally {
    await sql.end({ timeout: 1 });
  }
}

export default async function setup(): Promise<() => Promise<void>> {
  await dropTestDatabases();
  return dropTestDatabases;
}
