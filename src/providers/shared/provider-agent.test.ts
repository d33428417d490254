import { once } from 'node:events';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { Agent, request, type Dispatcher } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { idleStackPool, PROVIDER_KEEP_ALIVE_MS, providerAgent } from './provider-agent.ts';

const cleanups: Array<() => Promise<unknown>> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A server that holds each response open until released; counts the connections it accepted. */
async function holdingServer(): Promise<{ url: string; sockets: Set<Socket>; held: ServerResponse[] }> {
  const sockets = new Set<Socket>();
  const held: ServerResponse[] = [];
  const server = createServer((incoming, response) => {
    incoming.resume();
    response.writeHead(200, { 'content-type': 'text/plain' });
    response.write('open\n');
    held.push(response);
  });
  server.on('connection', (socket: Socket) => sockets.add(socket));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(() => {
    server.closeAllConnections();
    server.close();
    return Promise.resolve();
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, sockets, held };
}

interface Open {
  /** Settles once the body has ended. */
  ended: Promise<unknown>;
}

/** A request whose first line has arrived: it holds its connection until the server ends the response. */
async function openResponse(dispatcher: Dispatcher, url: string): Promise<Open> {
  const response = await request(url, { dispatcher });
  const ended = once(response.body, 'end');
  const first = once(response.body, 'data');
  response.body.on('data', () => undefined);
  await first;
  return { ended };
}

async function finishAll(held: ServerResponse[], open: readonly Open[]): Promise<void> {
  for (const response of held.splice(0)) response.end('done\n');
  await Promise.all(open.map((entry) => entry.ended));
}

describe('providerAgent', () => {
  it('replaces how the pool finds a free connection (undici internals still there)', () => {
    const pool = idleStackPool('http://127.0.0.1:9', {});
    cleanups.push(() => pool.destroy());
    const own = Object.getOwnPropertySymbols(pool).map((key) => key.description);
    expect(own).toContain('get dispatcher');
    expect(own).toContain('add client');
  });

  it('opens and reuses connections as the Agent of undici does', async () => {
    const server = await holdingServer();
    const counts = async (dispatcher: Dispatcher): Promise<number[]> => {
      cleanups.push(() => dispatcher.destroy());
      server.sockets.clear();
      const seen: number[] = [];
      // 20 at once, each on a connection of its own.
      const first = await Promise.all(Array.from({ length: 20 }, () => openResponse(dispatcher, server.url)));
      seen.push(server.sockets.size);
      await finishAll(server.held, first);
      // Free again: 20 one after another, then 10 at once and 10 more while those are held, then one more.
      for (let index = 0; index < 20; index += 1) {
        await finishAll(server.held, [await openResponse(dispatcher, server.url)]);
      }
      seen.push(server.sockets.size);
      const again = await Promise.all(Array.from({ length: 10 }, () => openResponse(dispatcher, server.url)));
      const more = await Promise.all(Array.from({ length: 10 }, () => openResponse(dispatcher, server.url)));
      seen.push(server.sockets.size);
      const extra = [await openResponse(dispatcher, server.url), await openResponse(dispatcher, server.url)];
      seen.push(server.sockets.size);
      await finishAll(server.held, [...again, ...more, ...extra]);
      return seen;
    };
    const ours = await counts(providerAgent(2_000));
    const undicis = await counts(
      new Agent({ keepAliveTimeout: PROVIDER_KEEP_ALIVE_MS, connect: { timeout: 2_000 } }),
    );
    expect(ours).toEqual(undicis);
    expect(ours[0]).toBe(20);
    expect(ours[3]).toBeGreaterThan(ours[2] as number);
  });

  it('takes a connection dropped after a connection error out of the free ones', async () => {
    const agent = providerAgent(2_000);
    cleanups.push(() => agent.destroy());
    // Nothing listens there: the connection fails, the request errors, and the next one still gets its error.
    const closed = createServer();
    closed.listen(0, '127.0.0.1');
    await once(closed, 'listening');
    const url = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
    closed.close();
    await once(closed, 'close');
    await expect(request(url, { dispatcher: agent })).rejects.toThrow();
    await expect(request(url, { dispatcher: agent })).rejects.toThrow();
  });
});
