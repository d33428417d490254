// Property-based fuzz test of the claims a JWT carries (fast-check): any JSON value as the organisation, role and
// roles claims of a correctly signed token, thrown at a real server whose data spans two organisations. Per case:
// the token is either refused with a coded 401, or it acts for exactly what its well-formed claims say: never for an
// organisation it does not name, never as an admin without the admin role (issue 12, finding 7: an `org` of [] or ""
// made an organisation's admin an admin of everything).
//
// CI runs a fixed seed and a bounded number of cases. A longer run (a failure prints the seed and path to replay):
//   FUZZ_RUNS=2000 FUZZ_SEED=$RANDOM npx vitest run test/integration/fuzz-claims.test.ts

import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call } from '../helpers/http.ts';
import { signTestJwt } from '../helpers/jwt.ts';
import { putTestChatbot, startTestServer, type TestServer } from '../helpers/test-server.ts';

const SEED = Number(process.env.FUZZ_SEED ?? 20261212);
const RUNS = Number(process.env.FUZZ_RUNS ?? 150);
const PROPERTY_TIMEOUT_MS = Math.max(60_000, RUNS * 200);
const SECRET = 'rivulet-fuzz-claims-secret-of-32-chars-or-more';

/** What a well-formed organisation id looks like (chatbots and API keys use the same rule). */
const ORG_ID = /^[\w.-]{1,200}$/;

let server: TestServer;
const errorLogs: string[] = [];

beforeAll(async () => {
  server = await startTestServer(
    { AUTH_JWT_SECRET: SECRET, LIMITS: 'off' },
    { tokenCount: 2 },
    { logs: errorLogs, logLevel: 'error' },
  );
  // Each organisation has a chatbot, a key and a run in the stats; a shared chatbot belongs to none.
  await putTestChatbot(server, 'acme-bot', { orgId: 'acme', visibility: 'private' });
  await putTestChatbot(server, 'globex-bot', { orgId: 'globex', visibility: 'private' });
  await server.app.stores.apiKeys.createApiKey({ name: 'acme-key', orgId: 'acme', admin: false });
  await server.app.stores.apiKeys.createApiKey({ name: 'globex-key', orgId: 'globex', admin: false });
  const root = { authorization: `Bearer ${await signTestJwt(SECRET, 'root', { role: 'admin' })}` };
  for (const chatbotId of ['acme-bot', 'globex-bot']) {
    const reply = await call(server, '/api/chat', { headers: root, json: { message: 'hello', chatbotId } });
    expect(reply.status).toBe(200);
  }
  await server.app.chat.settled();
});

afterAll(async () => {
  await server?.close();
});

/** A claim's value: absent, or any JSON value, weighted towards the shapes that fooled the old code. */
const claimValue = fc.oneof(
  { arbitrary: fc.constant(undefined), weight: 2 },
  { arbitrary: fc.constantFrom('acme', 'globex', 'admin', 'member', 'ACME'), weight: 3 },
  {
    arbitrary: fc.constantFrom<unknown>(
      '',
      ' ',
      [],
      [''],
      ['admin'],
      ['acme'],
      ['acme', 'globex'],
      null,
      0,
      {},
    ),
    weight: 3,
  },
  { arbitrary: fc.array(fc.constantFrom('acme', 'globex', 'admin', 'ops', ''), { maxLength: 4 }), weight: 2 },
  { arbitrary: fc.string({ maxLength: 300 }), weight: 2 },
  { arbitrary: fc.jsonValue({ maxDepth: 2 }), weight: 2 },
);

interface Claims {
  org: unknown;
  role: unknown;
  roles: unknown;
}

/** What a token with these claims may be, by the documented rule; undefined: it must be refused. */
function expected(claims: Claims): { org: string | null; admin: boolean } | undefined {
  if (claims.org !== undefined && (typeof claims.org !== 'string' || !ORG_ID.test(claims.org)))
    return undefined;
  if (claims.role !== undefined && typeof claims.role !== 'string') return undefined;
  const roles = claims.roles;
  if (roles !== undefined && (!Array.isArray(roles) || !roles.every((role) => typeof role === 'string'))) {
    return undefined;
  }
  const all = [claims.role, ...((roles as unknown[] | undefined) ?? [])];
  return { org: claims.org ?? null, admin: all.includes('admin') };
}

const ids = (list: unknown): string[] => ((list ?? []) as { id: string }[]).map((item) => item.id).sort();
const names = (list: unknown): string[] =>
  ((list ?? []) as { name: string }[]).map((item) => item.name).sort();

describe('fuzzed organisation and role claims', () => {
  it(
    'never widen rights: refused with 401, or exactly the organisation and role the claims name',
    async () => {
      await fc.assert(
        fc.asyncProperty(claimValue, claimValue, claimValue, async (org, role, roles) => {
          const claims: Claims = { org, role, roles };
          const payload = Object.fromEntries(
            Object.entries(claims).filter(([, value]) => value !== undefined),
          );
          const headers = { authorization: `Bearer ${await signTestJwt(SECRET, 'fuzz', payload)}` };
          const rights = expected(claims);
          const me = await call(server, '/api/me', { headers });
          const chatbots = await call(server, '/api/chatbots', { headers });
          const keys = await call(server, '/api/keys', { headers });
          const stats = await call(server, '/api/stats', { headers });
          if (rights === undefined) {
            for (const reply of [me, chatbots, keys, stats]) {
              expect({ status: reply.status, code: reply.body.error?.code }).toEqual({
                status: 401,
                code: 'UNAUTHORIZED',
              });
            }
            return;
          }
          expect(me.body).toMatchObject({ kind: 'user', orgId: rights.org, admin: rights.admin });
          // Members see their organisation's chatbots and the shared ones; admins of no organisation all of them.
          const everything = rights.org === null && rights.admin;
          const visible = ['acme-bot', 'default', 'globex-bot'].filter(
            (id) => everything || id === 'default' || id === `${rights.org}-bot`,
          );
          expect(ids(chatbots.body.chatbots)).toEqual(visible);
          if (!rights.admin) {
            expect([keys.status, stats.status]).toEqual([403, 403]);
            return;
          }
          expect(keys.status).toBe(200);
          expect(names(keys.body.keys)).toEqual(
            ['acme-key', 'globex-key'].filter((name) => everything || name === `${rights.org}-key`),
          );
          expect(stats.status).toBe(200);
          expect(stats.body.chatbots).toEqual(visible.filter((id) => id !== 'default'));
        }),
        { seed: SEED, numRuns: RUNS, endOnFailure: true },
      );
      expect(errorLogs).toEqual([]);
    },
    PROPERTY_TIMEOUT_MS,
  );
});
