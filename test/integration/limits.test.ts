// Limits over real HTTP: requests per minute per IP and per principal, concurrent streams per principal, daily token
// budgets per principal and per chatbot, the size of a question, a body and a conversation; and none of it when
// limits are off.

import { SignJWT } from 'jose';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { usageDay } from '../../src/core/token-usage.ts';
import type { FakeScenario } from '../fakes/openai-upstream.ts';
import { lastEvent, readSse, type SseReadResult, chatStream, expectAnswered } from '../helpers/sse-client.ts';
import { call, expectRefusal, type Reply } from '../helpers/http.ts';
import { putTestChatbot, startTestServer, type TestServer } from '../helpers/test-server.ts';
import { connectWs } from '../helpers/ws-client.ts';

const SECRET = 'rivulet-limits-secret-of-more-than-32-chars';

async function userToken(sub: string, claims: Record<string, unknown> = {}): Promise<string> {
  return new SignJWT({ sub, ...claims })
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuedAt()
    .setExpirationTime('10m')
    .sign(new TextEncoder().encode(SECRET));
}

const as = async (sub: string, claims: Record<string, unknown> = {}): Promise<Record<string, string>> => ({
  authorization: `Bearer ${await userToken(sub, claims)}`,
});

/** Retry-After as a whole number of seconds (the header form Rivulet sends). */
function retryAfterSeconds(reply: Reply): number {
  const header = reply.headers['retry-after'];
  expect(header).toMatch(/^\d+$/);
  return Number(header);
}

const chat = (server: TestServer, headers: Record<string, string>, body: Record<string, unknown>) =>
  chatStream(server.url, headers, body);

function conversationOf(result: SseReadResult): string {
  const start = result.frames[0]?.data;
  if (start?.type !== 'start') throw new Error('no start event');
  return start.conversationId;
}

/** A chat that keeps streaming in the background; `runId` resolves at its first event. */
function backgroundChat(
  server: TestServer,
  headers: Record<string, string>,
  message: string,
): { runId: Promise<string>; result: Promise<SseReadResult> } {
  let resolveRun!: (runId: string) => void;
  let rejectRun!: (error: Error) => void;
  const runId = new Promise<string>((resolve, reject) => {
    resolveRun = resolve;
    rejectRun = reject;
  });
  const result = readSse(`${server.url}/api/chat/stream`, {
    body: { message },
    headers,
    onFrame(frame) {
      if (frame.data.type === 'start') resolveRun(frame.data.runId);
    },
  });
  void result.then((read) => rejectRun(new Error(`stream ended before its start event: ${read.status}`)));
  return { runId, result };
}

const SLOW: FakeScenario = { tokenCount: 200, interTokenMs: 20, seed: 3 };
const numbered = (count: number): string[] => Array.from({ length: count }, (_, index) => `w${index + 1} `);

describe('requests per minute per IP address', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({
      AUTH_JWT_SECRET: SECRET,
      LIMITS: 'on',
      RATE_LIMIT_PER_IP: '5',
      RATE_LIMIT_PER_PRINCIPAL: '0',
    });
  });
  afterAll(async () => {
    await server.close();
  });

  it('refuses the 6th API request in a minute with 429 RATE_LIMITED and Retry-After; /healthz is not counted', async () => {
    const alice = await as('alice');
    for (let index = 0; index < 10; index += 1) expect((await call(server, '/healthz')).status).toBe(200);
    for (let index = 0; index < 5; index += 1) {
      expect((await call(server, '/api/conversations', { headers: alice })).status).toBe(200);
    }
    const refused = await call(server, '/api/conversations', { headers: alice });
    expectRefusal(refused, 429, 'RATE_LIMITED');
    const seconds = retryAfterSeconds(refused);
    expect(seconds).toBeGreaterThan(0);
    expect(seconds).toBeLessThanOrEqual(60);
    // The limit is the address's: another user from it is refused too, and so is a chat.
    expectRefusal(
      await call(server, '/api/conversations', { headers: await as('bob') }),
      429,
      'RATE_LIMITED',
    );
    expectRefusal(
      await call(server, '/api/chat/stream', { headers: alice, json: { message: 'hi' } }),
      429,
      'RATE_LIMITED',
    );
    expect(server.upstream.requests).toHaveLength(0);
    // Health checks and the public config still answer.
    expect((await call(server, '/healthz')).status).toBe(200);
    expect((await call(server, '/api/config')).status).toBe(200);
  });
});

