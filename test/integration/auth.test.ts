// Auth over real HTTP, SSE and WebSocket: JWTs (HS256 secret, RS256/ES256 from a JWKS served over HTTP), API keys,
// anonymous visitors of public chatbots, ownership of runs and conversations, admin-only routes, organisations,
// WebSocket sign-in, and refusing to start an open API on a reachable address.

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  SignJWT,
  exportJWK,
  exportSPKI,
  generateKeyPair,
  type CryptoKey as JoseCryptoKey,
  type JWTPayload,
} from 'jose';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/app.ts';
import { ConfigError, loadConfig } from '../../src/config.ts';
import { ERROR_CODES } from '../../src/core/errors.ts';
import type { ServerFrame } from '../../src/transports/encoders/ws-frame.ts';
import { readSse, tokenText, type SseReadResult, chatStream, expectAnswered } from '../helpers/sse-client.ts';
import { call, expectRefusal, type Reply } from '../helpers/http.ts';
import { startTestServer, type TestServer } from '../helpers/test-server.ts';
import { connectWs, isTerminalFrame, type WsTestClient } from '../helpers/ws-client.ts';

const SECRET = 'rivulet-test-secret-of-more-than-32-chars';
const SECRET_KEY = new TextEncoder().encode(SECRET);
const RUN_ID = /^run_[A-Za-z0-9_-]{22}$/;
const UNAUTHORIZED_MESSAGE = ERROR_CODES.UNAUTHORIZED.message;

const nowSeconds = (): number => Math.floor(Date.now() / 1000);

interface TokenOptions {
  alg?: string;
  key?: Uint8Array | JoseCryptoKey;
  kid?: string;
  /** Absolute (seconds since the epoch) or relative ('5m'); null: no `exp` claim at all. */
  exp?: number | string | null;
  nbf?: number;
  iat?: number;
}

async function signToken(claims: JWTPayload, options: TokenOptions = {}): Promise<string> {
  const alg = options.alg ?? 'HS256';
  const jwt = new SignJWT(claims)
    .setProtectedHeader({ alg, typ: 'JWT', ...(options.kid === undefined ? {} : { kid: options.kid }) })
    .setIssuedAt(options.iat ?? nowSeconds());
  if (options.exp !== null) jwt.setExpirationTime(options.exp ?? '5m');
  if (options.nbf !== undefined) jwt.setNotBefore(options.nbf);
  return jwt.sign(options.key ?? SECRET_KEY);
}

