// GET /api/runs/:runId/poll: long-polling a run with a cursor, over real HTTP, with auth on.

import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { RunEvent } from '../../src/core/events.ts';
import { POLL_MAX_WAIT_MS } from '../../src/transports/run-poll.ts';
import { call, expectRefusal } from '../helpers/http.ts';
import { signTestJwt } from '../helpers/jwt.ts';
import { deleteKeys, REDIS_URL, redisSkipReason, testKeyPrefix } from '../helpers/redis.ts';
import { startTestServer, type TestServer } from '../helpers/test-server.ts';

const SECRET = 'run-poll-test-secret-that-is-long-enough';

interface PollAnswer {
  runId: string;
  events: RunEvent[];
  next: number;
  ended: boolean;
}

let server: TestServer;
let alice: Record<string, string>;
let bob: Record<string, string>;

beforeAll(async () => {
  // The limits on requests and streams are not what these tests look at.
  server = await startTestServer({
    AUTH_JWT_SECRET: SECRET,
    RATE_LIMIT_PER_PRINCIPAL: '0',
    MAX_STREAMS_PER_PRINCIPAL: '0',
  });
  alice = { authorization: `Bearer ${await signTestJwt(SECRET, 'alice-poller')}` };
  bob = { authorization: `Bearer ${await signTestJwt(SECRET, 'bob-poller')}` };
});
afterAll(async () => {
  await server.close();
});
beforeEach(() => {
  server.upstream.reset();
});

/** Starts an answer for `headers` and lets go of its stream at once: the run goes on within its grace. */
async function startRun(headers: Record<string, string>): Promise<string> {
  const response = await fetch(`${server.url}/api/chat/stream`, {
    method: 'POST',
    headers: { ...headers, 'content-type': 'application/json' },
    body: JSON.stringify({ message: 'poll me' }),
  });
  expect(response.status).toBe(200);
  const runId = response.headers.get('x-run-id')!;
  await response.body?.cancel();
  return runId;
}

async function poll(runId: string, query: string, signal?: AbortSignal): Promise<PollAnswer> {
  const response = await fetch(`${server.url}/api/runs/${runId}/poll?${query}`, {
    headers: alice,
    ...(signal === undefined ? {} : { signal }),
  });
  expect(response.status).toBe(200);
  return (await response.json()) as PollAnswer;
}

const tokenText = (events: readonly RunEvent[]): string =>
  events.map((event) => (event.type === 'token' ? event.text : '')).join('');

