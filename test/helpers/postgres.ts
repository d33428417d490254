// PostgreSQL for tests: a fresh database per test file (dropped afterwards) on the server DATABASE_URL names (.ci/run
// sets it). Without DATABASE_URL, or when that server does not answer, PostgreSQL tests skip and say so once.

import postgres from 'postgres';

const BASE_URL = process.env.DATABASE_URL;

async function probe(): Promise<string | undefined> {
  if (BASE_URL === undefined || BASE_URL === '') {
    return 'DATABASE_URL is not set';
  }
  const sql = postgres(BASE_URL, { max: 1, connect_timeout: 3, onnotice: () => {} });
  try {
    await sql`SELECT 1`;
    return undefined;
  } catch (error) {
    return `PostgreSQL at DATABASE_URL does not answer (${(error as Error).message})`;
  } finally {
    await sql.end({ timeout: 1 }).catch(() => {});
  }
}

/** Why PostgreSQL tests skip here, or undefined when they run. */
export const postgresSkipReason: string | undefined = await probe();
if (postgresSkipReason !== undefined) {
  console.warn(`[postgres] PostgreSQL tests skipped: ${postgresSkipReason}.`);
}

let databases = 0;

export interface TestDatabase {
  url: string;
  name: string;
  drop(): Promise<void>;
}

/** Creates an empty database on the test server; drop() removes it, closing what still holds it. */
export async function createTestDatabase(label = 'test'): Promise<TestDatabase> {
  if (BASE_URL === undefined || postgresSkipReason !== undefined) {
    throw new Error(`PostgreSQL is not available: ${postgresSkipReason}`);
  }
  databases += 1;
  const name = `rivulet_${label.replace(/[^a-z0-9_]/gi, '_').toLowerCase()}_${process.pid}_${databases}_${Date.now().toString(36)}`;
  const admin = postgres(BASE_URL, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end({ timeout: 1 });
  }
  const url = new URL(BASE_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    async drop() {
      const sql = postgres(BASE_URL, { max: 1, onnotice: () => {} });
      try {
        await sql.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await sql.end({ timeout: 1 });
      }
    },
  };
}
