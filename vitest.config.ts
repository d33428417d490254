// Test runner settings: unit tests sit beside their source, integration tests under test/.
// Two projects: `default` runs everything on the embedded SQLite store; `postgres` runs the integration files that
// exercise storage again on PostgreSQL (RIVULET_TEST_STORE=postgres: every test server and CLI run gets a fresh
// database on DATABASE_URL's server). Without DATABASE_URL the postgres project is left out, and says so. Likewise
// `redis` runs the integration files that exercise the run hub again on the Redis hub (RIVULET_TEST_HUB=redis: every
// test server gets REDIS_URL), when REDIS_URL is set.
import { defineConfig } from 'vitest/config';

/** The integration files whose behaviour depends on the store: they run on both backends. */
const STORAGE_SUITE = [
  'admin',
  'answer-cache-privacy',
  'auth',
  'chat-metadata',
  'chat-stream',
  'chatbot-limits',
  'cli-ingest',
  'condense',
  'crash-recovery',
  'limits',
  'rag',
  'resume',
  'rooms',
  'run-events',
  'source-match',
].map((name) => `test/integration/${name}.test.ts`);

/** The integration files whose behaviour depends on the run hub: they run on both hubs. */
const HUB_SUITE = [
  'cancellation',
  'chat-stream',
  'fanout-and-slow-readers',
  'reader-limits',
  'resume',
  'rooms',
  'run-events',
  'run-poll',
  'shutdown',
  'ws-protocol',
].map((name) => `test/integration/${name}.test.ts`);

const shared = {
  testTimeout: 60_000,
  hookTimeout: 30_000,
  pool: 'forks' as const,
};

const postgresProject = process.env.DATABASE_URL
  ? [
      {
        test: {
          ...shared,
          name: 'postgres',
          include: [...STORAGE_SUITE, 'test/integration/postgres-*.test.ts'],
          env: { RIVULET_TEST_STORE: 'postgres' },
          globalSetup: ['test/postgres-global-setup.ts'],
        },
      },
    ]
  : [];
if (postgresProject.length === 0) {
  process.stderr.write(
    '[postgres] the integration suite on PostgreSQL is skipped: DATABASE_URL is not set.\n',
  );
}

const redisProject = process.env.REDIS_URL
  ? [{ test: { ...shared, name: 'redis', include: HUB_SUITE, env: { RIVULET_TEST_HUB: 'redis' } } }]
  : [];
if (redisProject.length === 0) {
  process.stderr.write('[redis] the run hub integration suite on Redis is skipped: REDIS_URL is not set.\n');
}

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          ...shared,
          name: 'default',
          include: ['src/**/*.test.ts', 'test/**/*.test.ts', 'web/**/*.test.ts'],
          exclude: ['test/integration/postgres-*.test.ts', '**/node_modules/**'],
          globalSetup: ['test/browser/global-setup.ts'],
        },
      },
      ...postgresProject,
      ...redisProject,
    ],
  },
});
