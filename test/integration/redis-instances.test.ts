// Two instances sharing Redis (REDIS_URL) and one store, over real HTTP: an answer started on one is resumed and
// stopped on the other, and when its instance is lost the other ends it and stores what it had.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { mulberry32 } from '../fakes/openai-upstream.ts';
import { startCuttingProxy, type CuttingProxy } from '../helpers/cutting-proxy.ts';
import { expectNoRepeats, readSseWithDrops, readWsWithDrops } from '../helpers/drops.ts';
import { REDIS_URL, redisSkipReason } from '../helpers/redis.ts';
import { lastEvent, readSse } from '../helpers/sse-client.ts';
import { startTestServer, type TestServer } from '../helpers/test-server.ts';

const slowAnswer = { tokenCount: 2000, interTokenMs: 10, seed: 3 };

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const servers: TestServer[] = [];
const proxies: CuttingProxy[] = [];
const directories: string[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await server.close();
  for (const proxy of proxies.splice(0)) await proxy.close();
  for (const directory of directories.splice(0)) await rm(directory, { recursive: true, force: true });
});

/** Two servers on one data directory (one SQLite file, or one PostgreSQL database on that project) and one Redis. */
async function startPair(
  scenario: Parameters<typeof startTestServer>[1],
  ownerRedisUrl = REDIS_URL!,
): Promise<[owner: TestServer, other: TestServer]> {
  const dataDir = await mkdtemp(join(tmpdir(), 'rivulet-redis-'));
  directories.push(dataDir);
  const env = { DATA_DIR: dataDir, RUN_CHECKPOINT_MS: '100', RUN_GRACE_MS: '5000' };
  const owner = await startTestServer({ ...env, REDIS_URL: ownerRedisUrl }, scenario);
  servers.push(owner);
  const other = await startTestServer({ ...env, REDIS_URL: REDIS_URL! }, scenario);
  servers.push(other);
  return [owner, other];
}

describe.skipIf(redisSkipReason !== undefined)('instances sharing Redis', () => {
  it('resumes an answer on whichever instance the client reaches, losing and repeating nothing', async () => {
    const [owner, other] = await startPair({ tokenCount: 1500, interTokenMs: 2, seed: 5 });
    const result = await readSseWithDrops({
      baseUrl: (attempt) => (attempt % 2 === 0 ? owner : other).url,
      body: { message: 'long answer' },
      drops: 30,
      random: mulberry32(7),
    });
    expect(result.drops).toBe(30);
    expect(result.events.at(-1)).toMatchObject({ type: 'done', finishReason: 'stop' });
    expectNoRepeats(result.events);
    expect(result.text).toBe(owner.upstream.fullText());
  });

  it('resumes over WebSocket on whichever instance the socket reaches, losing and repeating nothing', async () => {
    const [owner, other] = await startPair({ tokenCount: 1500, interTokenMs: 3, seed: 6 });
    const result = await readWsWithDrops({
      baseUrl: (attempt) => (attempt % 2 === 0 ? owner : other).url,
      body: { message: 'long answer over ws' },
      drops: 30,
      random: mulberry32(9),
    });
    expect(result.drops).toBe(30);
    expect(result.events.at(-1)).toMatchObject({ type: 'done', finishReason: 'stop' });
    expectNoRepeats(result.events);
    expect(result.text).toBe(owner.upstream.fullText());
  });

  it('a stop sent to the other instance closes the owner’s provider connection within 100 ms', async () => {
    const [owner, other] = await startPair(slowAnswer);
    let stopSentAt = 0;
    let runId = '';
    const result = await readSse(`${owner.url}/api/chat/stream`, {
      body: { message: 'stop me' },
      onFrame: (frame) => {
        if (frame.data.type === 'start') runId = frame.data.runId;
        if (frame.data.type === 'token' && frame.data.seq === 10) {
          stopSentAt = performance.now();
          void fetch(`${other.url}/api/runs/${runId}/stop`, { method: 'POST' });
        }
      },
    });
    const upstream = await owner.upstream.waitForClose(1);
    expect(upstream.closedBy).toBe('client');
    expect(upstream.closedAt! - stopSentAt).toBeLessThanOrEqual(100);
    expect(lastEvent(result.frames)).toMatchObject({ type: 'done', finishReason: 'aborted' });
  });

  it('ends the answer of a lost instance with RUN_OWNER_LOST on the other and stores its text as failed', async () => {
    const target = new URL(REDIS_URL!);
    const proxy = await startCuttingProxy(`http://${target.hostname}:${target.port || 6379}`);
    proxies.push(proxy);
    const proxied = new URL(REDIS_URL!);
    proxied.port = new URL(proxy.url).port;
    const [owner, other] = await startPair(slowAnswer, proxied.toString());
    let runId: string | undefined;
    const ownerStream = readSse(`${owner.url}/api/chat/stream`, {
      body: { message: 'a long answer' },
      onFrame: (frame) => {
        if (frame.data.type === 'start') runId = frame.data.runId;
      },
    });
    while (runId === undefined) await sleep(10);
    let tokens = 0;
    let cutAt = 0;
    // The owner vanishes for Redis (as if killed) once the other instance's reader has some of the answer.
    const result = await readSse(`${other.url}/api/runs/${runId}/events`, {
      onFrame: (frame) => {
        if (frame.data.type !== 'token') return;
        tokens += 1;
        if (tokens === 40) {
          cutAt = performance.now();
          proxy.refuse();
        }
      },
    });
    expect(lastEvent(result.frames)).toMatchObject({
      type: 'error',
      code: 'RUN_OWNER_LOST',
      retryable: true,
    });
    // Heartbeat expiry (3 s) plus 1 s.
    expect(performance.now() - cutAt).toBeLessThan(4_000);
    const conversations = other.app.stores.conversations;
    let stored = await conversations.findMessageByRun(runId);
    for (let wait = 0; stored?.status === 'streaming' && wait < 100; wait += 1) {
      await sleep(20);
      stored = await conversations.findMessageByRun(runId);
    }
    expect(stored).toMatchObject({ status: 'failed', errorCode: 'RUN_OWNER_LOST', finishReason: 'error' });
    expect(stored!.content.length).toBeGreaterThan(0);
    expect(owner.upstream.fullText().startsWith(stored!.content)).toBe(true);
    await owner.close();
    servers.splice(servers.indexOf(owner), 1);
    await ownerStream;
  });
});
