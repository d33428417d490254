// Scale-out, proven with real processes (issue 14): three `rivulet serve` instances sharing PostgreSQL and Redis,
// behind nginx running deploy/nginx/rivulet.conf (round robin, no sticky sessions). Answers resumed after random
// drops wherever the reconnect lands, a stop sent to another instance, the disconnect grace counted across instances,
// an owner killed with SIGKILL, Redis and PostgreSQL going away and coming back under running answers.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunEvent } from '../../src/core/events.ts';
import { mulberry32, startFakeUpstream, type FakeUpstream } from '../fakes/openai-upstream.ts';
import { expectNoRepeats, readSseWithDrops, readWsWithDrops } from '../helpers/drops.ts';
import { call } from '../helpers/http.ts';
import { startCluster, type Cluster } from '../helpers/instances.ts';
import { NGINX_SKIP_REASON, shippedConfig, startNginx, type Nginx } from '../helpers/nginx.ts';
import { postgresSkipReason } from '../helpers/postgres.ts';
import { redisSkipReason } from '../helpers/redis.ts';
import { lastEvent, readSse, tokenText } from '../helpers/sse-client.ts';

const skipReason = postgresSkipReason ?? redisSkipReason ?? NGINX_SKIP_REASON;
if (skipReason !== undefined) console.warn(`instances.test.ts skipped: ${skipReason}.`);

const GRACE_MS = 1500;
/** A short answer: 200 of them with drops fit in seconds. */
const SHORT = { tokenCount: 120, interTokenMs: 2, seed: 21 };
/** Long enough to outlive what a test does to it. */
const LONG = { tokenCount: 4000, interTokenMs: 5, seed: 22 };

/** Runs `work` for 0..count-1, at most `concurrency` at a time; after a failure no new one starts. */
async function inBatches(
  count: number,
  concurrency: number,
  work: (index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failed = false;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count && !failed) {
        try {
          await work(next++);
        } catch (error) {
          failed = true;
          throw error;
        }
      }
    }),
  );
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Starts an answer on `base` and hangs up once `tokens` tokens arrived; the run id and what was read. */
async function startAndLeave(base: string, tokens: number): Promise<{ runId: string; events: RunEvent[] }> {
  let seen = 0;
  const result = await readSse(`${base}/api/chat/stream`, {
    body: { message: 'a long answer' },
    onFrame: (frame) => frame.data.type === 'token' && ++seen >= tokens,
  });
  return { runId: result.headers['x-run-id'] as string, events: result.frames.map((frame) => frame.data) };
}

