// TRUST_PROXY over real HTTP (issue 12, finding 6): behind a reverse proxy every visitor arrives from the proxy's
// address, so without a trusted proxy all anonymous visitors shared one set of limits (the 5th widget visitor got
// TOO_MANY_STREAMS). With TRUST_PROXY naming the proxy, limits, anonymous visitors' budgets and the request logs go
// by the forwarded address; without it, or from a peer that is not a trusted proxy, X-Forwarded-For is ignored, so
// a client cannot choose its own address. The last test goes through a real nginx when one is installed.

import { request as httpRequest } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig, ConfigError } from '../../src/config.ts';
import { call, expectRefusal, type Reply } from '../helpers/http.ts';
import { NGINX_SKIP_REASON, startNginx, type Nginx } from '../helpers/nginx.ts';
import { readSse, type SseReadResult } from '../helpers/sse-client.ts';
import { putTestChatbot, startTestServer, type TestServer } from '../helpers/test-server.ts';
import { connectWs } from '../helpers/ws-client.ts';

const SECRET = 'rivulet-proxy-secret-of-more-than-32-chars';
const SHOP = 'https://shop.example';

interface Started extends TestServer {
  logs: string[];
}

const servers: Started[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await server.close();
});

/** Auth required, a public chatbot `shop` for visitors from SHOP, and limits small enough to reach. */
async function start(env: Record<string, string>): Promise<Started> {
  const logs: string[] = [];
  const server = await startTestServer(
    { AUTH_JWT_SECRET: SECRET, MAX_STREAMS_PER_PRINCIPAL: '1', RATE_LIMIT_PER_IP: '4', ...env },
    { tokenCount: 3 },
    { logs },
  );
  const started: Started = { ...server, logs };
  servers.push(started);
  await putTestChatbot(started, 'shop', { allowedOrigins: [SHOP] });
  return started;
}

/** An anonymous widget visitor, as a proxy in front would forward them. */
const visitor = (session: string, forwardedFor?: string): Record<string, string> => ({
  origin: SHOP,
  'x-session-id': `visitor-session-${session}`.padEnd(16, '0'),
  ...(forwardedFor === undefined ? {} : { 'x-forwarded-for': forwardedFor }),
});

/** A chat stream held open (the upstream stalls after a token) until stopped. */
async function holdStream(
  server: Started,
  headers: Record<string, string>,
): Promise<{ runId: string; done: Promise<SseReadResult> }> {
  server.upstream.enqueue({ tokenCount: 4, stallAfter: 1 });
  let runId = '';
  let streaming!: () => void;
  let refused!: (error: Error) => void;
  const firstToken = new Promise<void>((resolve, reject) => {
    streaming = resolve;
    refused = reject;
  });
  const done = readSse(`${server.url}/api/chat/stream`, {
    body: { message: 'hello', chatbotId: 'shop' },
    headers,
    onFrame(frame) {
      if (frame.data.type === 'start') runId = frame.data.runId;
      if (frame.data.type === 'token') streaming();
    },
  });
  void done.then((result) => refused(new Error(`stream ended before a token: ${JSON.stringify(result)}`)));
  await firstToken;
  return { runId, done };
}

async function stop(
  server: Started,
  headers: Record<string, string>,
  held: { runId: string; done: Promise<SseReadResult> },
) {
  expect((await call(server, `/api/runs/${held.runId}/stop`, { method: 'POST', headers })).status).toBe(200);
  await held.done;
}

const chatReply = (server: Started, headers: Record<string, string>): Promise<Reply> =>
  call(server, '/api/chat/stream', { headers, json: { message: 'me too', chatbotId: 'shop' } });

/** The client addresses Fastify logged for incoming requests. */
const loggedAddresses = (server: Started): string[] =>
  server.logs
    .map((line) => JSON.parse(line) as { msg?: string; req?: { remoteAddress?: string } })
    .filter((entry) => entry.msg === 'incoming request')
    .map((entry) => entry.req?.remoteAddress ?? '');

describe('without TRUST_PROXY (the default)', () => {
  it('ignores X-Forwarded-For: a client cannot pick its address, and everyone behind a proxy is one visitor', async () => {
    const server = await start({});
    const held = await holdStream(server, visitor('a', '203.0.113.10'));
    // A forged address does not make a second visitor: same socket address, same limits.
    expectRefusal(await chatReply(server, visitor('b', '203.0.113.20')), 429, 'TOO_MANY_STREAMS');
    await stop(server, visitor('a', '203.0.113.10'), held);
    for (let index = 0; index < 4; index += 1)
      await call(server, '/api/me', { headers: visitor('c', `198.51.100.${index}`) });
    expectRefusal(
      await call(server, '/api/me', { headers: visitor('d', '198.51.100.99') }),
      429,
      'RATE_LIMITED',
    );
    expect(new Set(loggedAddresses(server))).toEqual(new Set(['127.0.0.1']));
  });
});