const userToken = (sub: string, claims: JWTPayload = {}): Promise<string> => signToken({ sub, ...claims });
const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` });

const b64url = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');

const chat = (server: TestServer, headers: Record<string, string>, body: Record<string, unknown>) =>
  chatStream(server.url, headers, body);

function startEvent(result: SseReadResult): { runId: string; conversationId: string } {
  const start = result.frames[0]?.data;
  if (start?.type !== 'start') throw new Error(`expected a start event, got ${JSON.stringify(start)}`);
  return { runId: start.runId, conversationId: start.conversationId };
}

/** A chat stream that keeps running in the background; `started` resolves with its ids at the first event. */
function backgroundChat(
  server: TestServer,
  headers: Record<string, string>,
  body: Record<string, unknown>,
): { started: Promise<{ runId: string; conversationId: string }>; result: Promise<SseReadResult> } {
  let resolveStarted!: (ids: { runId: string; conversationId: string }) => void;
  let rejectStarted!: (error: Error) => void;
  const started = new Promise<{ runId: string; conversationId: string }>((resolve, reject) => {
    resolveStarted = resolve;
    rejectStarted = reject;
  });
  const result = readSse(`${server.url}/api/chat/stream`, {
    body,
    headers,
    onFrame(frame) {
      if (frame.data.type === 'start') {
        resolveStarted({ runId: frame.data.runId, conversationId: frame.data.conversationId });
      }
    },
  });
  // Refused or ended before its start event: fail at once instead of waiting for the test's timeout.
  void result.then((read) => rejectStarted(new Error(`stream ended before its start event: ${read.status}`)));
  return { started, result };
}

async function conversationIds(server: TestServer, headers: Record<string, string>): Promise<string[]> {
  const reply = await call(server, '/api/conversations', { headers });
  expect(reply.status).toBe(200);
  return (reply.body.conversations as { id: string }[]).map((conversation) => conversation.id);
}

const wsUrl = (server: TestServer): string => `${server.url.replace(/^http/, 'ws')}/api/ws`;

async function wsChat(client: WsTestClient, requestId: string): Promise<void> {
  client.send({ type: 'chat', message: `question ${requestId}`, requestId });
  const accepted = await client.waitFor(
    (frame) => frame.type === 'accepted' && frame.requestId === requestId,
  );
  const runId = accepted.type === 'accepted' ? accepted.runId : '';
  const terminal = await client.waitFor((frame) => isTerminalFrame(frame, runId));
  expect(terminal).toMatchObject({ type: 'event', event: { type: 'done', finishReason: 'stop' } });
}

const closeCode = async (client: WsTestClient): Promise<number> => (await client.closed).code;

describe('auth with an HS256 shared secret', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ AUTH_JWT_SECRET: SECRET }, { tokenCount: 12, seed: 5 });
  });
  afterAll(async () => {
    await server.close();
  });

  describe('JWT', () => {
    it('a valid token streams an answer, and the conversation belongs to that user only', async () => {
      const alice = bearer(await userToken('alice'));
      const result = await chat(server, alice, { message: 'hello as alice' });
      expectAnswered(result);
      expect(tokenText(result.frames)).toBe(server.upstream.fullText());
      const { conversationId, runId } = startEvent(result);
      expect(runId).toMatch(RUN_ID);
      expect(await conversationIds(server, alice)).toContain(conversationId);
      expect(await conversationIds(server, bearer(await userToken('bob')))).not.toContain(conversationId);
    });

    it('refuses a token expired beyond the clock skew with 401 UNAUTHORIZED', async () => {
      const token = await signToken({ sub: 'alice' }, { iat: nowSeconds() - 600, exp: nowSeconds() - 120 });
      expectRefusal(
        await call(server, '/api/conversations', { headers: bearer(token) }),
        401,
        'UNAUTHORIZED',
      );
    });

    it('accepts a token that expired within the 30 s clock skew', async () => {
      const token = await signToken({ sub: 'alice' }, { iat: nowSeconds() - 600, exp: nowSeconds() - 10 });
      expect((await call(server, '/api/conversations', { headers: bearer(token) })).status).toBe(200);
    });

    it('refuses a token whose nbf is in the future', async () => {
      const token = await signToken({ sub: 'alice' }, { nbf: nowSeconds() + 300, exp: nowSeconds() + 900 });
      expectRefusal(
        await call(server, '/api/conversations', { headers: bearer(token) }),
        401,
        'UNAUTHORIZED',
      );
    });

    it('refuses an unsigned alg:none token', async () => {
      const token = `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url({
        sub: 'alice',
        role: 'admin',
        iat: nowSeconds(),
        exp: nowSeconds() + 300,
      })}.`;
      expectRefusal(
        await call(server, '/api/conversations', { headers: bearer(token) }),
        401,
        'UNAUTHORIZED',
      );
      expectRefusal(await call(server, '/api/stats', { headers: bearer(token) }), 401, 'UNAUTHORIZED');
    });

    it('refuses a token signed with another secret', async () => {
      const token = await signToken(
        { sub: 'alice' },
        { key: new TextEncoder().encode('another-secret-that-is-also-32-chars-long') },
      );
      expectRefusal(
        await call(server, '/api/conversations', { headers: bearer(token) }),
        401,
        'UNAUTHORIZED',
      );
    });

    it('refuses a tampered payload (sub changed, signature kept)', async () => {
      const token = await userToken('alice');
      const [header, payload, signature] = token.split('.');
      const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString('utf8')) as JWTPayload;
      expect(claims.sub).toBe('alice');
      const forged = `${header}.${b64url({ ...claims, sub: 'mallory' })}.${signature}`;
      expectRefusal(
        await call(server, '/api/conversations', { headers: bearer(forged) }),
        401,
        'UNAUTHORIZED',
      );
      // The untouched token still works: the refusal is about the tampering.
      expect((await call(server, '/api/conversations', { headers: bearer(token) })).status).toBe(200);
    });

    it('refuses an HS512 token when only HS256 is allowed', async () => {
      const token = await signToken({ sub: 'alice' }, { alg: 'HS512' });
      expectRefusal(
        await call(server, '/api/conversations', { headers: bearer(token) }),
        401,
        'UNAUTHORIZED',
      );
    });

    it('refuses a token without exp', async () => {
      const token = await signToken({ sub: 'alice' }, { exp: null });
      expectRefusal(
        await call(server, '/api/conversations', { headers: bearer(token) }),
        401,
        'UNAUTHORIZED',
      );
    });

    it('refuses a token without sub', async () => {
      const token = await signToken({ name: 'nobody' });
      expectRefusal(
        await call(server, '/api/conversations', { headers: bearer(token) }),
        401,
        'UNAUTHORIZED',
      );
    });

    it('never echoes the token or the verifier’s reason in a 401', async () => {
      const expired = await signToken({ sub: 'alice' }, { iat: nowSeconds() - 600, exp: nowSeconds() - 120 });
      const future = await signToken({ sub: 'alice' }, { nbf: nowSeconds() + 300 });
      const hs512 = await signToken({ sub: 'alice' }, { alg: 'HS512' });
      const noExp = await signToken({ sub: 'alice' }, { exp: null });
      for (const token of [expired, future, hs512, noExp, 'not.a.jwt', 'garbage']) {
        const reply = await call(server, '/api/chat/stream', {
          headers: bearer(token),
          json: { message: 'hi' },
        });
        expectRefusal(reply, 401, 'UNAUTHORIZED');
        expect(reply.body.error?.message).toBe(UNAUTHORIZED_MESSAGE);
        expect(reply.text).not.toContain(token);
        expect(reply.text).not.toMatch(/ERR_J|exp|nbf|claim|algorithm|signature|JWT refused/i);
      }
    });

    it('refuses requests without credentials and with a non-Bearer Authorization', async () => {
      expectRefusal(await call(server, '/api/conversations'), 401, 'UNAUTHORIZED');
      const basic = { authorization: `Basic ${Buffer.from('alice:pw').toString('base64')}` };
      expectRefusal(await call(server, '/api/conversations', { headers: basic }), 401, 'UNAUTHORIZED');
    });
  });

  describe('API keys', () => {
    it('a key works as a bearer token until it is revoked', async () => {
      const { key, token } = await server.app.stores.apiKeys.createApiKey({
        name: 'ci',
        orgId: null,
        admin: false,
      });
      expect(token).toMatch(/^rk_[A-Za-z0-9]{12}_[A-Za-z0-9_-]{43}$/);
      const headers = bearer(token);
      expectAnswered(await chat(server, headers, { message: 'hello from a key' }));
      expect(await conversationIds(server, headers)).toHaveLength(1);
      // Not an admin key: the dashboard stays closed.
      expectRefusal(await call(server, '/api/stats', { headers }), 403, 'FORBIDDEN');

      expect(await server.app.stores.apiKeys.revokeApiKey(key.id)).toBe(true);
      expectRefusal(await call(server, '/api/conversations', { headers }), 401, 'UNAUTHORIZED');
      expectRefusal(
        await call(server, '/api/chat/stream', { headers, json: { message: 'still there?' } }),
        401,
        'UNAUTHORIZED',
      );
    });

    it('an admin key reads the dashboard and the metrics', async () => {
      const { token } = await server.app.stores.apiKeys.createApiKey({
        name: 'ops',
        orgId: null,
        admin: true,
      });
      expect((await call(server, '/api/stats', { headers: bearer(token) })).status).toBe(200);
      const metrics = await call(server, '/metrics', { headers: bearer(token) });
      expect(metrics.status).toBe(200);
      expect(metrics.text).toContain('# TYPE');
    });

    it('refuses malformed keys and a known id with the wrong secret', async () => {
      const { key } = await server.app.stores.apiKeys.createApiKey({ name: 'x', orgId: null, admin: true });
      for (const token of [
        'rk_',
        'rk_short_secret',
        `rk_${key.id}_tooshort`,
        `rk_${key.id}_${'A'.repeat(43)}`,
      ]) {
        const reply = await call(server, '/api/conversations', { headers: bearer(token) });
        expectRefusal(reply, 401, 'UNAUTHORIZED');
        expect(reply.text).not.toContain(token);
      }
    });

    it('POST /api/keys shows a new key once, lists it without its secret, and DELETE revokes it', async () => {
      const admin = bearer(await userToken('root', { role: 'admin' }));
      const created = await call(server, '/api/keys', { headers: admin, json: { name: 'via-http' } });
      expect(created.status).toBe(201);
      const token = created.body.token as string;
      expect(token).toMatch(/^rk_[A-Za-z0-9]{12}_[A-Za-z0-9_-]{43}$/);
      const id = (created.body.key as { id: string }).id;
      expect(token).toContain(id);
      expect((await call(server, '/api/conversations', { headers: bearer(token) })).status).toBe(200);

      const list = await call(server, '/api/keys', { headers: admin });
      expect(list.status).toBe(200);
      expect((list.body.keys as { id: string }[]).map((key) => key.id)).toContain(id);
      const secret = token.slice(`rk_${id}_`.length);
      expect(list.text).not.toContain(secret);
      // Only admins manage keys.
      const user = bearer(await userToken('plain'));
      expectRefusal(await call(server, '/api/keys', { headers: user }), 403, 'FORBIDDEN');
      expectRefusal(
        await call(server, '/api/keys', { headers: user, json: { name: 'mine', admin: true } }),
        403,
        'FORBIDDEN',
      );
      expectRefusal(
        await call(server, `/api/keys/${id}`, { method: 'DELETE', headers: user }),
        403,
        'FORBIDDEN',
      );
      expect((await call(server, '/api/conversations', { headers: bearer(token) })).status).toBe(200);

      expect((await call(server, `/api/keys/${id}`, { method: 'DELETE', headers: admin })).status).toBe(204);
      expectRefusal(
        await call(server, '/api/conversations', { headers: bearer(token) }),
        401,
        'UNAUTHORIZED',
      );
      expectRefusal(
        await call(server, `/api/keys/${id}`, { method: 'DELETE', headers: admin }),
        404,
        'API_KEY_NOT_FOUND',
      );
    });
  });

  describe('ownership of runs and conversations', () => {
    it('user B can neither see, stop, join nor continue user A’s run and conversation', async () => {
      server.upstream.reset();
      const slow = { tokenCount: 200, interTokenMs: 20, seed: 9 };
      server.upstream.setScenario(slow);
      try {
        const alice = bearer(await userToken('alice-owner'));
        const bob = bearer(await userToken('bob-intruder'));
        const stream = backgroundChat(server, alice, { message: 'a slow answer for alice' });
        const { runId, conversationId } = await stream.started;
        expect(runId).toMatch(RUN_ID);

        expectRefusal(
          await call(server, `/api/runs/${runId}/events`, { headers: bob }),
          404,
          'RUN_NOT_FOUND',
        );
        expectRefusal(
          await call(server, `/api/runs/${runId}/stop`, { method: 'POST', headers: bob }),
          404,
          'RUN_NOT_FOUND',
        );
        expectRefusal(
          await call(server, `/api/conversations/${conversationId}/messages`, { headers: bob }),
          404,
          'CONVERSATION_NOT_FOUND',
        );
        expectRefusal(
          await call(server, `/api/conversations/${conversationId}`, { method: 'DELETE', headers: bob }),
          404,
          'CONVERSATION_NOT_FOUND',
        );
        expect(await conversationIds(server, bob)).not.toContain(conversationId);
        expectRefusal(
          await call(server, '/api/chat/stream', {
            headers: bob,
            json: { message: 'let me in', conversationId },
          }),
          404,
          'CONVERSATION_NOT_FOUND',
        );

        const ws = await connectWs(server.url, { headers: bob });
        ws.send({ type: 'resume', runId, lastSeq: -1, requestId: 'b-resume' });
        expect(
          await ws.waitFor((frame) => frame.type === 'error' && frame.requestId === 'b-resume'),
        ).toMatchObject({ error: { code: 'RUN_NOT_FOUND', status: 404 } });
        ws.send({ type: 'stop', runId, requestId: 'b-stop' });
        expect(
          await ws.waitFor((frame) => frame.type === 'error' && frame.requestId === 'b-stop'),
        ).toMatchObject({ error: { code: 'RUN_NOT_FOUND', status: 404 } });
        // Nothing of A's run reached B's socket.
        expect(ws.frames.filter((frame) => frame.type === 'event' || frame.type === 'stopped')).toEqual([]);
        ws.socket.close();

        // A's answer ran to its end, untouched by B's stop.
        const result = await stream.result;
        expectAnswered(result);
        expect(tokenText(result.frames)).toBe(server.upstream.fullText(slow));
        expect(server.upstream.requests[0]?.completed).toBe(true);
        await server.app.chat.settled();
        // And A still reaches everything B was refused.
        const messages = await call(server, `/api/conversations/${conversationId}/messages`, {
          headers: alice,
        });
        expect(messages.status).toBe(200);
        expect(messages.body.messages).toHaveLength(2);
        expect(await conversationIds(server, alice)).toContain(conversationId);
        expect((await call(server, `/api/runs/${runId}/events`, { headers: alice })).status).toBe(200);
      } finally {
        server.upstream.reset();
        server.upstream.setScenario({ tokenCount: 12, seed: 5 });
      }
    });
  });

  describe('public chatbots and anonymous visitors', () => {
    const SHOP = 'https://shop.example';
    beforeAll(async () => {
      const base = { systemPrompt: null, temperature: null, maxTokens: null, glossary: [] };
      await server.app.stores.chatbots.putChatbot({
        ...base,
        id: 'shop',
        name: 'Shop',
        collectionId: 'shop',
        visibility: 'public',
        allowedOrigins: [SHOP],
      });
      await server.app.stores.chatbots.putChatbot({
        ...base,
        id: 'internal',
        name: 'Internal',
        collectionId: 'internal',
        visibility: 'private',
        allowedOrigins: [SHOP],
      });
    });
    /** `origin: null` sends no Origin header at all. */
    const anonymous = (session: string, origin: string | null = SHOP): Record<string, string> => ({
      'x-session-id': session,
      ...(origin === null ? {} : { origin }),
    });
    const session1 = crypto.randomUUID().replaceAll('-', '');
    const session2 = 'visitor-two-session-0001';

    it('chats from an allowed origin with a session id', async () => {
      expectAnswered(await chat(server, anonymous(session1), { message: 'do you ship?', chatbotId: 'shop' }));
    });

    it('refuses another origin, and no origin, with 403 ORIGIN_NOT_ALLOWED', async () => {
      for (const headers of [anonymous(session1, 'https://evil.example'), anonymous(session1, null)]) {
        expectRefusal(
          await call(server, '/api/chat/stream', { headers, json: { message: 'hi', chatbotId: 'shop' } }),
          403,
          'ORIGIN_NOT_ALLOWED',
        );
      }
    });

    it('hides a private chatbot from anonymous visitors (404 CHATBOT_NOT_FOUND)', async () => {
      expectRefusal(
        await call(server, '/api/chat/stream', {
          headers: anonymous(session1),
          json: { message: 'hi', chatbotId: 'internal' },
        }),
        404,
        'CHATBOT_NOT_FOUND',
      );
      // Nor the default (private) chatbot, when no chatbotId is given.
      expectRefusal(
        await call(server, '/api/chat/stream', { headers: anonymous(session1), json: { message: 'hi' } }),
        404,
        'CHATBOT_NOT_FOUND',
      );
    });

    it('refuses anonymous visitors on GET /api/documents with 401', async () => {
      expectRefusal(
        await call(server, '/api/documents', { headers: anonymous(session1) }),
        401,
        'UNAUTHORIZED',
      );
    });

    it('keeps each session’s conversations to itself', async () => {
      const result = await chat(server, anonymous(session1), { message: 'my order?', chatbotId: 'shop' });
      expectAnswered(result);
      const { conversationId } = startEvent(result);
      await server.app.chat.settled();
      const own = await call(server, `/api/conversations/${conversationId}/messages`, {
        headers: anonymous(session1),
      });
      expect(own.status).toBe(200);
      expectRefusal(
        await call(server, `/api/conversations/${conversationId}/messages`, { headers: anonymous(session2) }),
        404,
        'CONVERSATION_NOT_FOUND',
      );
      expect(await conversationIds(server, anonymous(session2))).not.toContain(conversationId);
      expectRefusal(
        await call(server, '/api/chat/stream', {
          headers: anonymous(session2),
          json: { message: 'continue theirs', conversationId },
        }),
        404,
        'CONVERSATION_NOT_FOUND',
      );
    });

    it('refuses a malformed session id with 401', async () => {
      for (const session of ['short', 'has spaces in it here', 'x'.repeat(129)]) {
        expectRefusal(
          await call(server, '/api/chat/stream', {
            headers: anonymous(session),
            json: { message: 'hi', chatbotId: 'shop' },
          }),
          401,
          'UNAUTHORIZED',
        );
      }
    });
  });

  describe('admin-only routes', () => {
    it('refuses non-admins with 403 FORBIDDEN on the dashboard, the metrics and uploads', async () => {
      const user = bearer(await userToken('plain-user'));
      expectRefusal(await call(server, '/api/stats', { headers: user }), 403, 'FORBIDDEN');
      expectRefusal(await call(server, '/metrics', { headers: user }), 403, 'FORBIDDEN');
      const form = new FormData();
      form.append('file', new Blob(['# Notes\n\nSome text to index.']), 'notes.md');
      const upload = await fetch(`${server.url}/api/documents`, {
        method: 'POST',
        body: form,
        headers: user,
      });
      expect(upload.status).toBe(403);
      expect(((await upload.json()) as Reply['body']).error?.code).toBe('FORBIDDEN');
      // Nothing went in.
      const admin = bearer(await userToken('root', { role: 'admin' }));
      const documents = await call(server, '/api/documents', { headers: admin });
      expect(documents.status).toBe(200);
      expect(documents.text).not.toContain('notes.md');
    });

    it('lets admins in, by the role claim or the roles array', async () => {
      expect(
        (await call(server, '/api/stats', { headers: bearer(await userToken('r1', { role: 'admin' })) }))
          .status,
      ).toBe(200);
      expect(
        (
          await call(server, '/api/stats', {
            headers: bearer(await userToken('r2', { roles: ['ops', 'admin'] })),
          })
        ).status,
      ).toBe(200);
      expect(
        (await call(server, '/metrics', { headers: bearer(await userToken('r1', { role: 'admin' })) }))
          .status,
      ).toBe(200);
    });

    it('asks for credentials (401) when there are none', async () => {
      expectRefusal(await call(server, '/api/stats'), 401, 'UNAUTHORIZED');
      expectRefusal(await call(server, '/metrics'), 401, 'UNAUTHORIZED');
    });

    it('serves the public routes without credentials', async () => {
      expect((await call(server, '/healthz')).status).toBe(200);
      const config = await call(server, '/api/config');
      expect(config.status).toBe(200);
      expect(config.body).toMatchObject({ chatbotId: 'default' });
      for (const path of ['/', '/widget.js']) {
        const reply = await call(server, path);
        if (reply.status === 503) expect(reply.body.error?.code).toBe('WEB_APP_NOT_BUILT');
        else expect(reply.status).toBe(200);
      }
    });
  });

  describe('organisations', () => {
    beforeAll(async () => {
      await server.app.stores.chatbots.putChatbot({
        id: 'acme-bot',
        name: 'Acme',
        orgId: 'acme',
        collectionId: 'acme-bot',
        systemPrompt: null,
        temperature: null,
        maxTokens: null,
        glossary: [],
      });
    });

    it('a member of the organisation chats with its chatbot; another organisation gets 404', async () => {
      const member = bearer(await userToken('ann', { org: 'acme' }));
      expectAnswered(await chat(server, member, { message: 'hi acme', chatbotId: 'acme-bot' }));
      const outsider = bearer(await userToken('gus', { org: 'globex' }));
      expectRefusal(
        await call(server, '/api/chat/stream', {
          headers: outsider,
          json: { message: 'hi', chatbotId: 'acme-bot' },
        }),
        404,
        'CHATBOT_NOT_FOUND',
      );
      const noOrg = bearer(await userToken('solo'));
      expectRefusal(
        await call(server, '/api/chat/stream', {
          headers: noOrg,
          json: { message: 'hi', chatbotId: 'acme-bot' },
        }),
        404,
        'CHATBOT_NOT_FOUND',
      );
    });
  });

  describe('WebSocket sign-in', () => {
    it('closes a socket that never signs in with 1008 within 10 s', async () => {
      const client = await connectWs(server.url);
      const opened = Date.now();
      expect(await closeCode(client)).toBe(1008);
      expect(Date.now() - opened).toBeLessThan(11_000);
    }, 12_000);

    it('closes with 1008 on an auth message with a bad token', async () => {
      const client = await connectWs(server.url);
      client.send({ type: 'auth', token: 'garbage' });
      expect(await closeCode(client)).toBe(1008);
      expect(client.frames.some((frame) => frame.type === 'authenticated')).toBe(false);
    });

    it('signs in with an auth message, then chats', async () => {
      const client = await connectWs(server.url);
      client.send({ type: 'auth', token: await userToken('ws-user'), requestId: 'sign-in' });
      expect(await client.waitFor((frame) => frame.type === 'authenticated')).toEqual({
        type: 'authenticated',
        requestId: 'sign-in',
      });
      await wsChat(client, 'after-auth');
      client.socket.close();
    });

    it('signs in with the Authorization header of the upgrade', async () => {
      const client = await connectWs(server.url, { headers: bearer(await userToken('ws-header')) });
      await wsChat(client, 'by-header');
      client.socket.close();
    });

    it('signs in with Sec-WebSocket-Protocol: rivulet.v1, rivulet.bearer.<jwt> and selects rivulet.v1', async () => {
      const token = await userToken('ws-protocol');
      const socket = new WebSocket(wsUrl(server), ['rivulet.v1', `rivulet.bearer.${token}`]);
      const frames: ServerFrame[] = [];
      const done = new Promise<void>((resolve, reject) => {
        socket.on('message', (data: Buffer) => {
          const frame = JSON.parse(data.toString('utf8')) as ServerFrame;
          frames.push(frame);
          if (isTerminalFrame(frame)) resolve();
        });
        socket.on('close', (code) => reject(new Error(`closed with ${code}`)));
        socket.on('error', reject);
      });
      await new Promise<void>((resolve, reject) => {
        socket.once('open', () => resolve());
        socket.once('error', reject);
      });
      expect(socket.protocol).toBe('rivulet.v1');
      socket.send(JSON.stringify({ type: 'chat', message: 'hello by protocol', requestId: 'p' }));
      await done;
      expect(frames[0]).toMatchObject({ type: 'accepted', requestId: 'p' });
      expect(frames.at(-1)).toMatchObject({ type: 'event', event: { type: 'done', finishReason: 'stop' } });
      socket.removeAllListeners('close');
      socket.close();
    });

    it('opens, then closes with 1008, when the upgrade carries an invalid Authorization header', async () => {
      const client = await connectWs(server.url, { headers: bearer('not-a-valid-token') });
      expect(await closeCode(client)).toBe(1008);
      const badProtocol = new WebSocket(wsUrl(server), ['rivulet.v1', 'rivulet.bearer.not-a-valid-token']);
      const code = await new Promise<number>((resolve, reject) => {
        badProtocol.on('close', (closed) => resolve(closed));
        badProtocol.on('error', reject);
      });
      expect(code).toBe(1008);
    });

    it('closes with 1008 when a chat is sent before signing in, and starts nothing', async () => {
      server.upstream.reset();
      const client = await connectWs(server.url);
      client.send({ type: 'chat', message: 'too early', requestId: 'early' });
      expect(await closeCode(client)).toBe(1008);
      expect(client.frames.some((frame) => frame.type === 'accepted')).toBe(false);
      expect(server.upstream.requests).toHaveLength(0);
    });
  });
});

describe('auth with RS256 and ES256 keys from a JWKS URL', () => {
  let jwks: Server;
  let jwksHits = 0;
  let server: TestServer;
  let rsa: { publicKey: JoseCryptoKey; privateKey: JoseCryptoKey };
  let ec: { publicKey: JoseCryptoKey; privateKey: JoseCryptoKey };
  let rsaPublicPem: string;

  beforeAll(async () => {
    rsa = await generateKeyPair('RS256');
    ec = await generateKeyPair('ES256');
    rsaPublicPem = await exportSPKI(rsa.publicKey);
    const keys = [
      { ...(await exportJWK(rsa.publicKey)), kid: 'rsa-1', alg: 'RS256', use: 'sig' },
      { ...(await exportJWK(ec.publicKey)), kid: 'ec-1', alg: 'ES256', use: 'sig' },
    ];
    jwks = createServer((request, response) => {
      jwksHits += 1;
      if (request.url !== '/.well-known/jwks.json') {
        response.writeHead(404).end();
        return;
      }
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys }));
    });
    await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
    const { port } = jwks.address() as AddressInfo;
    server = await startTestServer({ AUTH_JWKS_URL: `http://127.0.0.1:${port}/.well-known/jwks.json` });
  });
  afterAll(async () => {
    await server?.close();
    await new Promise<void>((resolve) => {
      jwks.closeAllConnections();
      jwks.close(() => resolve());
    });
  });

  it('accepts valid RS256 and ES256 tokens, fetching the keys over HTTP', async () => {
    const rsToken = await signToken({ sub: 'rs-user' }, { alg: 'RS256', kid: 'rsa-1', key: rsa.privateKey });
    const rsHeaders = bearer(rsToken);
    expectAnswered(await chat(server, rsHeaders, { message: 'hello with RS256' }));
    expect(jwksHits).toBeGreaterThan(0);
    const esToken = await signToken({ sub: 'es-user' }, { alg: 'ES256', kid: 'ec-1', key: ec.privateKey });
    expect((await call(server, '/api/conversations', { headers: bearer(esToken) })).status).toBe(200);
    // Distinct users: each sees only their own conversations.
    expect(await conversationIds(server, rsHeaders)).toHaveLength(1);
    expect(await conversationIds(server, bearer(esToken))).toHaveLength(0);
  });

  it('refuses tokens signed by keys that are not in the set', async () => {
    const strangerRsa = await generateKeyPair('RS256');
    const strangerEc = await generateKeyPair('ES256');
    const tokens = [
      // Claiming a known kid, signed by another key.
      await signToken({ sub: 'x' }, { alg: 'RS256', kid: 'rsa-1', key: strangerRsa.privateKey }),
      await signToken({ sub: 'x' }, { alg: 'ES256', kid: 'ec-1', key: strangerEc.privateKey }),
      // An unknown kid.
      await signToken({ sub: 'x' }, { alg: 'RS256', kid: 'rsa-unknown', key: strangerRsa.privateKey }),
      // No kid at all.
      await signToken({ sub: 'x' }, { alg: 'ES256', key: strangerEc.privateKey }),
    ];
    for (const token of tokens) {
      const reply = await call(server, '/api/conversations', { headers: bearer(token) });
      expectRefusal(reply, 401, 'UNAUTHORIZED');
      expect(reply.body.error?.message).toBe(UNAUTHORIZED_MESSAGE);
    }
  });

  it('refuses an HS256 token signed with the RSA public key (key confusion)', async () => {
    for (const keyBytes of [rsaPublicPem, JSON.stringify(await exportJWK(rsa.publicKey))]) {
      const token = await signToken(
        { sub: 'attacker', role: 'admin' },
        { alg: 'HS256', kid: 'rsa-1', key: new TextEncoder().encode(keyBytes) },
      );
      expectRefusal(await call(server, '/api/stats', { headers: bearer(token) }), 401, 'UNAUTHORIZED');
    }
  });

  it('refuses HS256 tokens signed with any secret', async () => {
    const token = await signToken({ sub: 'x' });
    expectRefusal(await call(server, '/api/conversations', { headers: bearer(token) }), 401, 'UNAUTHORIZED');
  });
});