describe('requests per minute per IP address, before sign-in', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({
      AUTH_JWT_SECRET: SECRET,
      LIMITS: 'on',
      RATE_LIMIT_PER_IP: '3',
      RATE_LIMIT_PER_PRINCIPAL: '0',
    });
  });
  afterAll(async () => {
    await server.close();
  });

  it('counts refused credentials too, so guessing keys or tokens is slowed down', async () => {
    const guesses = ['garbage', `rk_AAAAAAAAAAAA_${'x'.repeat(43)}`, 'a.b.c'];
    for (const guess of guesses) {
      expectRefusal(
        await call(server, '/api/conversations', { headers: { authorization: `Bearer ${guess}` } }),
        401,
        'UNAUTHORIZED',
      );
    }
    const refused = await call(server, '/api/conversations', {
      headers: { authorization: 'Bearer guess-4' },
    });
    expectRefusal(refused, 429, 'RATE_LIMITED');
    expect(retryAfterSeconds(refused)).toBeGreaterThan(0);
  });
});

describe('requests per minute per principal', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({
      AUTH_JWT_SECRET: SECRET,
      LIMITS: 'on',
      RATE_LIMIT_PER_IP: '1000',
      RATE_LIMIT_PER_PRINCIPAL: '3',
    });
  });
  afterAll(async () => {
    await server.close();
  });

  it('refuses user A’s 4th request while user B, from the same address, goes on', async () => {
    const alice = await as('alice');
    const bob = await as('bob');
    for (let index = 0; index < 3; index += 1) {
      expect((await call(server, '/api/conversations', { headers: alice })).status).toBe(200);
    }
    const refused = await call(server, '/api/conversations', { headers: alice });
    expectRefusal(refused, 429, 'RATE_LIMITED');
    expect(retryAfterSeconds(refused)).toBeGreaterThan(0);
    // A fresh token for the same user is the same principal.
    expectRefusal(
      await call(server, '/api/conversations', { headers: await as('alice') }),
      429,
      'RATE_LIMITED',
    );
    expect((await call(server, '/api/conversations', { headers: bob })).status).toBe(200);
    expectAnswered(await chat(server, bob, { message: 'bob is not limited by alice' }));
  });
});

describe('concurrent streams per principal', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer(
      { AUTH_JWT_SECRET: SECRET, LIMITS: 'on', MAX_STREAMS_PER_PRINCIPAL: '2', RUN_GRACE_MS: '5000' },
      SLOW,
    );
  });
  afterAll(async () => {
    await server.close();
  });

  it('refuses a third stream with 429 TOO_MANY_STREAMS until one ends; others are unaffected', async () => {
    const alice = await as('alice');
    const first = backgroundChat(server, alice, 'first slow answer');
    const second = backgroundChat(server, alice, 'second slow answer');
    const firstRun = await first.runId;
    await second.runId;
    // Both reached the provider (a run starts before its history is read and its question stored).
    await expect.poll(() => server.upstream.requests.length).toBe(2);

    const third = await call(server, '/api/chat/stream', {
      headers: alice,
      json: { message: 'a third one' },
    });
    expectRefusal(third, 429, 'TOO_MANY_STREAMS');
    expect(third.body.error?.message).toContain('2');
    // The refusal started nothing upstream.
    expect(server.upstream.requests).toHaveLength(2);

    // Another principal streams meanwhile.
    const bob = backgroundChat(server, await as('bob'), 'bob streams too');
    const bobRun = await bob.runId;

    // Stopping one of alice's answers frees its slot.
    const stop = await call(server, `/api/runs/${firstRun}/stop`, { method: 'POST', headers: alice });
    expect(stop.status).toBe(200);
    expect(lastEvent((await first.result).frames)).toMatchObject({ type: 'done', finishReason: 'aborted' });
    const fourth = backgroundChat(server, alice, 'after one was stopped');
    const fourthRun = await fourth.runId;
    // Still two running for alice: a fifth waits its turn.
    expectRefusal(
      await call(server, '/api/chat/stream', { headers: alice, json: { message: 'a fifth' } }),
      429,
      'TOO_MANY_STREAMS',
    );

    for (const [runId, headers] of [
      [fourthRun, alice],
      [bobRun, await as('bob')],
    ] as const) {
      expect((await call(server, `/api/runs/${runId}/stop`, { method: 'POST', headers })).status).toBe(200);
    }
    // An answer that runs to its end frees its slot as well.
    server.upstream.setScenario({ tokenCount: 10, seed: 4 });
    expectAnswered(await second.result);
    await Promise.all([fourth.result, bob.result]);
    expectAnswered(await chat(server, alice, { message: 'quick one' }));
    expectAnswered(await chat(server, alice, { message: 'and right after it, another' }));
  });
});

