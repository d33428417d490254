// PROVIDER_MAX_CONCURRENT over real HTTP with the fake upstream holding its requests open until the test lets them
// answer: the upstream never sees more open requests than the limit, waiting answers are admitted taking turns
// between principals, each sees its place fall, a stop or a disconnect while waiting never reaches the provider, and
// a wait past PROVIDER_QUEUE_TIMEOUT_MS ends with its coded error. Order is asserted, never time.

import { afterEach, describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../../src/core/errors.ts';
import type { QueuedEvent, RunEvent } from '../../src/core/events.ts';
import type { UpstreamRequestLog } from '../fakes/fake-upstream.ts';
import { signTestJwt } from '../helpers/jwt.ts';
import { readSse, type SseReadResult } from '../helpers/sse-client.ts';
import { startTestServer, type TestServer } from '../helpers/test-server.ts';

const SECRET = 'rivulet-provider-queue-secret-of-32-chars';
/** Each request waits for the test to release it; a stall limit far beyond any test keeps the chain patient. */
const HELD = { held: true, tokenCount: 3, seed: 5 };
const PATIENT = { AUTH_JWT_SECRET: SECRET, LLM_STALL_MS: '600000', MAX_STREAMS_PER_PRINCIPAL: '10' };
const WAIT_MS = 30_000;

let server: TestServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

const as = async (sub: string, claims: Record<string, unknown> = {}): Promise<Record<string, string>> => ({
  authorization: `Bearer ${await signTestJwt(SECRET, sub, claims)}`,
});

/** An answer streaming in the background, its events kept as they arrive. */
interface WatchedAnswer {
  tag: string;
  events: RunEvent[];
  result: Promise<SseReadResult>;
  /** Resolves with the first event (already received or still to come) that matches. */
  until(match: (event: RunEvent) => boolean): Promise<RunEvent>;
  /** The places told in `queued` events, in order. */
  places(): number[];
}

/** Asks `ask:<tag>` (the tag finds the answer's request at the fake upstream) and watches its stream. */
function ask(testServer: TestServer, headers: Record<string, string>, tag: string): WatchedAnswer {
  const events: RunEvent[] = [];
  const waiters: { match: (event: RunEvent) => boolean; resolve: (event: RunEvent) => void }[] = [];
  const result = readSse(`${testServer.url}/api/chat/stream`, {
    body: { message: `Please answer ask:${tag} now.` },
    headers,
    onFrame(frame) {
      events.push(frame.data);
      for (const waiter of [...waiters]) {
        if (!waiter.match(frame.data)) continue;
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(frame.data);
      }
    },
  });
  return {
    tag,
    events,
    result,
    until(match) {
      const seen = events.find(match);
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        waiters.push({ match, resolve });
        void result.then(() => reject(new Error(`${tag}: the stream ended before the awaited event`)));
      });
    },
    places: () =>
      events.filter((event): event is QueuedEvent => event.type === 'queued').map((event) => event.position),
  };
}

const isQueued = (event: RunEvent): boolean => event.type === 'queued' && event.position > 0;

/** The tag of the answer an upstream request was made for. */
function tagOf(request: UpstreamRequestLog): string | undefined {
  return /ask:([a-z]+\d+)/.exec(JSON.stringify(request.body))?.[1];
}

function lastOf(answer: WatchedAnswer): RunEvent | undefined {
  return answer.events.at(-1);
}