describe('GET /api/runs/:runId/poll', () => {
  it('gives every event exactly once to a client polling with `after`, across a poll dropped mid-wait', async () => {
    // The first token comes late, so the second poll waits, and is dropped while it does.
    server.upstream.setScenario({ ttftMs: 600, tokenCount: 80, interTokenMs: 3, seed: 17 });
    const runId = await startRun(alice);
    const events: RunEvent[] = [];
    let cursor = -1;

    const first = await poll(runId, `after=${cursor}`);
    events.push(...first.events);
    cursor = first.next;
    expect(first.ended).toBe(false);

    const dropped = new AbortController();
    const waiting = poll(runId, `after=${cursor}&wait=10000`, dropped.signal);
    setTimeout(() => dropped.abort(), 100);
    await expect(waiting).rejects.toThrow();

    let polls = 0;
    for (;;) {
      const answer = await poll(runId, `after=${cursor}&wait=10000`);
      polls += 1;
      expect(answer.runId).toBe(runId);
      events.push(...answer.events);
      cursor = answer.next;
      if (answer.ended) break;
      expect(polls).toBeLessThan(500);
    }

    const seqs = events.map((event) => event.seq);
    // Strictly increasing: nothing twice (merged tokens carry the last seq they cover, so gaps are allowed).
    expect(seqs.every((seq, index) => index === 0 || seq > (seqs[index - 1] ?? -1))).toBe(true);
    expect(seqs[0]).toBe(0);
    expect(events.at(-1)).toMatchObject({ type: 'done', text: server.upstream.fullText() });
    expect(tokenText(events)).toBe(server.upstream.fullText());
    expect(cursor).toBe(events.at(-1)?.seq);

    // After the end: at once, nothing more, ended.
    expect(await poll(runId, `after=${cursor}&wait=10000`)).toEqual({
      runId,
      events: [],
      next: cursor,
      ended: true,
    });
    // The dropped poll left no reader behind.
    expect(server.app.hub.stats().readers).toBe(0);
  });

  it('answers a waiting poll as soon as events arrive, long before `wait` elapses', async () => {
    server.upstream.setScenario({ ttftMs: 400, tokenCount: 5, seed: 3 });
    const runId = await startRun(alice);
    const before = await poll(runId, 'after=-1');
    expect(before.events.some((event) => event.type === 'token')).toBe(false);

    const waitMs = 20_000;
    const sent = performance.now();
    const answer = await poll(runId, `after=${before.next}&wait=${waitMs}`);
    const tookMs = performance.now() - sent;
    // It came back with the first token, which the provider sent after its 400 ms delay: not at the wait's end.
    expect(answer.events[0]?.seq).toBe(before.next + 1);
    expect(answer.events.some((event) => event.type === 'token')).toBe(true);
    expect(tookMs).toBeLessThan(waitMs / 2);
  });

  it('answers an empty batch with the same cursor when `wait` elapses without events', async () => {
    server.upstream.setScenario({ ttftMs: 3000, tokenCount: 3, seed: 4 });
    const runId = await startRun(alice);
    const before = await poll(runId, 'after=-1');
    const answer = await poll(runId, `after=${before.next}&wait=200`);
    expect(answer).toEqual({ runId, events: [], next: before.next, ended: false });
    await call(server, `/api/runs/${runId}/stop`, { method: 'POST', headers: alice });
  });

  it('refuses a malformed `after` or `wait`, and unknown parameters, with VALIDATION_FAILED', async () => {
    server.upstream.setScenario({ tokenCount: 3, seed: 2 });
    const runId = await startRun(alice);
    for (const query of [
      'after=abc',
      'after=-2',
      'after=1.5',
      'wait=-1',
      'wait=soon',
      'wait=1e3',
      'since=3',
    ]) {
      expectRefusal(
        await call(server, `/api/runs/${runId}/poll?${query}`, { headers: alice }),
        400,
        'VALIDATION_FAILED',
      );
    }
  });

  it('lowers a `wait` above the cap instead of refusing it', async () => {
    server.upstream.setScenario({ tokenCount: 3, seed: 8 });
    const runId = await startRun(alice);
    const answer = await poll(runId, `after=-1&wait=${POLL_MAX_WAIT_MS * 10}`);
    expect(answer.events.length).toBeGreaterThan(0);
  });

  it('gives an unknown run, and another principal’s run, the same RUN_NOT_FOUND as the events route', async () => {
    server.upstream.setScenario({ tokenCount: 200, interTokenMs: 10, seed: 9 });
    const runId = await startRun(alice);
    for (const path of ['poll?after=-1', 'events']) {
      expectRefusal(await call(server, `/api/runs/${runId}/${path}`, { headers: bob }), 404, 'RUN_NOT_FOUND');
      expectRefusal(
        await call(server, `/api/runs/run_unknown/${path}`, { headers: alice }),
        404,
        'RUN_NOT_FOUND',
      );
    }
    expectRefusal(await call(server, `/api/runs/${runId}/poll`), 401, 'UNAUTHORIZED');
    await call(server, `/api/runs/${runId}/stop`, { method: 'POST', headers: alice });
  });
});

describe.skipIf(redisSkipReason !== undefined)(
  'GET /api/runs/:runId/poll across instances sharing Redis',
  () => {
    const prefix = testKeyPrefix('poll-it');
    let owner: TestServer;
    let other: TestServer;
    beforeAll(async () => {
      const env = {
        AUTH_JWT_SECRET: SECRET,
        REDIS_URL: REDIS_URL ?? '',
        REDIS_KEY_PREFIX: prefix,
        RATE_LIMIT_PER_PRINCIPAL: '0',
      };
      const scenario = { ttftMs: 300, tokenCount: 60, interTokenMs: 3, seed: 23 };
      owner = await startTestServer(env, scenario);
      other = await startTestServer(env, scenario);
    });
    afterAll(async () => {
      await Promise.all([owner?.close(), other?.close()]);
      await deleteKeys(prefix);
    });

    it('gives every event exactly once to a client whose polls alternate between the instances', async () => {
      const response = await fetch(`${owner.url}/api/chat/stream`, {
        method: 'POST',
        headers: { ...alice, 'content-type': 'application/json' },
        body: JSON.stringify({ message: 'poll me anywhere' }),
      });
      const runId = response.headers.get('x-run-id')!;
      await response.body?.cancel();
      const events: RunEvent[] = [];
      let cursor = -1;
      for (let polls = 0; polls < 500; polls += 1) {
        const base = polls % 2 === 0 ? other.url : owner.url;
        const reply = await fetch(`${base}/api/runs/${runId}/poll?after=${cursor}&wait=10000`, {
          headers: alice,
        });
        expect(reply.status).toBe(200);
        const answer = (await reply.json()) as PollAnswer;
        events.push(...answer.events);
        cursor = answer.next;
        if (answer.ended) break;
      }
      const seqs = events.map((event) => event.seq);
      expect(seqs.every((seq, index) => index === 0 || seq > (seqs[index - 1] ?? -1))).toBe(true);
      expect(events.at(-1)).toMatchObject({ type: 'done', text: owner.upstream.fullText() });
      expect(tokenText(events)).toBe(owner.upstream.fullText());
      expectRefusal(
        await call(other, `/api/runs/${runId}/poll?after=-1`, { headers: bob }),
        404,
        'RUN_NOT_FOUND',
      );
    });
  },
);