describe('daily token budgets', () => {
  let server: TestServer;
  const today = (): string => usageDay(Date.now());
  const spent = (scope: 'principal' | 'chatbot', subject: string): Promise<number> =>
    server.app.stores.tokenUsage.spent(scope, subject, today());

  beforeAll(async () => {
    server = await startTestServer(
      { AUTH_JWT_SECRET: SECRET, LIMITS: 'on', TOKENS_PER_DAY_PER_PRINCIPAL: '50', ANSWER_CACHE: 'true' },
      { tokenCount: 8, seed: 2, usage: { promptTokens: 40, completionTokens: 20 } },
    );
    const form = new FormData();
    form.append(
      'file',
      new Blob(['# Returns\n\nParcels can be returned within 30 days of delivery for a full refund.']),
      'returns.md',
    );
    const upload = await fetch(`${server.url}/api/documents`, {
      method: 'POST',
      body: form,
      headers: await as('root', { role: 'admin' }),
    });
    expect(upload.status).toBe(200);
    await server.app.stores.chatbots.putChatbot({
      id: 'budgeted',
      name: 'Budgeted',
      collectionId: 'budgeted',
      systemPrompt: null,
      temperature: null,
      maxTokens: null,
      glossary: [],
      limits: { tokensPerDay: 50 },
    });
  });
  afterAll(async () => {
    await server.close();
  });

  it('charges the real usage, then refuses with 429 TOKEN_BUDGET_EXCEEDED until UTC midnight', async () => {
    const alice = await as('alice');
    expectAnswered(await chat(server, alice, { message: 'what is the weather like on mars' }));
    await server.app.chat.settled();
    await expect.poll(() => spent('principal', 'user:alice')).toBe(60);

    const refused = await call(server, '/api/chat/stream', { headers: alice, json: { message: 'one more' } });
    expectRefusal(refused, 429, 'TOKEN_BUDGET_EXCEEDED');
    const seconds = retryAfterSeconds(refused);
    const untilMidnight =
      (Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), new Date().getUTCDate() + 1) -
        Date.now()) /
      1000;
    expect(seconds).toBeGreaterThanOrEqual(1);
    expect(seconds).toBeLessThanOrEqual(86_400);
    expect(Math.abs(seconds - untilMidnight)).toBeLessThanOrEqual(5);
    // Nothing was charged for the refusal, and another user still has a whole budget.
    expect(await spent('principal', 'user:alice')).toBe(60);
    expectAnswered(await chat(server, await as('carol'), { message: 'carol asks about mars too' }));
  });

  it('a chatbot’s own budget refuses every user once spent', async () => {
    expectAnswered(
      await chat(server, await as('dave'), { message: 'hello budgeted', chatbotId: 'budgeted' }),
    );
    await server.app.chat.settled();
    await expect.poll(() => spent('chatbot', 'budgeted')).toBe(60);
    const erin = await as('erin');
    const refused = await call(server, '/api/chat/stream', {
      headers: erin,
      json: { message: 'hello budgeted', chatbotId: 'budgeted' },
    });
    expectRefusal(refused, 429, 'TOKEN_BUDGET_EXCEEDED');
    expect(refused.body.error?.message).toContain('chatbot');
    expect(retryAfterSeconds(refused)).toBeGreaterThanOrEqual(1);
    // Erin's own budget is untouched: the default chatbot still answers her.
    expect(await spent('principal', 'user:erin')).toBe(0);
    expectAnswered(await chat(server, erin, { message: 'hello default' }));
  });

  // A new conversation starts from the chatbot as this process last read it: a budget another process lifted
  // meanwhile must not keep refusing from that copy (ChatService's logic, the same on SQLite; run here where another
  // process can reach the test server's database).
  it.runIf(process.env.RIVULET_TEST_STORE === 'postgres')(
    'answers once another process lifts a chatbot’s spent budget, though this one remembers it spent',
    async () => {
      await server.app.stores.chatbots.putChatbot({
        id: 'lifted',
        name: 'Lifted',
        collectionId: 'lifted',
        systemPrompt: null,
        temperature: null,
        maxTokens: null,
        glossary: [],
        limits: { tokensPerDay: 50 },
      });
      const ivan = await as('ivan');
      expectAnswered(await chat(server, ivan, { message: 'hello lifted', chatbotId: 'lifted' }));
      await server.app.chat.settled();
      await expect.poll(() => spent('chatbot', 'lifted')).toBe(60);
      // Judy's own budget is whole: the chatbot's refuses her.
      const refused = await call(server, '/api/chat/stream', {
        headers: await as('judy'),
        json: { message: 'again?', chatbotId: 'lifted' },
      });
      expectRefusal(refused, 429, 'TOKEN_BUDGET_EXCEEDED');
      expect(refused.body.error?.message).toContain('chatbot');
      const elsewhere = postgres(server.app.config.databaseUrl ?? '', { max: 1, onnotice: () => {} });
      try {
        await elsewhere`UPDATE chatbots SET limits = '{"tokensPerDay":null}', updated_at = updated_at + 1
          WHERE id = 'lifted'`;
      } finally {
        await elsewhere.end();
      }
      expectAnswered(await chat(server, await as('ken'), { message: 'lifted?', chatbotId: 'lifted' }));
    },
  );

  it('does not charge an answer served from the cache', async () => {
    const question = 'How long do I have to return a parcel?';
    // Colleagues in one organisation share cached answers (users of no organisation do not).
    const frank = await as('frank', { org: 'acme' });
    const first = await chat(server, frank, { message: question });
    expectAnswered(first);
    expect(lastEvent(first.frames)).toMatchObject({ cached: false });
    await server.app.chat.settled();
    await expect.poll(() => spent('principal', 'user:frank')).toBe(60);
    const requestsBefore = server.upstream.requests.length;

    const grace = await as('grace', { org: 'acme' });
    const again = await chat(server, grace, { message: question });
    expectAnswered(again);
    expect(lastEvent(again.frames)).toMatchObject({ cached: true });
    await server.app.chat.settled();
    expect(server.upstream.requests).toHaveLength(requestsBefore);
    expect(await spent('principal', 'user:grace')).toBe(0);
    // Frank, over budget, is refused before the cache is even looked at.
    expectRefusal(
      await call(server, '/api/chat/stream', { headers: frank, json: { message: question } }),
      429,
      'TOKEN_BUDGET_EXCEEDED',
    );
  });
});