describe('TRUST_PROXY naming the proxy', () => {
  it('gives each forwarded visitor their own stream limit, rate limit and log address', async () => {
    const server = await start({ TRUST_PROXY: '127.0.0.1' });
    const first = visitor('a', '203.0.113.10');
    const held = await holdStream(server, first);
    // The same visitor (even with a new session id) is still at their one stream.
    expectRefusal(await chatReply(server, visitor('a2', '203.0.113.10')), 429, 'TOO_MANY_STREAMS');
    // Another visitor behind the same proxy streams too (this was TOO_MANY_STREAMS).
    const second = visitor('b', '203.0.113.20');
    const other = await holdStream(server, second);
    await stop(server, first, held);
    await stop(server, second, other);

    // Per-address rate limit: one visitor spends theirs, another still has theirs.
    for (let index = 0; index < 4; index += 1) {
      expect((await call(server, '/api/me', { headers: visitor('c', '198.51.100.1') })).status).toBe(200);
    }
    expectRefusal(
      await call(server, '/api/me', { headers: visitor('c', '198.51.100.1') }),
      429,
      'RATE_LIMITED',
    );
    // Addresses the visitor put in front of what the proxy saw change nothing: the proxy appends the real one.
    expectRefusal(
      await call(server, '/api/me', { headers: visitor('c', '198.51.100.2, 198.51.100.1') }),
      429,
      'RATE_LIMITED',
    );
    expect((await call(server, '/api/me', { headers: visitor('e', '198.51.100.2') })).status).toBe(200);
    expect(loggedAddresses(server)).toContain('198.51.100.1');
    expect(loggedAddresses(server)).toContain('203.0.113.20');
  });

  it('counts WebSocket visitors by their forwarded address too', async () => {
    // Only the stream limit is under test here (WebSocket messages count in the rate limits too).
    const server = await start({ TRUST_PROXY: 'loopback', RATE_LIMIT_PER_IP: '1000' });
    const held = await holdStream(server, visitor('a', '203.0.113.10'));
    // Signing in with the first message: the visitor's address is the upgrade request's forwarded one.
    const other = await connectWs(server.url, {
      headers: { origin: SHOP, 'x-forwarded-for': '203.0.113.30' },
    });
    other.send({ type: 'auth', sessionId: 'visitor-session-ws-000', requestId: 'auth' });
    await other.waitFor((frame) => frame.type === 'authenticated');
    other.send({ type: 'chat', message: 'hi', chatbotId: 'shop', requestId: 'q' });
    const accepted = await other.waitFor((frame) => frame.type === 'accepted' || frame.type === 'error');
    expect(accepted.type).toBe('accepted');
    other.socket.close();
    // From the first visitor's address, the socket is refused its second stream.
    const same = await connectWs(server.url, {
      headers: { origin: SHOP, 'x-forwarded-for': '203.0.113.10' },
    });
    same.send({ type: 'auth', sessionId: 'visitor-session-ws-001', requestId: 'auth' });
    await same.waitFor((frame) => frame.type === 'authenticated');
    same.send({ type: 'chat', message: 'hi', chatbotId: 'shop', requestId: 'q' });
    expect(await same.waitFor((frame) => frame.type === 'error')).toMatchObject({
      error: { code: 'TOO_MANY_STREAMS' },
    });
    same.socket.close();
    await stop(server, visitor('a', '203.0.113.10'), held);
  });

  it('ignores X-Forwarded-For from a peer that is not a trusted proxy', async () => {
    const server = await start({ TRUST_PROXY: '10.0.0.0/8, fd00::/8' });
    const held = await holdStream(server, visitor('a', '203.0.113.10'));
    expectRefusal(await chatReply(server, visitor('b', '203.0.113.20')), 429, 'TOO_MANY_STREAMS');
    await stop(server, visitor('a', '203.0.113.10'), held);
    expect(new Set(loggedAddresses(server))).toEqual(new Set(['127.0.0.1']));
  });

  it('with a hop count, takes the address the nearest proxy saw', async () => {
    const server = await start({ TRUST_PROXY: '1' });
    for (let index = 0; index < 4; index += 1) {
      await call(server, '/api/me', { headers: visitor('c', `192.0.2.${index}, 198.51.100.1`) });
    }
    expectRefusal(
      await call(server, '/api/me', { headers: visitor('c', '198.51.100.1') }),
      429,
      'RATE_LIMITED',
    );
    expect((await call(server, '/api/me', { headers: visitor('c', '198.51.100.2') })).status).toBe(200);
  });
});