describe('PROVIDER_MAX_CONCURRENT', () => {
  it('never opens more than the limit upstream, and admits waiting answers taking turns between principals', async () => {
    server = await startTestServer({ ...PATIENT, PROVIDER_MAX_CONCURRENT: '2' }, HELD);
    const upstream = server.upstream;
    const alice = await as('alice');
    const bob = await as('bob');
    const carol = await as('carol');

    // alice fills both slots, then queues four more; bob queues three and carol one. Each answer is sent once the
    // one before it is at the provider or in the queue, so the arrival order is known.
    const answers: WatchedAnswer[] = [];
    for (const [index, tag] of ['alice1', 'alice2'].entries()) {
      answers.push(ask(server, alice, tag));
      await upstream.waitForRequest(index + 1, WAIT_MS);
    }
    const queued: [Record<string, string>, string][] = [
      [alice, 'alice3'],
      [alice, 'alice4'],
      [alice, 'alice5'],
      [alice, 'alice6'],
      [bob, 'bob1'],
      [bob, 'bob2'],
      [bob, 'bob3'],
      [carol, 'carol1'],
    ];
    for (const [headers, tag] of queued) {
      const answer = ask(server, headers, tag);
      answers.push(answer);
      await answer.until(isQueued);
    }
    expect(upstream.requests).toHaveLength(2);

    // Never served principals first (bob, then carol), then one answer per principal per round.
    const expectedQueue = ['bob1', 'carol1', 'alice3', 'bob2', 'alice4', 'bob3', 'alice5', 'alice6'];
    const byTag = new Map(answers.map((answer) => [answer.tag, answer]));
    // Each waiting answer is told its new place as others arrive (those events may still be on their way).
    await expect
      .poll(() => expectedQueue.map((tag) => byTag.get(tag)!.places().at(-1)), { timeout: WAIT_MS })
      .toEqual([1, 2, 3, 4, 5, 6, 7, 8]);

    // Let the requests finish one at a time: each frees a slot for the next in line.
    for (let id = 1; id <= 10; id += 1) {
      expect(upstream.release(id)).toBe(true);
      if (id + 2 <= 10) await upstream.waitForRequest(id + 2, WAIT_MS);
    }
    const results = await Promise.all(answers.map((answer) => answer.result));
    for (const result of results)
      expect(result.frames.at(-1)?.data).toMatchObject({ type: 'done', finishReason: 'stop' });

    expect(upstream.requests.map(tagOf)).toEqual(['alice1', 'alice2', ...expectedQueue]);
    expect(upstream.peakOpenRequests).toBe(2);
    // The last in line saw its place fall one by one to its turn (0: admitted); the first two never waited.
    expect(byTag.get('alice6')!.places().slice(-9)).toEqual([8, 7, 6, 5, 4, 3, 2, 1, 0]);
    expect(byTag.get('alice1')!.places()).toEqual([]);
    const waited = byTag.get('carol1')!.events.find(isQueued) as QueuedEvent;
    expect(waited.provider).toBe('openai-compatible:fake-model');
  });

  it('a stop or a disconnect while waiting leaves the queue at once and never reaches the provider', async () => {
    server = await startTestServer({ ...PATIENT, PROVIDER_MAX_CONCURRENT: '1', RUN_GRACE_MS: '50' }, HELD);
    const upstream = server.upstream;
    const alice = await as('alice');
    const bob = await as('bob');
    const carol = await as('carol');
    const admin = await as('root', { role: 'admin' });

    const holding = ask(server, alice, 'alice1');
    await upstream.waitForRequest(1, WAIT_MS);
    const stopped = ask(server, bob, 'bob1');
    const start = (await stopped.until((event) => event.type === 'start')) as Extract<
      RunEvent,
      { type: 'start' }
    >;
    await stopped.until(isQueued);
    // carol leaves by hanging up; with nobody back within RUN_GRACE_MS her run is abandoned.
    const dropped = await readSse(`${server.url}/api/chat/stream`, {
      body: { message: 'Please answer ask:carol1 now.' },
      headers: carol,
      onFrame: (frame) => frame.data.type === 'queued',
    });
    expect(dropped.ended).toBe(false);
    const droppedStart = dropped.frames[0]?.data as Extract<RunEvent, { type: 'start' }>;

    const stop = await fetch(`${server.url}/api/runs/${start.runId}/stop`, { method: 'POST', headers: bob });
    expect(stop.status).toBe(200);
    await stopped.result;
    expect(lastOf(stopped)).toMatchObject({ type: 'done', finishReason: 'aborted' });
    const conversations = server.app.stores.conversations;
    await expect
      .poll(async () => (await conversations.listMessages(droppedStart.conversationId)).at(-1)?.status, {
        timeout: WAIT_MS,
      })
      .toBe('stopped');

    // Both left the queue at once: nobody waits, and the next answer is the next request upstream.
    const metrics = await (await fetch(`${server.url}/metrics`, { headers: admin })).text();
    expect(metrics).toMatch(/rivulet_provider_queue_length\{provider="openai-compatible:fake-model"\} 0/);
    expect(metrics).toMatch(
      /rivulet_provider_queue_wait_seconds_count\{provider="openai-compatible:fake-model",outcome="left"\} 2/,
    );
    upstream.release(1);
    await holding.result;
    const next = ask(server, alice, 'alice2');
    await upstream.waitForRequest(2, WAIT_MS);
    upstream.release(2);
    await next.result;
    expect(upstream.requests.map(tagOf)).toEqual(['alice1', 'alice2']);
  });

  it('a wait past PROVIDER_QUEUE_TIMEOUT_MS ends with PROVIDER_QUEUE_TIMEOUT, nothing sent upstream', async () => {
    server = await startTestServer(
      { ...PATIENT, PROVIDER_MAX_CONCURRENT: '1', PROVIDER_QUEUE_TIMEOUT_MS: '100' },
      HELD,
    );
    const upstream = server.upstream;
    const holding = ask(server, await as('alice'), 'alice1');
    await upstream.waitForRequest(1, WAIT_MS);
    const waiting = ask(server, await as('bob'), 'bob1');
    await waiting.result;
    expect(waiting.places()).toEqual([1]);
    expect(lastOf(waiting)).toEqual({
      type: 'error',
      seq: expect.any(Number) as number,
      code: 'PROVIDER_QUEUE_TIMEOUT',
      message: ERROR_CODES.PROVIDER_QUEUE_TIMEOUT.message,
      retryable: true,
    });
    upstream.release(1);
    await holding.result;
    expect(upstream.requests.map(tagOf)).toEqual(['alice1']);
  });
});
