// Liveness and readiness as a load balancer sees them.

import { describe, expect, it } from 'vitest';
import { startTestServer } from '../helpers/test-server.ts';
import { connectWs } from '../helpers/ws-client.ts';

describe('/healthz and /readyz', () => {
  it('is ready while the store answers, and says why not once it does not', async () => {
    const server = await startTestServer();
    try {
      expect(await (await fetch(`${server.url}/healthz`)).json()).toMatchObject({ status: 'ok' });
      const ready = await fetch(`${server.url}/readyz`);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toEqual({ status: 'ready', store: { backend: 'sqlite', vectors: true } });
      await server.app.stores.close();
      const down = await fetch(`${server.url}/readyz`);
      expect(down.status).toBe(503);
      expect(await down.json()).toMatchObject({ error: { code: 'STORE_UNAVAILABLE' } });
      // Liveness is about the process, not its dependencies.
      expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    } finally {
      await server.close();
    }
  });

  it('reports not ready and refuses new answers while draining', async () => {
    const server = await startTestServer();
    try {
      server.app.chat.beginDrain();
      const ready = await fetch(`${server.url}/readyz`);
      expect(ready.status).toBe(503);
      expect(await ready.json()).toMatchObject({ error: { code: 'SHUTTING_DOWN' } });
      const chat = await fetch(`${server.url}/api/chat`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ message: 'hello?' }),
      });
      expect(chat.status).toBe(503);
      expect(await chat.json()).toMatchObject({ error: { code: 'SHUTTING_DOWN' } });
      const ws = await connectWs(server.url);
      ws.send({ type: 'chat', message: 'hello?', requestId: 'r1' });
      const refused = await ws.waitFor((frame) => frame.type === 'error');
      expect(refused).toMatchObject({ type: 'error', requestId: 'r1', error: { code: 'SHUTTING_DOWN' } });
      ws.socket.close();
    } finally {
      await server.close();
    }
  });
});