describe('TRUST_PROXY values', () => {
  const config = (value: string) => loadConfig({ TRUST_PROXY: value, DATA_DIR: ':memory:' }).trustProxy;
  it('reads off, addresses and ranges, names and hop counts', () => {
    expect(loadConfig({}).trustProxy).toBe(false);
    for (const off of ['', 'false', '0', 'off']) expect(config(off)).toBe(false);
    expect(config('127.0.0.1')).toEqual(['127.0.0.1']);
    expect(config(' 10.0.0.0/8, ::1 ,fd00::/8,loopback ')).toEqual([
      '10.0.0.0/8',
      '::1',
      'fd00::/8',
      'loopback',
    ]);
    expect(config('2')).toBe(2);
  });
  it('refuses "true" (anyone could pick their address) and what is not an address, with the reason', () => {
    for (const [value, reason] of [
      ['true', /any client choose the address/],
      ['*', /any client choose the address/],
      // Every address, spelled as a range (found by review).
      ['0.0.0.0/0', /any client choose the address/],
      ['10.0.0.1, ::/0', /any client choose the address/],
      ['proxy.internal', /not an IP address/],
      ['10.0.0.0/33', /not an IP address/],
      ['10.0.0.1/8/8', /not an IP address/],
      ['1000', /at most 32/],
    ] as const) {
      expect(() => config(value)).toThrow(ConfigError);
      expect(() => config(value)).toThrow(reason);
    }
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Through a real nginx
// ---------------------------------------------------------------------------------------------------------------

if (NGINX_SKIP_REASON !== undefined) {
  console.warn(`trust-proxy.test.ts: ${NGINX_SKIP_REASON}: skipping the test through nginx`);
}

/** nginx in front of `upstreamUrl`, appending the address it saw as a TLS-terminating proxy would. */
function startNginxFor(upstreamUrl: string): Promise<Nginx> {
  const upstream = new URL(upstreamUrl);
  return startNginx(
    (port) => `  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://127.0.0.1:${upstream.port};
      proxy_http_version 1.1;
      proxy_set_header Host $host;
      # What a TLS-terminating proxy in front of the widget's API does: append the address it saw.
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_buffering off;
    }
  }`,
  );
}

/** A GET from a chosen loopback source address (127.0.0.2, 127.0.0.3 ...): one machine, several visitors. */
function viaProxy(
  url: string,
  path: string,
  headers: Record<string, string>,
  localAddress: string,
): Promise<{ status: number; code: string | undefined }> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(`${url}${path}`, { headers, localAddress, agent: false });
    request.on('error', reject);
    request.on('response', (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (text += chunk));
      response.on('end', () => {
        let code: string | undefined;
        try {
          code = (JSON.parse(text) as { error?: { code?: string } }).error?.code;
        } catch {
          // Not JSON.
        }
        resolve({ status: response.statusCode ?? 0, code });
      });
    });
    request.end();
  });
}

describe.skipIf(NGINX_SKIP_REASON !== undefined)('behind a real nginx reverse proxy', () => {
  it('counts each visitor by the address nginx saw, and ignores what the visitor forged', async () => {
    // nginx reaches Rivulet from 127.0.0.1; visitors come from 127.0.0.2 and 127.0.0.3.
    const server = await start({ TRUST_PROXY: '127.0.0.1' });
    const nginx = await startNginxFor(server.url);
    try {
      const forged = { ...visitor('n1'), 'x-forwarded-for': '198.51.100.50' };
      for (let index = 0; index < 4; index += 1) {
        expect(await viaProxy(nginx.url, '/api/me', forged, '127.0.0.2')).toEqual({
          status: 200,
          code: undefined,
        });
      }
      // A new forged address each time does not help: nginx appends the real one.
      expect(
        await viaProxy(nginx.url, '/api/me', { ...forged, 'x-forwarded-for': '198.51.100.51' }, '127.0.0.2'),
      ).toEqual({ status: 429, code: 'RATE_LIMITED' });
      // Another visitor behind the same proxy has their own limit.
      expect(await viaProxy(nginx.url, '/api/me', visitor('n2'), '127.0.0.3')).toEqual({
        status: 200,
        code: undefined,
      });
      const addresses = new Set(loggedAddresses(server));
      expect(addresses.has('127.0.0.2')).toBe(true);
      expect(addresses.has('127.0.0.3')).toBe(true);
      expect([...addresses].some((address) => address.startsWith('198.51.100.'))).toBe(false);
    } finally {
      await nginx.stop();
    }
  });
});
