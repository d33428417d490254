// WebSocket abuse (issue 12, findings 5 and 8): messages count in the same per-minute limits as HTTP requests, a
// socket that does not read cannot make the server pile replays into its buffer, one socket follows a bounded
// number of runs, and a revoked key or an expired JWT stops working for resume and stop on an open socket. Real
// WebSocket over a real port; the non-reading client is a raw TCP socket that sends frames and reads nothing.

import { connect, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signTestJwt } from '../helpers/jwt.ts';
import { call } from '../helpers/http.ts';
import { startTestServer, type TestServer } from '../helpers/test-server.ts';
import { connectWs, isTerminalFrame, type WsTestClient } from '../helpers/ws-client.ts';
import type { ServerFrame } from '../../src/transports/encoders/ws-frame.ts';

const SECRET = 'rivulet-ws-abuse-secret-of-more-than-32-chars';

function errorCodes(frames: readonly ServerFrame[]): string[] {
  return frames.flatMap((frame) => (frame.type === 'error' ? [frame.error.code] : []));
}

async function settle(client: WsTestClient, count: number): Promise<void> {
  await expect
    .poll(() => client.frames.filter((frame) => frame.type !== 'event').length)
    .toBeGreaterThanOrEqual(count);
}

describe('WebSocket messages and the request limits', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer(
      {
        AUTH_JWT_SECRET: SECRET,
        LIMITS: 'on',
        RATE_LIMIT_PER_IP: '0',
        RATE_LIMIT_PER_PRINCIPAL: '6',
        MAX_STREAMS_PER_PRINCIPAL: '0',
      },
      { tokens: ['ok'] },
    );
  });
  afterAll(async () => {
    await server.close();
  });

  it('counts each chat over one socket like a request (regression: 1,099 runs in 20 s over one socket)', async () => {
    const token = await signTestJwt(SECRET, 'flooder');
    const client = await connectWs(server.url);
    client.send({ type: 'auth', token, requestId: 'auth' });
    await client.waitFor((frame) => frame.type === 'authenticated');
    // Two HTTP requests first: HTTP and WebSocket share one budget.
    for (let index = 0; index < 2; index += 1) {
      expect(
        (await call(server, '/api/conversations', { headers: { authorization: `Bearer ${token}` } })).status,
      ).toBe(200);
    }
    for (let index = 0; index < 20; index += 1)
      client.send({ type: 'chat', message: 'hi', requestId: `r${index}` });
    await settle(client, 21);
    const accepted = client.frames.filter((frame) => frame.type === 'accepted');
    expect(accepted).toHaveLength(4);
    expect(errorCodes(client.frames).filter((code) => code === 'RATE_LIMITED')).toHaveLength(16);
    const refusal = client.frames.find((frame) => frame.type === 'error');
    expect(refusal).toMatchObject({ error: { status: 429, retryable: true } });
    // The socket stays open: the client may try again after Retry-After.
    expect(client.socket.readyState).toBe(client.socket.OPEN);
    client.socket.close();
  });
});

describe('malformed frames and the request limits', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer(
      { AUTH_JWT_SECRET: SECRET, LIMITS: 'on', RATE_LIMIT_PER_IP: '0', RATE_LIMIT_PER_PRINCIPAL: '5' },
      { tokens: ['ok'] },
    );
  });
  afterAll(async () => {
    await server.close();
  });

  it('count too (regression: 3,100 invalid 200 KB frames in 8 s, none refused)', async () => {
    const client = await connectWs(server.url);
    client.send({ type: 'auth', token: await signTestJwt(SECRET, 'garbler') });
    await client.waitFor((frame) => frame.type === 'authenticated');
    for (let index = 0; index < 12; index += 1) client.send('{"type": not json');
    await settle(client, 13);
    const codes = errorCodes(client.frames);
    expect(codes.filter((code) => code === 'INVALID_JSON')).toHaveLength(5);
    expect(codes.filter((code) => code === 'RATE_LIMITED')).toHaveLength(7);
    // The budget they spent is the one a chat needs.
    client.send({ type: 'chat', message: 'hi', requestId: 'c' });
    await client.waitFor((frame) => frame.type === 'error' && frame.requestId === 'c');
    client.socket.close();
  });

  it('close a socket that has not signed in yet (1008) instead of being answered', async () => {
    const client = await connectWs(server.url);
    client.send('x'.repeat(200_000));
    expect(await client.closed).toMatchObject({ code: 1008 });
    expect(client.frames).toEqual([]);
  });
});