describe('sizes of questions, bodies and conversations', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer(
      {
        AUTH_JWT_SECRET: SECRET,
        LIMITS: 'on',
        MAX_MESSAGE_CHARS: '100',
        BODY_LIMIT_BYTES: '2048',
        MAX_CONVERSATION_MESSAGES: '4',
      },
      { tokenCount: 6, seed: 8 },
    );
  });
  afterAll(async () => {
    await server.close();
  });

  it('refuses a question over MAX_MESSAGE_CHARS with 413 MESSAGE_TOO_LONG; one at the limit is fine', async () => {
    const alice = await as('alice');
    const refused = await call(server, '/api/chat/stream', {
      headers: alice,
      json: { message: 'q'.repeat(101) },
    });
    expectRefusal(refused, 413, 'MESSAGE_TOO_LONG');
    expect(refused.body.error?.message).toContain('100');
    expect(server.upstream.requests).toHaveLength(0);
    expectAnswered(await chat(server, alice, { message: 'q'.repeat(100) }));
  });

  it('refuses a body over BODY_LIMIT_BYTES with 413 PAYLOAD_TOO_LARGE', async () => {
    const alice = await as('alice');
    const refused = await call(server, '/api/chat/stream', {
      headers: alice,
      json: { message: 'hello', padding: 'x'.repeat(4000) },
    });
    expectRefusal(refused, 413, 'PAYLOAD_TOO_LARGE');
  });

  it('refuses a third question in a conversation of 4 messages with 413 CONVERSATION_TOO_LONG', async () => {
    const alice = await as('alice');
    const first = await chat(server, alice, { message: 'first question' });
    expectAnswered(first);
    const conversationId = conversationOf(first);
    await server.app.chat.settled();
    expectAnswered(await chat(server, alice, { message: 'second question', conversationId }));
    await server.app.chat.settled();
    const refused = await call(server, '/api/chat/stream', {
      headers: alice,
      json: { message: 'third question', conversationId },
    });
    expectRefusal(refused, 413, 'CONVERSATION_TOO_LONG');
    const messages = await call(server, `/api/conversations/${conversationId}/messages`, { headers: alice });
    expect(messages.body.messages).toHaveLength(4);
    // A new conversation still works.
    expectAnswered(await chat(server, alice, { message: 'third question, new conversation' }));
  });
});

