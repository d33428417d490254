import { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { RivuletError } from '../../core/errors.ts';
import type { RunEvent } from '../../core/events.ts';
import type { RunProducer, RunSubscription } from '../../core/run-hub.ts';
import { startCuttingProxy, type CuttingProxy } from '../../../test/helpers/cutting-proxy.ts';
import { deleteKeys, REDIS_URL, redisSkipReason, testKeyPrefix } from '../../../test/helpers/redis.ts';
import { collector, describeRunHubConformance, textOf } from '../run-hub.conformance.ts';
import { RedisRunHub, type RedisRunHubOptions } from './redis-run-hub.ts';

const prefix = testKeyPrefix('hub');
afterAll(() => deleteKeys(prefix));

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls until `check` holds (the other instance's events arrive through Redis, not in the same tick). */
async function until(check: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(5);
  }
}

const done = {
  type: 'done',
  finishReason: 'stop',
  text: '',
  usage: null,
  cached: false,
  timings: {} as never,
} as const;

function appendTokens(run: RunProducer, texts: string): void {
  for (const text of texts) run.append({ type: 'token', text });
}

/** Resolves once `hub` sees the run in Redis (its owner writes it with its next batch, a moment after create). */
async function visible(hub: RedisRunHub, runId: string): Promise<void> {
  const deadline = performance.now() + 5_000;
  while ((await hub.info(runId)) === undefined) {
    if (performance.now() > deadline) throw new Error(`run ${runId} never appeared in Redis`);
    await sleep(5);
  }
}

const seqs = (events: readonly RunEvent[]): number[] => events.map((event) => event.seq);

describe.skipIf(redisSkipReason !== undefined)('RedisRunHub', () => {
  describeRunHubConformance('redis', (options) =>
    RedisRunHub.open({ ...options, url: REDIS_URL!, keyPrefix: prefix }),
  );

  describe('across instances', () => {
    const hubs: RedisRunHub[] = [];
    const proxies: CuttingProxy[] = [];
    const open = async (overrides: Partial<RedisRunHubOptions> = {}): Promise<RedisRunHub> => {
      const hub = await RedisRunHub.open({
        url: REDIS_URL!,
        keyPrefix: prefix,
        limits: { maxEvents: 10_000, maxBytes: 1_000_000, maxDurationMs: 60_000 },
        graceMs: 10_000,
        disconnectPolicy: 'abort',
        retentionMs: 10_000,
        ...overrides,
      });
      hubs.push(hub);
      return hub;
    };
    /** A Redis URL through a proxy the test can cut, as if the network (or the instance) went away. */
    const proxiedUrl = async (): Promise<string> => {
      const target = new URL(REDIS_URL!);
      const proxy = await startCuttingProxy(`http://${target.hostname}:${target.port || 6379}`);
      proxies.push(proxy);
      const url = new URL(REDIS_URL!);
      url.port = new URL(proxy.url).port;
      return url.toString();
    };
    const lastProxy = (): CuttingProxy => proxies.at(-1)!;

    afterEach(async () => {
      for (const hub of hubs.splice(0)) hub.close();
      for (const proxy of proxies.splice(0)) await proxy.close();
    });

    it('resumes on another instance from a seq with exactly the rest of the answer, merged then live', async () => {
      const owner = await open();
      const other = await open();
      const run = owner.create({ ownerId: 'alice' });
      const local = collector();
      await owner.subscribe(run.runId, -1, local);
      appendTokens(run, 'abcdefghij');
      await until(() => local.events.length === 10);
      await sleep(20);
      const remote = collector();
      expect(await other.subscribe(run.runId, 4, remote)).toBeDefined();
      await until(() => remote.events.length > 0);
      // The backlog (seq 5..9) arrives as one merged token frame carrying the last seq it covers.
      expect(remote.writes[0]?.merged).toBe(true);
      expect(remote.events).toEqual([{ type: 'token', seq: 9, text: 'fghij' }]);
      // A second reader there starting further back gets the older entries too (fetched before the replica's first).
      const fromStart = collector();
      await other.subscribe(run.runId, 1, fromStart);
      await until(() => fromStart.events.length > 0);
      expect(fromStart.events).toEqual([{ type: 'token', seq: 9, text: 'cdefghij' }]);
      appendTokens(run, 'klm');
      run.append(done);
      await until(() => remote.ended && fromStart.ended);
      expect(textOf(remote.events)).toBe('fghijklm');
      expect(textOf(fromStart.events)).toBe('cdefghijklm');
      const after = seqs(remote.events);
      expect(after.at(-1)).toBe(13);
      expect([...after].sort((a, b) => a - b)).toEqual(after);
      expect(new Set(after).size).toBe(after.length);
      expect(textOf(local.events.slice(5))).toBe(textOf(remote.events));
      const info = await other.info(run.runId);
      expect(info).toMatchObject({ runId: run.runId, ownerId: 'alice', state: 'finished', lastSeq: 13 });
    });

    it('finds a run its owner has not written to Redis yet: a resume there at once is not a 404', async () => {
      const owner = await open();
      const other = await open();
      const run = owner.create({ ownerId: 'alice' });
      // Asked before the owner's first batch could land: the reader waits for the run instead of missing it.
      const remote = collector();
      expect(await other.subscribe(run.runId, -1, remote)).toBeDefined();
      appendTokens(run, 'ab');
      run.append(done);
      await until(() => remote.ended);
      expect(textOf(remote.events)).toBe('ab');
      // A run id nobody created is still unknown, after the wait.
      expect(await other.subscribe('run_never_created', -1, collector())).toBeUndefined();
    });

    it('knows a run its owner has not written to Redis yet: the access check of a resume there at once is not a 404', async () => {
      const owner = await open();
      const other = await open();
      const run = owner.create({ ownerId: 'alice' });
      // Asked in the same turn as the create, before the owner's first batch could land.
      const info = await other.info(run.runId);
      expect(info).toMatchObject({ runId: run.runId, ownerId: 'alice', state: 'running' });
      expect(await other.info('run_never_created')).toBeUndefined();
      run.append(done);
    });

    it('resumes from a seq the owner delivered before Redis held it: the reader waits for what follows, never repeats', async () => {
      const owner = await open();
      const other = await open();
      const run = owner.create({ ownerId: 'alice' });
      appendTokens(run, 'abcdefg');
      // The client saw seq 0..6 from the owner (a reader there is served before the batch lands) and resumes on the
      // other instance: Redis may hold less than that when it asks.
      const remote = collector();
      expect(await other.subscribe(run.runId, 6, remote)).toBeDefined();
      appendTokens(run, 'hij');
      run.append(done);
      await until(() => remote.ended);
      expect(seqs(remote.events)[0]).toBe(7);
      expect(textOf(remote.events)).toBe('hij');
    });

    it('pauses a reader on another instance that pushes back, then sends its backlog merged', async () => {
      const owner = await open();
      const other = await open();
      const run = owner.create({ ownerId: null });
      await visible(other, run.runId);
      const remote = collector();
      const subscription = (await other.subscribe(run.runId, -1, remote)) as RunSubscription;
      run.append({ type: 'token', text: 'a' });
      await until(() => remote.events.length === 1);
      remote.accept = false;
      run.append({ type: 'token', text: 'b' });
      await until(() => remote.events.length === 2);
      appendTokens(run, 'cdefg');
      run.append(done);
      await sleep(100);
      expect(remote.events).toHaveLength(2);
      remote.accept = true;
      subscription.resume();
      expect(remote.writes.at(-1)?.merged).toBe(true);
      expect(remote.events.slice(2).map((event) => [event.type, event.seq])).toEqual([
        ['token', 6],
        ['done', 7],
      ]);
      expect(textOf(remote.events)).toBe('abcdefg');
      expect(remote.ended).toBe(true);
    });

    it('follows many runs of other instances on one blocking connection', async () => {
      const owner = await open();
      const other = await open();
      const runs = Array.from({ length: 50 }, () => owner.create({ ownerId: null }));
      const sinks = runs.map(() => collector());
      for (const run of runs) await visible(other, run.runId);
      await Promise.all(runs.map((run, index) => other.subscribe(run.runId, -1, sinks[index]!)));
      for (let round = 0; round < 5; round += 1) {
        for (const run of runs) run.append({ type: 'token', text: String(round) });
        await sleep(1);
      }
      for (const run of runs) run.append(done);
      await until(() => sinks.every((sink) => sink.ended), 10_000);
      for (const sink of sinks) expect(textOf(sink.events)).toBe('01234');
      expect(other.stats().readers).toBe(0);
    });

    it('stop from another instance aborts the owner’s producer within 100 ms', async () => {
      const owner = await open();
      const other = await open();
      const run = owner.create({ ownerId: null });
      run.append({ type: 'token', text: 'a' });
      await sleep(50);
      const aborted = new Promise<number>((resolve) =>
        run.signal.addEventListener('abort', () => resolve(performance.now()), { once: true }),
      );
      const sentAt = performance.now();
      expect(await other.stop(run.runId)).toBe(true);
      expect((await aborted) - sentAt).toBeLessThan(100);
      expect((run.signal.reason as RivuletError).code).toBe('RUN_STOPPED');
      // The pipeline would append its done on the abort: a finished run cannot be stopped again.
      run.append(done);
      await until(() => false === owner.stats().activeRuns > 0);
      await sleep(50);
      expect(await other.stop(run.runId)).toBe(false);
      expect(await other.stop('run_unknown')).toBe(false);
    });

    it('a reader on another instance keeps the owner’s run alive past the grace; when it leaves, the grace applies', async () => {
      const abandoned: string[] = [];
      const owner = await open({ graceMs: 300, onAbandoned: (runId) => abandoned.push(runId) });
      const other = await open();
      const run = owner.create({ ownerId: null });
      await visible(other, run.runId);
      const subscription = (await other.subscribe(run.runId, -1, collector())) as RunSubscription;
      await until(async_readers(owner, run.runId, 1));
      expect((await other.info(run.runId))?.readers).toBe(1);
      await sleep(900);
      expect(run.signal.aborted).toBe(false);
      subscription.close();
      // The grace counts from the moment the last reader anywhere left.
      await sleep(100);
      expect(run.signal.aborted).toBe(false);
      await until(() => run.signal.aborted, 5_000);
      expect((run.signal.reason as RivuletError).code).toBe('RUN_ABANDONED');
      expect(abandoned).toEqual([run.runId]);
    });

    it('ends the run with RUN_OWNER_LOST exactly once when the owner’s heartbeat lapses, within the window + 1 s', async () => {
      const heartbeatTtlMs = 3_000;
      const lost: string[] = [];
      const owner = await open({ url: await proxiedUrl(), heartbeatTtlMs });
      const ownerProxy = lastProxy();
      const other = await open({ heartbeatTtlMs, onOwnerLost: (runId) => void lost.push(runId) });
      const third = await open({ heartbeatTtlMs, onOwnerLost: (runId) => void lost.push(runId) });
      const run = owner.create({ ownerId: null });
      const unread = owner.create({ ownerId: null });
      const local = collector();
      await owner.subscribe(run.runId, -1, local);
      await visible(other, run.runId);
      const remote = collector();
      await other.subscribe(run.runId, -1, remote);
      appendTokens(run, 'abc');
      await until(() => remote.events.length === 3);
      // The owner vanishes: its connections drop and it cannot reach Redis again, so its heartbeat lapses.
      const diedAt = performance.now();
      ownerProxy.refuse();
      await until(() => remote.ended, heartbeatTtlMs + 1_000 + 1_000);
      expect(performance.now() - diedAt).toBeLessThan(heartbeatTtlMs + 1_000);
      expect(remote.events.at(-1)).toMatchObject({
        type: 'error',
        seq: 3,
        code: 'RUN_OWNER_LOST',
        retryable: true,
      });
      expect(textOf(remote.events)).toBe('abc');
      // A run nobody read elsewhere is ended too; each run once, by one instance.
      await until(() => lost.length === 2);
      await sleep(1_000);
      expect(lost.sort()).toEqual([run.runId, unread.runId].sort());
      expect((await third.info(unread.runId))?.state).toBe('finished');
      const late = collector();
      await third.subscribe(run.runId, -1, late);
      await until(() => late.ended);
      expect(late.events.filter((event) => event.type === 'error')).toHaveLength(1);
      // The owner's own reader, served from memory, still gets its answer.
      appendTokens(run, 'de');
      run.append(done);
      await until(() => local.ended);
      expect(textOf(local.events)).toBe('abcde');
    });

    it('writes a run again from the owner’s memory when Redis comes back without it (restarted empty)', async () => {
      const owner = await open({ url: await proxiedUrl() });
      const proxy = lastProxy();
      const run = owner.create({ ownerId: 'alice' });
      appendTokens(run, 'ab');
      const other = await open();
      await visible(other, run.runId);
      // Redis loses the run (a restart without persistence) and the owner's connections drop.
      const admin = new Redis(REDIS_URL!);
      await admin.del(`${prefix}:run:${run.runId}`, `${prefix}:run:${run.runId}:log`);
      admin.disconnect();
      proxy.cut();
      appendTokens(run, 'cd');
      run.append(done);
      await visible(other, run.runId);
      const remote = collector();
      await other.subscribe(run.runId, -1, remote);
      await until(() => remote.ended);
      expect(textOf(remote.events)).toBe('abcd');
      expect(seqs(remote.events).at(-1)).toBe(4);
      expect(await other.info(run.runId)).toMatchObject({ ownerId: 'alice', state: 'finished', lastSeq: 4 });
    });

    it('ends readers of another instance’s run when Redis stays unreachable, so their clients reconnect elsewhere', async () => {
      const heartbeatTtlMs = 3_000;
      const owner = await open({ heartbeatTtlMs });
      const other = await open({ url: await proxiedUrl(), heartbeatTtlMs });
      const proxy = lastProxy();
      const run = owner.create({ ownerId: null });
      await visible(other, run.runId);
      const remote = collector();
      await other.subscribe(run.runId, -1, remote);
      run.append({ type: 'token', text: 'a' });
      await until(() => remote.events.length === 1);
      const cutAt = performance.now();
      proxy.refuse();
      await until(() => remote.ended, heartbeatTtlMs + 3_000);
      expect(performance.now() - cutAt).toBeGreaterThanOrEqual(heartbeatTtlMs - 500);
      expect(remote.events.map((event) => event.type)).toEqual(['token']);
      expect(other.stats().readers).toBe(0);
      // The owner's run goes on for whoever resumes it where Redis is reachable.
      expect(run.signal.aborted).toBe(false);
    });

    it('forgets a finished run on every instance once its retention has passed', async () => {
      const owner = await open({ retentionMs: 300 });
      const other = await open({ retentionMs: 300 });
      const run = owner.create({ ownerId: null });
      run.append({ type: 'token', text: 'kept' });
      run.append(done);
      await visible(other, run.runId);
      expect((await other.info(run.runId))?.state).toBe('finished');
      await sleep(600);
      expect(await other.info(run.runId)).toBeUndefined();
      expect(await other.subscribe(run.runId, -1, collector())).toBeUndefined();
      expect(await owner.info(run.runId)).toBeUndefined();
    });

    it('refuses new runs with HUB_UNAVAILABLE while Redis is unreachable, finishes running ones locally, recovers', async () => {
      const owner = await open({ url: await proxiedUrl() });
      const proxy = lastProxy();
      const run = owner.create({ ownerId: null });
      const local = collector();
      await owner.subscribe(run.runId, -1, local);
      appendTokens(run, 'ab');
      await sleep(50);
      proxy.refuse();
      await until(() => {
        try {
          owner.create({ ownerId: null }).append(done);
          return false;
        } catch (error) {
          expect(error).toMatchObject({ code: 'HUB_UNAVAILABLE', status: 503, retryable: true });
          return true;
        }
      });
      appendTokens(run, 'cd');
      run.append(done);
      await until(() => local.ended);
      expect(textOf(local.events)).toBe('abcd');
      proxy.accept();
      // Back without a restart: new runs start again, and the answer that ran meanwhile is readable elsewhere.
      await until(() => {
        try {
          owner.create({ ownerId: null }).append(done);
          return true;
        } catch {
          return false;
        }
      }, 10_000);
      const other = await open();
      await visible(other, run.runId);
      const remote = collector();
      await other.subscribe(run.runId, -1, remote);
      await until(() => remote.ended);
      expect(textOf(remote.events)).toBe('abcd');
      expect(remote.events.at(-1)).toMatchObject({ type: 'done', seq: 4 });
    });
  });
});

/** A check that the owner counts `count` readers (on every instance) of the run. */
function async_readers(hub: RedisRunHub, runId: string, count: number): () => boolean {
  let seen = -1;
  let asking = false;
  return () => {
    if (!asking) {
      asking = true;
      void hub.info(runId).then((info) => {
        seen = info?.readers ?? -1;
        asking = false;
      });
    }
    return seen === count;
  };
}
