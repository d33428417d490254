// PostgreSQL going away under a running server (issue 13): the database is reached through a TCP proxy that can
// cut every connection and refuse new ones, which is what a stopped or restarted server looks like from Rivulet.
// An answer streaming when it goes ends with STORE_UNAVAILABLE (not a hang, not a silent loss), /readyz says so, new
// questions are refused with the same code, and everything works again once the database is back, with no restart.
// Runs in the `postgres` Vitest project only.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call } from '../helpers/http.ts';
import { startCuttingProxy, type CuttingProxy } from '../helpers/cutting-proxy.ts';
import { createTestDatabase, postgresSkipReason, type TestDatabase } from '../helpers/postgres.ts';
import { chatStream, lastEvent, readSse, tokenText } from '../helpers/sse-client.ts';
import { startTestServer, type TestServer } from '../helpers/test-server.ts';

describe.skipIf(postgresSkipReason !== undefined)(
  'PostgreSQL stopped and restarted under a running server',
  () => {
    let database: TestDatabase;
    let proxy: CuttingProxy;
    let server: TestServer;

    beforeAll(async () => {
      database = await createTestDatabase('faults');
      const direct = new URL(database.url);
      proxy = await startCuttingProxy(
        `http://${direct.hostname}:${direct.port === '' ? '5432' : direct.port}`,
      );
      const through = new URL(database.url);
      through.port = new URL(proxy.url).port;
      server = await startTestServer(
        { DATABASE_URL: through.toString(), RUN_CHECKPOINT_MS: '50' },
        { tokenCount: 120, interTokenMs: 10, seed: 3 },
      );
    });
    afterAll(async () => {
      await server.close();
      await proxy.close();
      await database.drop();
    });

    it('ends the streaming answer with STORE_UNAVAILABLE, refuses new ones, and recovers by itself', async () => {
      const ready = await fetch(`${server.url}/readyz`);
      expect(await ready.json()).toMatchObject({ status: 'ready', store: { backend: 'postgres' } });

      // The database stops after the answer's first tokens.
      let stopped = false;
      const cut = await readSse(`${server.url}/api/chat/stream`, {
        body: { message: 'How do refunds work?' },
        onFrame: (frame) => {
          if (!stopped && frame.data.type === 'token') {
            stopped = true;
            proxy.refuse();
          }
        },
      });
      expect(cut.status).toBe(200);
      expect(cut.ended).toBe(true);
      // Every token reached the reader; the answer could not be saved, and the stream says so with a coded error.
      expect(tokenText(cut.frames).length).toBeGreaterThan(0);
      expect(lastEvent(cut.frames)).toMatchObject({
        type: 'error',
        code: 'STORE_UNAVAILABLE',
        retryable: true,
      });

      const down = await fetch(`${server.url}/readyz`);
      expect(down.status).toBe(503);
      expect(await down.json()).toMatchObject({ error: { code: 'STORE_UNAVAILABLE' } });
      // A new question needs the database at once (its conversation): refused with the same code, quickly.
      const started = performance.now();
      const refused = await call(server, '/api/chat', { json: { message: 'Still there?' } });
      expect(refused.status).toBe(503);
      expect(refused.body).toMatchObject({ error: { code: 'STORE_UNAVAILABLE' } });
      expect(performance.now() - started).toBeLessThan(10_000);
      // The process is alive and says so.
      expect((await fetch(`${server.url}/healthz`)).status).toBe(200);

      // The database is back: no restart, the pool reconnects on the next call.
      proxy.accept();
      await expect
        .poll(async () => (await fetch(`${server.url}/readyz`)).status, { timeout: 10_000, interval: 100 })
        .toBe(200);
      const answered = await chatStream(server.url, {}, { message: 'How do refunds work?' });
      expect(lastEvent(answered.frames)).toMatchObject({ type: 'done', finishReason: 'stop' });
    });

    it('answers /readyz with STORE_UNAVAILABLE within seconds while the database is gone', async () => {
      proxy.refuse();
      try {
        const started = performance.now();
        const reply = await call(server, '/readyz');
        expect(reply.status).toBe(503);
        expect(performance.now() - started).toBeLessThan(10_000);
      } finally {
        proxy.accept();
      }
    });
  },
);