describe('refusing to start', () => {
  const base = {
    PORT: '0',
    DATA_DIR: ':memory:',
    SAMPLE_CORPUS: 'false',
    LLM_PROVIDER: 'none',
    LOG_LEVEL: 'silent',
  };

  it('will not serve an open API on a reachable address', async () => {
    const attempt = createApp(loadConfig({ ...base, HOST: '0.0.0.0' }));
    await expect(attempt).rejects.toBeInstanceOf(ConfigError);
    await expect(attempt).rejects.toThrow(/AUTH_JWT_SECRET/);
    await expect(createApp(loadConfig({ ...base, HOST: '::' }))).rejects.toBeInstanceOf(ConfigError);
  });

  it('starts on a reachable address once a JWT secret is set (without listening)', async () => {
    const app = await createApp(loadConfig({ ...base, HOST: '0.0.0.0', AUTH_JWT_SECRET: SECRET }));
    expect(app.config.auth.mode).toBe('required');
    expect(app.config.limits.enabled).toBe(true);
    await app.close();
  });

  it.each([
    ['a 10-character secret', { AUTH_JWT_SECRET: 'short12345' }, 'AUTH_JWT_SECRET'],
    ['alg none', { AUTH_JWT_SECRET: SECRET, AUTH_JWT_ALGORITHMS: 'none' }, 'AUTH_JWT_ALGORITHMS'],
    [
      'HS256 with a JWKS URL',
      { AUTH_JWKS_URL: 'http://127.0.0.1:1/jwks.json', AUTH_JWT_ALGORITHMS: 'HS256' },
      'AUTH_JWT_ALGORITHMS',
    ],
    [
      'RS256 with a shared secret',
      { AUTH_JWT_SECRET: SECRET, AUTH_JWT_ALGORITHMS: 'HS256,RS256' },
      'AUTH_JWT_ALGORITHMS',
    ],
    [
      'both a secret and a JWKS URL',
      { AUTH_JWT_SECRET: SECRET, AUTH_JWKS_URL: 'http://127.0.0.1:1/jwks.json' },
      'AUTH_JWT_SECRET',
    ],
  ])('refuses %s with a ConfigError naming the variable', (_name, env, variable) => {
    let error: unknown;
    try {
      loadConfig({ ...base, HOST: '127.0.0.1', ...env });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toContain(variable);
  });
});