describe('with limits off', () => {
  it('LIMITS=off applies no rate limit, stream limit or token budget', async () => {
    const server = await startTestServer(
      {
        AUTH_JWT_SECRET: SECRET,
        LIMITS: 'off',
        RATE_LIMIT_PER_IP: '1',
        RATE_LIMIT_PER_PRINCIPAL: '1',
        MAX_STREAMS_PER_PRINCIPAL: '1',
        TOKENS_PER_DAY_PER_PRINCIPAL: '1',
      },
      { tokenCount: 60, interTokenMs: 5, seed: 6, usage: { promptTokens: 40, completionTokens: 20 } },
    );
    try {
      const alice = await as('alice');
      for (let index = 0; index < 5; index += 1) {
        expect((await call(server, '/api/conversations', { headers: alice })).status).toBe(200);
      }
      // Two at once, each well over a 1-token budget, twice over.
      for (let round = 0; round < 2; round += 1) {
        const answers = await Promise.all([
          chat(server, alice, { message: `round ${round} a` }),
          chat(server, alice, { message: `round ${round} b` }),
        ]);
        answers.forEach(expectAnswered);
        await server.app.chat.settled();
      }
      expect(await server.app.stores.tokenUsage.spent('principal', 'user:alice', usageDay(Date.now()))).toBe(
        0,
      );
    } finally {
      await server.close();
    }
  });

  it('an open local install has no limits by default', async () => {
    const server = await startTestServer({ RATE_LIMIT_PER_IP: '1', MAX_STREAMS_PER_PRINCIPAL: '1' });
    try {
      expect(server.app.config.limits.enabled).toBe(false);
      for (let index = 0; index < 5; index += 1) {
        expect((await call(server, '/api/conversations')).status).toBe(200);
      }
      const answers = await Promise.all([
        chat(server, {}, { message: 'one' }),
        chat(server, {}, { message: 'two' }),
      ]);
      answers.forEach(expectAnswered);
    } finally {
      await server.close();
    }
  });
});

