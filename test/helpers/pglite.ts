// PGlite (PostgreSQL compiled to WebAssembly) with pgvector, served over the PostgreSQL wire protocol by
// @electric-sql/pglite-socket, so tests reach it through the same driver and code as a real server. The point is
// the vector SQL: the PostgreSQL server on this machine has no pgvector.
//
// pglite-socket runs one query at a time on one database; open the stores with `poolMax: 1` (a second connection
// would only queue behind the first).

import { PGlite } from '@electric-sql/pglite';
import { vector } from '@electric-sql/pglite-pgvector';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';

export interface PgliteServer {
  /** postgres://postgres@127.0.0.1:<port>/postgres */
  url: string;
  /**
   * An empty database again: drops and recreates the public schema (with pgvector and the migrations table), far
   * cheaper than a new PGlite. Call it with no store open on the server.
   */
  reset(): Promise<void>;
  stop(): Promise<void>;
}

/** Starts PGlite (a few seconds: the WebAssembly module and initdb) on a free port. */
export async function startPglite(): Promise<PgliteServer> {
  const db = await PGlite.create({ extensions: { vector } });
  const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0 });
  await server.start();
  return {
    url: `postgres://postgres@${server.getServerConn()}/postgres`,
    async reset() {
      await db.exec(`
        DROP SCHEMA public CASCADE;
        CREATE SCHEMA public;
        DROP EXTENSION IF EXISTS vector;`);
    },
    async stop() {
      await server.stop();
      await db.close();
    },
  };
}
