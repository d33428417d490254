// The PostgreSQL pool under load: answers at once share a few connections (the driver pipelines their short
// statements on them) instead of holding one each, and every answer is still stored. DATABASE_POOL_MAX's default
// (4; src/config/storage.ts says why). Runs in the `postgres` Vitest project only.

import postgres from 'postgres';
import { DEFAULT_DATABASE_POOL_MAX as DEFAULT_POOL } from '../../src/config/storage.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, postgresSkipReason, type TestDatabase } from '../helpers/postgres.ts';
import { chatStream, expectAnswered } from '../helpers/sse-client.ts';
import { startTestServer, type TestServer } from '../helpers/test-server.ts';

const ANSWERS_AT_ONCE = 12;

describe.skipIf(postgresSkipReason !== undefined)('the PostgreSQL pool under answers at once', () => {
  let database: TestDatabase;
  let server: TestServer;

  beforeAll(async () => {
    database = await createTestDatabase('pool');
    // No DATABASE_POOL_MAX: the default. Tokens 5 ms apart, so the answers overlap.
    server = await startTestServer(
      { DATABASE_URL: database.url, RUN_CHECKPOINT_MS: '20' },
      { tokenCount: 20, interTokenMs: 5, seed: 4 },
    );
  });
  afterAll(async () => {
    await server?.close();
    await database?.drop();
  });

  it(`keeps at most ${DEFAULT_POOL} connections for ${ANSWERS_AT_ONCE} answers at once, and stores them all`, async () => {
    const admin = postgres(database.url, { max: 1, onnotice: () => {} });
    try {
      let most = 0;
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          const [row] = await admin<{ n: number }[]>`
            SELECT count(*)::int AS n FROM pg_stat_activity
            WHERE datname = current_database() AND application_name = 'rivulet'`;
          most = Math.max(most, row?.n ?? 0);
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
      })();
      const results = await Promise.all(
        Array.from({ length: ANSWERS_AT_ONCE }, (_, index) =>
          chatStream(server.url, {}, { message: `How do refunds work? (${index})` }),
        ),
      );
      sampling = false;
      await sampler;
      for (const result of results) expectAnswered(result);
      expect(most).toBeGreaterThan(0);
      expect(most).toBeLessThanOrEqual(DEFAULT_POOL);
      const [stored] = await admin<{ n: number }[]>`
        SELECT count(*)::int AS n FROM messages WHERE role = 'assistant' AND status = 'complete'`;
      expect(stored?.n).toBe(ANSWERS_AT_ONCE);
    } finally {
      await admin.end({ timeout: 1 });
    }
  });
});
