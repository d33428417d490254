// Limits across instances: two Rivulet servers sharing Redis (REDIS_URL, one key prefix) and one database count
// streams, requests and token budgets together; a dead instance's slots lapse; without Redis each counts alone.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { usageDay } from '../../src/core/token-usage.ts';
import { RedisBudgetCounters } from '../../src/stores/redis/redis-budget-counters.ts';
import { RedisStreamSlots } from '../../src/stores/redis/redis-stream-slots.ts';
import { call, expectRefusal } from '../helpers/http.ts';
import { postgresSkipReason, createTestDatabase, type TestDatabase } from '../helpers/postgres.ts';
import { deleteKeys, REDIS_URL, redisSkipReason, testKeyPrefix } from '../helpers/redis.ts';
import { lastEvent, readSse, type SseReadResult } from '../helpers/sse-client.ts';
import { putTestChatbot, startTestServer, type TestServer } from '../helpers/test-server.ts';

const SECRET = 'rivulet-redis-limits-secret-of-32-chars-at-least';
const SLOW = { tokenCount: 200, interTokenMs: 20, seed: 5 };
/** What the fake upstream reports for every answer: 60 tokens each. */
const USAGE = { promptTokens: 40, completionTokens: 20 };

const as = async (sub: string): Promise<Record<string, string>> => ({
  authorization: `Bearer ${await new SignJWT({ sub })
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuedAt()
    .setExpirationTime('10m')
    .sign(new TextEncoder().encode(SECRET))}`,
});

/** A chat streaming in the background; `runId` resolves at its start event (rejects if refused). */
function backgroundChat(server: TestServer, headers: Record<string, string>, body: Record<string, unknown>) {
  let resolveRun!: (runId: string) => void;
  let rejectRun!: (error: Error) => void;
  const runId = new Promise<string>((resolve, reject) => {
    resolveRun = resolve;
    rejectRun = reject;
  });
  const result = readSse(`${server.url}/api/chat/stream`, {
    body,
    headers,
    onFrame(frame) {
      if (frame.data.type === 'start') resolveRun(frame.data.runId);
    },
  });
  void result.then((read) => rejectRun(new Error(`refused with ${read.status}`)));
  return { runId, result };
}

const skipReason = redisSkipReason ?? postgresSkipReason;

