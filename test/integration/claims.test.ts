// Malformed claims narrow rights, never widen them (issue 12, finding 7): a JWT whose organisation claim is there
// but is not an organisation id (an array, "", a number, an object, null, too long) made an organisation's admin an
// admin of no organisation, who manages everything. Such a token, or one with a malformed role or roles claim, is
// refused with 401 now, over real HTTP and WebSocket, and the reason is logged.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, expectRefusal } from '../helpers/http.ts';
import { signTestJwt } from '../helpers/jwt.ts';
import { putTestChatbot, startTestServer, type TestServer } from '../helpers/test-server.ts';
import { connectWs } from '../helpers/ws-client.ts';

const SECRET = 'rivulet-claims-secret-of-more-than-32-chars';
const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` });

let server: TestServer;
const logs: string[] = [];

beforeAll(async () => {
  server = await startTestServer({ AUTH_JWT_SECRET: SECRET, LIMITS: 'off' }, { tokenCount: 3 }, { logs });
  await putTestChatbot(server, 'acme-bot', { orgId: 'acme', visibility: 'private' });
  await putTestChatbot(server, 'globex-bot', { orgId: 'globex', visibility: 'private' });
  await server.app.stores.apiKeys.createApiKey({ name: 'globex-ci', orgId: 'globex', admin: false });
});

afterAll(async () => {
  await server?.close();
});

/** Claims that are there but name no organisation: each used to read as "no organisation". */
const MALFORMED_ORGS: [string, unknown][] = [
  ['an array', ['acme']],
  ['an empty array', []],
  ['an array of two organisations', ['acme', 'globex']],
  ['an empty string', ''],
  ['a number', 42],
  ['zero', 0],
  ['false', false],
  ['an object', { id: 'acme' }],
  ['null', null],
  ['201 characters', 'a'.repeat(201)],
  ['spaces only', '   '],
  ['a string with characters no organisation id has', 'acme/../globex'],
];

describe('an admin token with a malformed organisation claim', () => {
  it.each(MALFORMED_ORGS)('(%s) is refused with 401 on the global-admin routes', async (_name, org) => {
    const token = await signTestJwt(SECRET, 'mallory', { org, role: 'admin' });
    const headers = bearer(token);
    expectRefusal(await call(server, '/api/stats', { headers }), 401, 'UNAUTHORIZED');
    expectRefusal(await call(server, '/metrics', { headers }), 401, 'UNAUTHORIZED');
    expectRefusal(await call(server, '/api/chatbots', { headers }), 401, 'UNAUTHORIZED');
    expectRefusal(await call(server, '/api/chatbots/globex-bot', { headers }), 401, 'UNAUTHORIZED');
    expectRefusal(await call(server, '/api/keys', { headers }), 401, 'UNAUTHORIZED');
    // Not even a key for every organisation can be made with it.
    expectRefusal(
      await call(server, '/api/keys', { headers, json: { name: 'escalate', admin: true } }),
      401,
      'UNAUTHORIZED',
    );
    expectRefusal(
      await call(server, '/api/chat/stream', { headers, json: { message: 'hi', chatbotId: 'globex-bot' } }),
      401,
      'UNAUTHORIZED',
    );
  });

  it('is refused on a WebSocket too (1008), and the log says which claim was wrong, not its content', async () => {
    const token = await signTestJwt(SECRET, 'mallory', { org: ['acme', 'globex'], role: 'admin' });
    const client = await connectWs(server.url, { headers: bearer(token) });
    expect((await client.closed).code).toBe(1008);
    const refusals = logs.filter((line) => line.includes('claim is not an organisation id'));
    expect(refusals.length).toBeGreaterThan(0);
    expect(refusals.join('\n')).toContain('an array of 2');
    expect(refusals.join('\n')).not.toContain('globex');
  });

  it('the same organisation claim, well formed, gives that organisation only', async () => {
    const headers = bearer(await signTestJwt(SECRET, 'ada', { org: 'acme', role: 'admin' }));
    const chatbots = await call(server, '/api/chatbots', { headers });
    expect(chatbots.status).toBe(200);
    expect(chatbots.text).toContain('acme-bot');
    expect(chatbots.text).not.toContain('globex-bot');
    const keys = await call(server, '/api/keys', { headers });
    expect(keys.status).toBe(200);
    expect(keys.text).not.toContain('globex');
    expect((await call(server, '/api/stats', { headers })).text).not.toContain('globex');
    expectRefusal(await call(server, '/metrics', { headers }), 403, 'FORBIDDEN');
    // No organisation claim at all is a user of no organisation, as before.
    const solo = bearer(await signTestJwt(SECRET, 'solo', {}));
    expect((await call(server, '/api/me', { headers: solo })).body).toMatchObject({
      orgId: null,
      admin: false,
    });
  });
});

describe('malformed role claims', () => {
  const CASES: [string, Record<string, unknown>][] = [
    ['role as an array', { role: ['admin'] }],
    ['role as an object', { role: { name: 'admin' } }],
    ['role as null', { role: null }],
    ['roles as a string', { roles: 'admin' }],
    ['roles holding a non-string', { roles: ['admin', 7] }],
    ['roles as an object', { roles: { 0: 'admin' } }],
  ];
  it.each(CASES)('(%s) are refused with 401, with or without an organisation', async (_name, claims) => {
    for (const org of [{}, { org: 'acme' }]) {
      const headers = bearer(await signTestJwt(SECRET, 'mallory', { ...org, ...claims }));
      expectRefusal(await call(server, '/api/stats', { headers }), 401, 'UNAUTHORIZED');
      expectRefusal(await call(server, '/api/conversations', { headers }), 401, 'UNAUTHORIZED');
    }
  });

  it('well-formed role and roles still make an admin', async () => {
    for (const claims of [
      { role: 'admin' },
      { roles: ['ops', 'admin'] },
      { role: 'ops', roles: ['admin'] },
    ]) {
      const headers = bearer(await signTestJwt(SECRET, 'root', claims));
      expect((await call(server, '/api/stats', { headers })).status).toBe(200);
    }
    const member = bearer(await signTestJwt(SECRET, 'member', { role: 'member', roles: [] }));
    expectRefusal(await call(server, '/api/stats', { headers: member }), 403, 'FORBIDDEN');
  });
});

describe('an API key whose organisation is malformed in the database', () => {
  it('is refused with 401 instead of acting for every organisation', async () => {
    // The admin API and the CLI validate organisations; this one went around them (a hand-edited database).
    const { token } = await server.app.stores.apiKeys.createApiKey({
      name: 'edited',
      orgId: '',
      admin: true,
    });
    const headers = bearer(token);
    expectRefusal(await call(server, '/api/stats', { headers }), 401, 'UNAUTHORIZED');
    expectRefusal(await call(server, '/api/keys', { headers }), 401, 'UNAUTHORIZED');
  });
});