describe('limits that hold under pressure', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer(
      {
        AUTH_JWT_SECRET: SECRET,
        LIMITS: 'on',
        MAX_STREAMS_PER_PRINCIPAL: '2',
        // Room for two answers' reservations at once (each holds its prompt and BUDGET_ANSWER_MAX_TOKENS).
        TOKENS_PER_DAY_PER_PRINCIPAL: '100000',
        RATE_LIMIT_PER_IP: '10000',
        RATE_LIMIT_PER_PRINCIPAL: '10000',
        ANSWER_CACHE: 'false',
      },
      SLOW,
    );
    await putTestChatbot(server, 'shop', { allowedOrigins: ['https://shop.example'] });
  });
  afterAll(() => server?.close());

  it('eight chats sent at once over one WebSocket start only MAX_STREAMS_PER_PRINCIPAL answers', async () => {
    server.upstream.reset();
    const client = await connectWs(server.url, { headers: await as('burst') });
    for (let index = 0; index < 8; index++)
      client.send({ type: 'chat', message: `burst ${index}`, requestId: `r${index}` });
    await client.waitFor(
      () => client.frames.filter((f) => f.type === 'accepted' || f.type === 'error').length === 8,
    );
    const accepted = client.frames.filter((frame) => frame.type === 'accepted');
    const refused = client.frames.filter((frame) => frame.type === 'error');
    expect(accepted).toHaveLength(2);
    expect(refused.map((frame) => (frame.type === 'error' ? frame.error.code : ''))).toEqual(
      Array(6).fill('TOO_MANY_STREAMS'),
    );
    // Both accepted answers reach the model; none of the refused ones ever does.
    await server.upstream.waitForRequest(1);
    await server.upstream.waitForRequest(2);
    client.socket.close();
    for (const frame of accepted) if (frame.type === 'accepted') await server.app.hub.stop(frame.runId);
    await server.app.chat.settled();
    expect(server.upstream.requests).toHaveLength(2);
  });

  it('an answer may not write more tokens than are left of the budget', async () => {
    server.upstream.reset();
    await server.app.stores.tokenUsage.charge(
      [{ scope: 'principal', subject: 'user:thrifty' }],
      99_990,
      usageDay(Date.now()),
    );
    const reply = await call(server, '/api/chat', {
      headers: await as('thrifty'),
      json: { message: 'A long essay, please.', maxTokens: 100_000 },
    });
    expect(reply.status).toBe(200);
    expect(server.upstream.requests).toHaveLength(1);
    expect((server.upstream.requests[0]?.body as { max_tokens?: number }).max_tokens).toBe(10);
  });

  it('an answer that fails mid-way is charged what it cost, prompt included', async () => {
    server.upstream.reset();
    server.upstream.enqueue({ tokens: numbered(30), dropAfter: 5 });
    const reply = await call(server, '/api/chat', {
      headers: await as('dropper'),
      json: { message: 'Fail half-way.' },
    });
    expect(reply.status).toBeGreaterThanOrEqual(500);
    await server.app.chat.settled();
    const spent = await server.app.stores.tokenUsage.spent('principal', 'user:dropper', usageDay(Date.now()));
    // Five words out, and a prompt of system instructions and the question in: more than the five alone.
    expect(spent).toBeGreaterThan(20);
  });

  it('an anonymous visitor cannot reset the stream limit by making up a new session id', async () => {
    const anonymous = (session: string) => ({ origin: 'https://shop.example', 'x-session-id': session });
    const runIds: string[] = [];
    const started = (session: string, message: string): Promise<SseReadResult> =>
      readSse(`${server.url}/api/chat/stream`, {
        body: { message, chatbotId: 'shop' },
        headers: anonymous(session),
        onFrame(frame) {
          if (frame.data.type === 'start') runIds.push(frame.data.runId);
        },
      });
    const first = started('a'.repeat(20), 'one');
    const second = started('b'.repeat(20), 'two');
    await expect.poll(() => runIds.length).toBe(2);
    const third = await call(server, '/api/chat/stream', {
      headers: anonymous('c'.repeat(20)),
      json: { message: 'three', chatbotId: 'shop' },
    });
    expectRefusal(third, 429, 'TOO_MANY_STREAMS');
    for (const runId of runIds) await server.app.hub.stop(runId);
    await Promise.all([first, second]);
  });
});