describe('credentials that lapse on an open socket', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer(
      { AUTH_JWT_SECRET: SECRET, AUTH_CLOCK_SKEW_SECONDS: '0' },
      { tokenCount: 400, interTokenMs: 10 },
    );
  });
  afterAll(async () => {
    await server.close();
  });

  it('a revoked API key can neither resume nor stop (regression: only new chats re-checked it)', async () => {
    const { key, token } = await server.app.stores.apiKeys.createApiKey({
      name: 'k',
      orgId: null,
      admin: false,
    });
    const client = await connectWs(server.url, { headers: { authorization: `Bearer ${token}` } });
    client.send({ type: 'chat', message: 'a long answer', requestId: 'c' });
    const accepted = await client.waitFor((frame) => frame.type === 'accepted');
    const runId = accepted.type === 'accepted' ? accepted.runId : '';
    await server.app.stores.apiKeys.revokeApiKey(key.id);
    client.send({ type: 'stop', runId, requestId: 's' });
    expect(await client.closed).toMatchObject({ code: 1008 });
    expect(client.frames.some((frame) => frame.type === 'stopped')).toBe(false);
    // The run was not stopped by the revoked key.
    expect((await server.app.hub.info(runId))?.state).toBe('running');

    const again = await connectWs(server.url, { headers: { authorization: `Bearer ${token}` } });
    expect((await again.closed).code).toBe(1008);
    await server.app.hub.stop(runId);
  });

  it('an expired JWT can no longer resume on the socket it signed in', async () => {
    const shortLived = await new SignJWT({ sub: 'eve' })
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime(Math.floor(Date.now() / 1000) + 2)
      .sign(new TextEncoder().encode(SECRET));
    const client = await connectWs(server.url);
    client.send({ type: 'auth', token: shortLived });
    await client.waitFor((frame) => frame.type === 'authenticated');
    client.send({ type: 'chat', message: 'a long answer', requestId: 'c' });
    const accepted = await client.waitFor((frame) => frame.type === 'accepted');
    const runId = accepted.type === 'accepted' ? accepted.runId : '';
    // Past exp (this server allows no clock skew), the token is refused.
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    client.send({ type: 'resume', runId, lastSeq: 0, requestId: 'r' });
    expect(await client.closed).toMatchObject({ code: 1008 });
    expect(client.frames.some((frame) => frame.type === 'resumed')).toBe(false);
    await server.app.hub.stop(runId);
  });
});

/** A WebSocket client made of a raw TCP socket: it sends masked text frames and never reads a byte. */
async function nonReadingSocket(
  url: string,
): Promise<{ socket: Socket; sendText(text: string): void; received(): number }> {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  let bytes = 0;
  socket.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
  });
  socket.write(
    `GET /api/ws HTTP/1.1\r\nHost: ${hostname}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  );
  await new Promise((resolve) => socket.once('data', resolve));
  // From now on the client reads nothing: the server's writes pile up in the kernel, then in ws's buffer.
  socket.pause();
  return {
    socket,
    received: () => bytes,
    sendText(text) {
      const payload = Buffer.from(text);
      const mask = randomBytes(4);
      const header =
        payload.length < 126
          ? Buffer.from([0x81, 0x80 | payload.length])
          : Buffer.from([0x81, 0x80 | 126, payload.length >> 8, payload.length & 0xff]);
      const masked = Buffer.from(payload.map((byte, index) => byte ^ mask[index % 4]!));
      socket.write(Buffer.concat([header, mask, masked]));
    },
  };
}

describe('a socket that does not read (open install, no limits)', () => {
  let server: TestServer;
  beforeAll(async () => {
    // A finished run whose log replays ~400 KB.
    const big = Array.from(
      { length: 4000 },
      (_, index) => `${String(index).padStart(4, '0')}${'x'.repeat(96)} `,
    );
    server = await startTestServer({}, { tokens: big });
  });
  afterAll(async () => {
    await server.close();
  });

  it('gets no pile of replays from a resume storm (regression: three sockets held 1.9 GB)', async () => {
    const client = await connectWs(server.url);
    client.send({ type: 'chat', message: 'long', requestId: 'c' });
    const done = await client.waitFor((frame) => isTerminalFrame(frame), 30_000);
    const runId = done.type === 'event' ? done.runId : '';
    client.socket.close();

    const storm = await nonReadingSocket(server.url);
    for (let index = 0; index < 300; index += 1) {
      storm.sendText(JSON.stringify({ type: 'resume', runId, lastSeq: -1, requestId: `r${index}` }));
    }
    // Give the server time to handle every message.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    // The server is still answering others.
    expect((await call(server, '/healthz')).status).toBe(200);
    // Reading now: everything the server queued for this socket arrives. 300 replays of ~400 KB would be ~120 MB;
    // the server stops replaying once the client has unread data, and closes a socket holding over 8 MB.
    storm.socket.resume();
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(storm.received()).toBeGreaterThan(400 * 1024);
    expect(storm.received()).toBeLessThan(16 * 1024 * 1024);
    storm.socket.destroy();
  }, 60_000);

  it('follows at most 16 runs on one socket', async () => {
    const client = await connectWs(server.url);
    for (let index = 0; index < 18; index += 1) {
      const runId = server.app.hub.create({ ownerId: null }).runId;
      client.send({ type: 'resume', runId, lastSeq: -1, requestId: `r${index}` });
    }
    await expect.poll(() => errorCodes(client.frames)).toContain('TOO_MANY_READERS');
    expect(client.frames.filter((frame) => frame.type === 'resumed')).toHaveLength(16);
    expect(errorCodes(client.frames).filter((code) => code === 'TOO_MANY_READERS')).toHaveLength(2);
    client.socket.close();
  });
});