describe.skipIf(skipReason !== undefined)(
  'three instances behind nginx, sharing PostgreSQL and Redis',
  () => {
    let upstream: FakeUpstream;
    let cluster: Cluster;
    let nginx: Nginx;
    const url = (index: number): string => cluster.instances[index]!.url;

    beforeAll(async () => {
      upstream = await startFakeUpstream({ scenario: SHORT });
      cluster = await startCluster(3, {
        LLM_BASE_URL: upstream.url,
        RUN_GRACE_MS: String(GRACE_MS),
        RUN_CHECKPOINT_MS: '100',
      });
      nginx = await startNginx((port) =>
        shippedConfig(
          cluster.instances.map((instance) => instance.url),
          port,
        ),
      );
    }, 120_000);
    afterAll(async () => {
      await nginx?.stop();
      await cluster?.close();
      await upstream?.close();
    });

    it('SSE: 200 answers with random drops, each reconnect wherever nginx sends it: every text exact', async () => {
      upstream.reset();
      const random = mulberry32(101);
      let drops = 0;
      await inBatches(200, 10, async (index) => {
        const result = await readSseWithDrops({
          baseUrl: () => nginx.url,
          body: { message: `question ${index}` },
          drops: 1 + Math.floor(random() * 3),
          random,
          maxBytes: 4000,
        });
        drops += result.drops;
        expect(result.events.at(-1)).toMatchObject({ type: 'done', finishReason: 'stop' });
        expectNoRepeats(result.events);
        expect(result.text).toBe(upstream.fullText());
      });
      expect(drops).toBeGreaterThanOrEqual(200);
      // Each answer was generated once, whatever instance its reconnects reached.
      expect(upstream.requests.filter((request) => request.url.includes('/chat/completions'))).toHaveLength(
        200,
      );
    });

    it('SSE: every reconnect on the next instance in turn (never the same one twice)', async () => {
      upstream.reset();
      upstream.setScenario({ tokenCount: 600, interTokenMs: 2, seed: 23 });
      const result = await readSseWithDrops({
        baseUrl: (attempt) => url(attempt % 3),
        body: { message: 'one answer, three instances' },
        drops: 30,
        random: mulberry32(5),
      });
      expect(result.drops).toBe(30);
      expect(result.events.at(-1)).toMatchObject({ type: 'done', finishReason: 'stop' });
      expectNoRepeats(result.events);
      expect(result.text).toBe(upstream.fullText());
      upstream.setScenario(SHORT);
    });

    it('WebSocket: 200 answers with dropped sockets resumed wherever nginx sends them: every text exact', async () => {
      upstream.reset();
      const random = mulberry32(202);
      await inBatches(200, 10, async (index) => {
        const result = await readWsWithDrops({
          baseUrl: () => nginx.url,
          body: { message: `ws question ${index}` },
          drops: 1 + Math.floor(random() * 2),
          random,
          maxEvents: 40,
        });
        expect(result.events.at(-1)).toMatchObject({ type: 'done', finishReason: 'stop' });
        expectNoRepeats(result.events);
        expect(result.text).toBe(upstream.fullText());
      });
      expect(upstream.requests.filter((request) => request.url.includes('/chat/completions'))).toHaveLength(
        200,
      );
    });

    it('a stop sent to B closes the provider connection A holds within 100 ms', async () => {
      upstream.reset();
      upstream.setScenario(LONG);
      const { runId } = await startAndLeave(url(0), 5);
      // A reader on A keeps the run going while the stop travels.
      const reader = readSse(`${url(0)}/api/runs/${runId}/events`);
      const request = await upstream.waitForRequest(1);
      const sentAt = performance.now();
      const stop = await call({ url: url(1) }, `/api/runs/${runId}/stop`, { method: 'POST' });
      expect(stop.status).toBe(200);
      const closed = await upstream.waitForClose(request.id, 5_000);
      expect(closed.closedBy).toBe('client');
      expect(closed.closedAt! - sentAt).toBeLessThanOrEqual(100);
      expect(lastEvent((await reader).frames)).toMatchObject({ type: 'done', finishReason: 'aborted' });
      upstream.setScenario(SHORT);
    });

    it('a reader back on another instance within the grace keeps the answer alive; nobody back ends it', async () => {
      upstream.reset();
      upstream.setScenario({ tokenCount: 600, interTokenMs: 5, seed: 24 });
      // The only reader leaves A; 500 ms later one returns on C and reads to the end.
      const first = await startAndLeave(url(0), 3);
      await sleep(500);
      const back = await readSse(`${url(2)}/api/runs/${first.runId}/events`, {
        headers: { 'last-event-id': String(first.events.at(-1)!.seq) },
      });
      expect(lastEvent(back.frames)).toMatchObject({ type: 'done', finishReason: 'stop' });
      expect(tokenText([...first.events.map((data) => ({ data })), ...back.frames])).toBe(
        upstream.fullText(),
      );

      // Nobody returns: the provider connection closes within the grace plus 200 ms.
      upstream.setScenario(LONG);
      const leftAt = performance.now();
      const second = await startAndLeave(url(1), 3);
      const request = upstream.requests.at(-1)!;
      const closed = await upstream.waitForClose(request.id, GRACE_MS + 5_000);
      expect(closed.closedAt! - leftAt).toBeLessThanOrEqual(GRACE_MS + 200 + 100);
      expect(closed.closedAt! - leftAt).toBeGreaterThanOrEqual(GRACE_MS - 50);
      // Its log, read from a third instance, ends as an abandoned answer does: done, aborted.
      const log = await readSse(`${url(2)}/api/runs/${second.runId}/events`);
      expect(lastEvent(log.frames)).toMatchObject({ type: 'done', finishReason: 'aborted' });
      upstream.setScenario(SHORT);
    });

    it('SIGKILL of the owner: a reader on another instance gets RUN_OWNER_LOST, and the partial answer is kept', async () => {
      upstream.reset();
      upstream.setScenario(LONG);
      const owner = await cluster.start('D');
      const started = await startAndLeave(owner.url, 3);
      const conversationId = (
        started.events.find((event) => event.type === 'start') as { conversationId: string }
      ).conversationId;
      // Follow it from B, then kill the owner once B has tokens.
      let killedAt = 0;
      const follower = readSse(`${url(1)}/api/runs/${started.runId}/events`, {
        onFrame: (frame) => {
          if (
            killedAt === 0 &&
            frame.data.type === 'token' &&
            frame.data.seq > started.events.at(-1)!.seq + 20
          ) {
            killedAt = performance.now();
            owner.child.kill('SIGKILL');
          }
        },
      });
      const followed = await follower;
      const endedAt = performance.now();
      expect(killedAt).toBeGreaterThan(0);
      expect(lastEvent(followed.frames)).toMatchObject({
        type: 'error',
        code: 'RUN_OWNER_LOST',
        retryable: true,
      });
      // Within the heartbeat window (3 s) plus 1 s.
      expect(endedAt - killedAt).toBeLessThanOrEqual(4_000);
      // The answer is stored failed with the text its owner checkpointed.
      await expect
        .poll(
          async () => {
            const reply = await call({ url: url(2) }, `/api/conversations/${conversationId}/messages`);
            const messages = (reply.body as unknown as { messages: { role: string; status?: string }[] })
              .messages;
            return messages.find((message) => message.role === 'assistant')?.status;
          },
          { timeout: 5_000 },
        )
        .toBe('failed');
      const reply = await call({ url: url(2) }, `/api/conversations/${conversationId}/messages`);
      const answer = (
        reply.body as unknown as { messages: { role: string; content: string; errorCode?: string }[] }
      ).messages.find((message) => message.role === 'assistant')!;
      expect(answer.errorCode).toBe('RUN_OWNER_LOST');
      expect(answer.content.length).toBeGreaterThan(0);
      expect(upstream.fullText().startsWith(answer.content)).toBe(true);
      upstream.setScenario(SHORT);
    });

    it('Redis going away mid-answer: the running answer finishes for its reader, new ones are refused with a code, and service comes back by itself', async () => {
      upstream.reset();
      upstream.setScenario({ tokenCount: 400, interTokenMs: 5, seed: 25 });
      let cut = false;
      const running = readSse(`${url(0)}/api/chat/stream`, {
        body: { message: 'while Redis restarts' },
        onFrame: (frame) => {
          if (!cut && frame.data.type === 'token') {
            cut = true;
            cluster.redis.refuse();
          }
        },
      });
      const finished = await running;
      expect(lastEvent(finished.frames)).toMatchObject({ type: 'done', finishReason: 'stop' });
      expect(tokenText(finished.frames)).toBe(upstream.fullText());
      // New answers need the shared hub: refused, retryably, with a code (not a hang).
      const refused = await call({ url: url(1) }, '/api/chat', { json: { message: 'now?' } });
      expect(refused.status).toBe(503);
      expect(refused.body.error?.code).toBe('HUB_UNAVAILABLE');
      for (const instance of cluster.instances) expect(instance.child.exitCode).toBeNull();

      cluster.redis.accept();
      await expect
        .poll(
          async () => (await call({ url: url(1) }, '/api/chat', { json: { message: 'and now?' } })).status,
          { timeout: 15_000, interval: 250 },
        )
        .toBe(200);
    });

    it('PostgreSQL going away mid-answer: the answer ends with STORE_UNAVAILABLE, and service comes back by itself', async () => {
      upstream.reset();
      upstream.setScenario({ tokenCount: 400, interTokenMs: 5, seed: 26 });
      let cut = false;
      const running = await readSse(`${url(2)}/api/chat/stream`, {
        body: { message: 'while PostgreSQL restarts' },
        onFrame: (frame) => {
          if (!cut && frame.data.type === 'token') {
            cut = true;
            cluster.database.refuse();
          }
        },
      });
      expect(lastEvent(running.frames)).toMatchObject({
        type: 'error',
        code: 'STORE_UNAVAILABLE',
        retryable: true,
      });
      expect((await call({ url: url(0) }, '/readyz')).status).toBe(503);
      for (const instance of cluster.instances) expect(instance.child.exitCode).toBeNull();

      cluster.database.accept();
      for (const index of [0, 1, 2]) {
        await expect
          .poll(async () => (await call({ url: url(index) }, '/readyz')).status, { timeout: 15_000 })
          .toBe(200);
      }
      const answered = await readSse(`${nginx.url}/api/chat/stream`, { body: { message: 'back?' } });
      expect(lastEvent(answered.frames)).toMatchObject({ type: 'done', finishReason: 'stop' });
      upstream.setScenario(SHORT);
    });
  },
);
