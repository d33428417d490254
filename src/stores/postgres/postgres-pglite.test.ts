// The store conformance suite on PGlite with pgvector (test/helpers/pglite.ts), through openPostgresStores and the
// wire protocol: the vector SQL runs here, since the PostgreSQL server on this machine has no pgvector.

import { afterAll, beforeAll } from 'vitest';
import { startPglite, type PgliteServer } from '../../../test/helpers/pglite.ts';
import { describeStoreConformance } from '../store.conformance.ts';
import { openPostgresStores } from './postgres-stores.ts';

let server: PgliteServer;
beforeAll(async () => {
  server = await startPglite();
}, 60_000);
afterAll(async () => {
  await server.stop();
});

describeStoreConformance('postgres (PGlite with pgvector)', async (options) => {
  await server.reset();
  return openPostgresStores(server.url, { ...options, poolMax: 1 });
});