describe.skipIf(skipReason !== undefined)('limits across two instances (Redis, PostgreSQL)', () => {
  const prefix = testKeyPrefix('limits-it');
  let database: TestDatabase;
  let a: TestServer;
  let b: TestServer;
  let redis: Redis;

  beforeAll(async () => {
    database = await createTestDatabase('limits');
    const env = {
      AUTH_JWT_SECRET: SECRET,
      LIMITS: 'on',
      REDIS_URL: REDIS_URL!,
      REDIS_KEY_PREFIX: prefix,
      DATABASE_URL: database.url,
      MAX_STREAMS_PER_PRINCIPAL: '2',
      RATE_LIMIT_PER_PRINCIPAL: '6',
      ANSWER_CACHE: 'false',
      RUN_GRACE_MS: '5000',
    };
    a = await startTestServer(env, { ...SLOW, usage: USAGE });
    b = await startTestServer(env, { ...SLOW, usage: USAGE });
    redis = new Redis(REDIS_URL!);
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    redis?.disconnect();
    await deleteKeys(prefix);
    await database?.drop();
  });

  it('MAX_STREAMS_PER_PRINCIPAL counts the streams on every instance: two on A, the third on B is refused until one ends', async () => {
    const alice = await as('alice');
    const first = backgroundChat(a, alice, { message: 'first slow answer' });
    const second = backgroundChat(a, alice, { message: 'second slow answer' });
    const firstRun = await first.runId;
    await second.runId;

    expectRefusal(
      await call(b, '/api/chat/stream', { headers: alice, json: { message: 'a third, elsewhere' } }),
      429,
      'TOO_MANY_STREAMS',
    );
    expect(b.upstream.requests).toHaveLength(0);

    expect((await call(a, `/api/runs/${firstRun}/stop`, { method: 'POST', headers: alice })).status).toBe(
      200,
    );
    expect(lastEvent((await first.result).frames)).toMatchObject({ type: 'done', finishReason: 'aborted' });
    // The slot is released once the answer is stored: B accepts as soon as it sees it free.
    let third: ReturnType<typeof backgroundChat> | undefined;
    await expect
      .poll(
        async () => {
          const attempt = backgroundChat(b, alice, { message: 'third, after one ended' });
          const accepted = await attempt.runId.then(
            () => true,
            () => false,
          );
          if (accepted) third = attempt;
          return accepted;
        },
        { timeout: 10_000, interval: 100 },
      )
      .toBe(true);
    for (const [server, chat] of [
      [a, second],
      [b, third!],
    ] as const) {
      await call(server, `/api/runs/${await chat.runId}/stop`, { method: 'POST', headers: alice });
      await chat.result;
    }
  });

  it('a per-principal rate limit is counted across both instances', async () => {
    const rater = await as('rater');
    const statuses: number[] = [];
    for (let index = 0; index < 6; index++) {
      statuses.push((await call(index % 2 === 0 ? a : b, '/api/conversations', { headers: rater })).status);
    }
    expect(statuses).toEqual(Array(6).fill(200));
    const seventh = await call(b, '/api/conversations', { headers: rater });
    expectRefusal(seventh, 429, 'RATE_LIMITED');
    expect(Number(seventh.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    // Another principal from the same address goes on.
    expect((await call(a, '/api/conversations', { headers: await as('someone-else') })).status).toBe(200);
  });

  it('a slot whose instance died (its lease is no longer refreshed) frees itself after the lease', async () => {
    // A dead instance took both of zombie's slots with a 1.5 s lease and never refreshed them.
    const slots = new RedisStreamSlots(redis, prefix);
    expect(await slots.acquire('user:zombie', 'dead-1', 2, 1_500)).toEqual({ acquired: true });
    expect(await slots.acquire('user:zombie', 'dead-2', 2, 1_500)).toEqual({ acquired: true });
    const zombie = await as('zombie');
    expectRefusal(
      await call(b, '/api/chat/stream', {
        headers: zombie,
        json: { message: 'refused while the dead hold' },
      }),
      429,
      'TOO_MANY_STREAMS',
    );
    // Each attempt counts against RATE_LIMIT_PER_PRINCIPAL: wait the lease out (and a margin), then ask once.
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    const chat = backgroundChat(b, zombie, { message: 'after the lease' });
    await chat.runId;
    await call(b, `/api/runs/${await chat.runId}/stop`, { method: 'POST', headers: zombie });
    await chat.result;
  });

  it('a chatbot budget is never overspent by 10 parallel answers spread over both instances', async () => {
    // Every answer costs 60 tokens (USAGE) and may write 20; its hold is its estimated prompt (over 60 tokens: the
    // grounding instructions alone are) plus 20, so an answer given its whole hold never spends more than it.
    const budget = 150;
    await putTestChatbot(a, 'metered', { maxTokens: 20, limits: { tokensPerDay: budget } });
    a.upstream.setScenario({ ...SLOW, tokenCount: 20, usage: USAGE });
    b.upstream.setScenario({ ...SLOW, tokenCount: 20, usage: USAGE });
    const results: SseReadResult[] = await Promise.all(
      Array.from({ length: 10 }, async (_, index) =>
        readSse(`${(index % 2 === 0 ? a : b).url}/api/chat/stream`, {
          body: { message: `question ${index} about parcels`, chatbotId: 'metered' },
          headers: await as(`buyer-${index}`),
        }),
      ),
    );
    await a.app.chat.settled();
    await b.app.chat.settled();
    const accepted = results.filter((result) => result.status === 200);
    const refused = results.filter((result) => result.status === 429);
    expect(accepted.length + refused.length).toBe(10);
    expect(accepted.length).toBeGreaterThanOrEqual(1);
    expect(refused.length).toBeGreaterThanOrEqual(1);
    for (const result of accepted) expect(lastEvent(result.frames)).toMatchObject({ type: 'done' });

    const spent = await a.app.stores.tokenUsage.spent('chatbot', 'metered', usageDay(Date.now()));
    expect(spent).toBe(accepted.length * 60);
    // The guarantee: an answer starts while the budget has a token left besides what running answers hold (each
    // holds its whole maximum, prompt included), and writes at most what was left; so the charge exceeds the budget
    // by at most the prompt of one answer (the fake upstream reports 40), whatever runs in parallel on either side.
    expect(spent).toBeLessThanOrEqual(budget + USAGE.promptTokens);
    // Without holds all ten would have started (nothing was spent yet) and charged 600.
    // The live counter agrees with the store, and no hold is left behind.
    const [counter, holds] = new RedisBudgetCounters(redis, prefix).keys([
      { scope: 'chatbot', subject: 'metered', day: usageDay(Date.now()) },
    ]);
    expect(await redis.hget(counter!, 'spent')).toBe(String(spent));
    expect(await redis.hget(counter!, 'held')).toBe('0');
    expect(await redis.zcard(holds!)).toBe(0);
  });
});

describe.skipIf(redisSkipReason !== undefined)('limits when Redis cannot be reached', () => {
  let server: TestServer;
  let dataDir: string;
  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'rivulet-limits-'));
    server = await startTestServer({
      AUTH_JWT_SECRET: SECRET,
      LIMITS: 'on',
      DATA_DIR: dataDir,
      // Nothing listens on port 1.
      REDIS_URL: 'redis://127.0.0.1:1',
      RATE_LIMIT_PER_PRINCIPAL: '3',
    });
  });
  afterAll(async () => {
    await server?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('requests are still served and rate-limited by this instance alone; new answers get 503 HUB_UNAVAILABLE; nothing crashes', async () => {
    const user = await as('offline-user');
    for (let index = 0; index < 3; index++) {
      expect((await call(server, '/api/conversations', { headers: user })).status).toBe(200);
    }
    expectRefusal(await call(server, '/api/conversations', { headers: user }), 429, 'RATE_LIMITED');
    const chat = await call(server, '/api/chat/stream', {
      headers: await as('offline-asker'),
      json: { message: 'hello' },
    });
    expectRefusal(chat, 503, 'HUB_UNAVAILABLE');
    expect(server.upstream.requests).toHaveLength(0);
    expect((await call(server, '/healthz')).status).toBe(200);
  });
});
