// The run hub conformance suite: every RunHub backend (in-memory now, Redis later) must pass it unchanged.

import { afterEach, describe, expect, it } from 'vitest';
import type { RivuletError } from '../core/errors.ts';
import type { RunEvent } from '../core/events.ts';
import type {
  DisconnectPolicy,
  LogEntry,
  ReaderLimits,
  RunHub,
  RunLimits,
  RunSink,
  RunSubscription,
} from '../core/run-hub.ts';

export interface RunHubTestOptions {
  limits: RunLimits;
  graceMs: number;
  disconnectPolicy: DisconnectPolicy;
  retentionMs: number;
  readers?: ReaderLimits;
  onAbandoned?: (runId: string) => void;
}

export type RunHubFactory = (options: RunHubTestOptions) => RunHub | Promise<RunHub>;

/** A sink that records what it is written; `accept` is what its write returns. */
export interface CollectingSink extends RunSink {
  events: RunEvent[];
  writes: { entries: readonly LogEntry[]; merged: boolean }[];
  ended: boolean;
  accept: boolean;
}

export function collector(): CollectingSink {
  const sink: CollectingSink = {
    events: [],
    writes: [],
    ended: false,
    accept: true,
    write(entries, merged) {
      sink.writes.push({ entries, merged });
      for (const entry of entries) sink.events.push(entry.event);
      return sink.accept;
    },
    end() {
      sink.ended = true;
    },
  };
  return sink;
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export const textOf = (events: RunEvent[]): string =>
  events.map((event) => (event.type === 'token' ? event.text : '')).join('');

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Registers the suite for one backend. Timers are real and short, so any backend's clock works. */
export function describeRunHubConformance(name: string, factory: RunHubFactory): void {
  const hubs: RunHub[] = [];
  const makeHub = async (overrides: Partial<RunHubTestOptions> = {}): Promise<RunHub> => {
    const hub = await factory({
      limits: { maxEvents: 1000, maxBytes: 1_000_000, maxDurationMs: 60_000 },
      graceMs: 1000,
      disconnectPolicy: 'abort',
      retentionMs: 5000,
      ...overrides,
    });
    hubs.push(hub);
    return hub;
  };

  afterEach(() => {
    for (const hub of hubs.splice(0)) hub.close();
  });

  describe(`RunHub conformance: ${name}`, () => {
    it('numbers events from 0 and gives every reader the same log', async () => {
      const hub = await makeHub();
      const run = hub.create({ ownerId: null });
      const first = collector();
      const second = collector();
      await hub.subscribe(run.runId, -1, first);
      await hub.subscribe(run.runId, -1, second);
      expect(run.append({ type: 'token', text: 'a' })).toBe(0);
      expect(run.append({ type: 'token', text: 'b' })).toBe(1);
      await tick();
      run.append({ type: 'token', text: 'c' });
      await tick();
      expect(first.events.map((event) => event.seq)).toEqual([0, 1, 2]);
      expect(second.events).toEqual(first.events);
    });

    it('replays from any seq and then follows the live tail', async () => {
      const hub = await makeHub();
      const run = hub.create({ ownerId: null });
      for (const text of ['a', 'b', 'c', 'd']) run.append({ type: 'token', text });
      const late = collector();
      await hub.subscribe(run.runId, 1, late);
      await tick();
      // A replayed backlog is merged: one frame carrying the last seq it covers.
      expect(late.writes[0]).toMatchObject({ merged: true });
      expect(late.events).toEqual([{ type: 'token', seq: 3, text: 'cd' }]);
      run.append({ type: 'token', text: 'e' });
      await tick();
      expect(late.events.at(-1)).toEqual({ type: 'token', seq: 4, text: 'e' });
    });

    it('ends readers after the terminal event and drops appends after it', async () => {
      const hub = await makeHub();
      const run = hub.create({ ownerId: null });
      const sink = collector();
      await hub.subscribe(run.runId, -1, sink);
      run.append({ type: 'token', text: 'x' });
      run.append({ type: 'error', code: 'UPSTREAM_DROPPED', message: 'lost', retryable: true });
      expect(run.append({ type: 'token', text: 'late' })).toBe(-1);
      await tick();
      expect(sink.ended).toBe(true);
      expect(sink.events.map((event) => event.type)).toEqual(['token', 'error']);
      expect((await hub.info(run.runId))?.state).toBe('finished');
    });

    it('pauses a reader that pushes back without delaying the producer or other readers, then merges its backlog', async () => {
      const hub = await makeHub();
      const run = hub.create({ ownerId: null });
      const slow = collector();
      const fast = collector();
      const slowSubscription = (await hub.subscribe(run.runId, -1, slow)) as RunSubscription;
      await hub.subscribe(run.runId, -1, fast);
      slow.accept = false;
      run.append({ type: 'token', text: '0' });
      await tick();
      for (let index = 1; index < 100; index += 1) {
        run.append({ type: 'token', text: String(index % 10) });
        await tick();
      }
      run.append({
        type: 'done',
        finishReason: 'stop',
        text: '',
        usage: null,
        cached: false,
        timings: {} as never,
      });
      await tick();
      expect(fast.events).toHaveLength(101);
      expect(fast.ended).toBe(true);
      expect(slow.events).toHaveLength(1);
      slow.accept = true;
      slowSubscription.resume();
      // 99 tokens + done arrive as one merged token frame (seq 99) and the done frame.
      expect(slow.writes.at(-1)?.merged).toBe(true);
      expect(slow.events.slice(1).map((event) => [event.type, event.seq])).toEqual([
        ['token', 99],
        ['done', 100],
      ]);
      expect(textOf(slow.events)).toBe(textOf(fast.events));
      expect(slow.ended).toBe(true);
    });

    it('ends a run that exceeds its byte cap with RUN_LOG_LIMIT and aborts the producer', async () => {
      const hub = await makeHub({ limits: { maxEvents: 1000, maxBytes: 400, maxDurationMs: 60_000 } });
      const run = hub.create({ ownerId: null });
      const sink = collector();
      await hub.subscribe(run.runId, -1, sink);
      let appended = 0;
      while (run.append({ type: 'token', text: 'x'.repeat(50) }) !== -1) appended += 1;
      await tick();
      expect(appended).toBeGreaterThan(0);
      expect(run.signal.aborted).toBe(true);
      expect((run.signal.reason as RivuletError).code).toBe('RUN_LOG_LIMIT');
      expect(sink.events.at(-1)).toMatchObject({ type: 'error', code: 'RUN_LOG_LIMIT', retryable: false });
      expect(sink.ended).toBe(true);
    });

    it('ends a run that exceeds its event cap with RUN_LOG_LIMIT', async () => {
      const hub = await makeHub({ limits: { maxEvents: 10, maxBytes: 1_000_000, maxDurationMs: 60_000 } });
      const run = hub.create({ ownerId: null });
      let appended = 0;
      while (run.append({ type: 'token', text: 't' }) !== -1) appended += 1;
      expect(appended).toBe(9);
      expect((await hub.info(run.runId))?.lastSeq).toBe(9);
    });

    it('ends a run that outlives the maximum duration with RUN_TIMEOUT', async () => {
      const hub = await makeHub({ limits: { maxEvents: 1000, maxBytes: 1_000_000, maxDurationMs: 100 } });
      const run = hub.create({ ownerId: null });
      const sink = collector();
      await hub.subscribe(run.runId, -1, sink);
      await sleep(50);
      expect(run.signal.aborted).toBe(false);
      await sleep(100);
      expect((run.signal.reason as RivuletError).code).toBe('RUN_TIMEOUT');
      expect(sink.events.at(-1)).toMatchObject({ type: 'error', code: 'RUN_TIMEOUT' });
    });

    it('aborts a run whose last reader left once the grace period passes', async () => {
      const abandoned: string[] = [];
      const hub = await makeHub({ graceMs: 150, onAbandoned: (runId) => abandoned.push(runId) });
      const run = hub.create({ ownerId: null });
      const subscription = (await hub.subscribe(run.runId, -1, collector())) as RunSubscription;
      subscription.close();
      await sleep(75);
      expect(run.signal.aborted).toBe(false);
      await sleep(150);
      expect((run.signal.reason as RivuletError).code).toBe('RUN_ABANDONED');
      expect(abandoned).toEqual([run.runId]);
    });

    it('keeps the run going when a reader returns within the grace period', async () => {
      const hub = await makeHub({ graceMs: 150 });
      const run = hub.create({ ownerId: null });
      const subscription = (await hub.subscribe(run.runId, -1, collector())) as RunSubscription;
      subscription.close();
      await sleep(75);
      await hub.subscribe(run.runId, -1, collector());
      await sleep(300);
      expect(run.signal.aborted).toBe(false);
    });

    it('lets the run finish when the disconnect policy is "finish"', async () => {
      const hub = await makeHub({ graceMs: 50, disconnectPolicy: 'finish' });
      const run = hub.create({ ownerId: null });
      const subscription = (await hub.subscribe(run.runId, -1, collector())) as RunSubscription;
      subscription.close();
      await sleep(200);
      expect(run.signal.aborted).toBe(false);
    });

    it('stops a running run with RUN_STOPPED and refuses to stop a finished one', async () => {
      const hub = await makeHub();
      const run = hub.create({ ownerId: null });
      expect(await hub.stop(run.runId)).toBe(true);
      expect((run.signal.reason as RivuletError).code).toBe('RUN_STOPPED');
      const other = hub.create({ ownerId: null });
      other.append({ type: 'error', code: 'INTERNAL', message: 'x', retryable: true });
      expect(await hub.stop(other.runId)).toBe(false);
      expect(await hub.stop('run_unknown')).toBe(false);
    });

    it('keeps a finished run readable for the retention window, then forgets it', async () => {
      const hub = await makeHub({ retentionMs: 200 });
      const run = hub.create({ ownerId: null });
      run.append({ type: 'token', text: 'kept' });
      run.append({
        type: 'done',
        finishReason: 'stop',
        text: 'kept',
        usage: null,
        cached: false,
        timings: {} as never,
      });
      await sleep(100);
      const sink = collector();
      expect(await hub.subscribe(run.runId, -1, sink)).toBeDefined();
      await tick();
      expect(textOf(sink.events)).toBe('kept');
      await sleep(200);
      expect(await hub.info(run.runId)).toBeUndefined();
      expect(await hub.subscribe(run.runId, -1, collector())).toBeUndefined();
    });

    it('resumes a finished run its readers left exactly after any seq, a long one and a paused reader included', async () => {
      const hub = await makeHub();
      const run = hub.create({ ownerId: null });
      const reader = collector();
      const subscription = await hub.subscribe(run.runId, -1, reader);
      const appended: RunEvent[] = [];
      const append = (event: Parameters<typeof run.append>[0]): void => {
        const seq = run.append(event);
        appended.push({ ...event, seq });
      };
      append({ type: 'phase', name: 'generate', state: 'start' });
      for (let index = 0; index < 40; index += 1) append({ type: 'token', text: `t${index} ` });
      append({ type: 'phase', name: 'generate', state: 'end', durationMs: 1 });
      // One stretch of tokens longer than a merged frame may be.
      append({ type: 'token', text: 'x'.repeat(40_000) });
      append({ type: 'token', text: 'y'.repeat(40_000) });
      append({ type: 'token', text: 'z' });
      const text = textOf(appended);
      append({ type: 'done', finishReason: 'stop', text, usage: null, cached: false, timings: {} as never });
      await tick();
      subscription?.close();
      await tick();

      /** Text of the tokens up to and including each seq. */
      const before = new Map<number, number>();
      let length = 0;
      for (const event of appended)
        before.set(event.seq, (length += event.type === 'token' ? event.text.length : 0));
      const last = appended.at(-1)!.seq;
      for (let afterSeq = -1; afterSeq <= last; afterSeq += 1) {
        const sink = collector();
        await hub.subscribe(run.runId, afterSeq, sink);
        while (!sink.ended) await tick();
        // Every event after afterSeq, tokens possibly merged into one carrying the last seq it covers.
        const start = afterSeq < 0 ? 0 : before.get(afterSeq)!;
        expect(textOf(sink.events)).toBe(text.slice(start));
        let read = start;
        for (const event of sink.events) {
          expect(event.seq).toBeGreaterThan(afterSeq);
          if (event.type === 'token') read += event.text.length;
          else expect(event).toEqual(appended[event.seq]);
          expect(read).toBe(before.get(event.seq));
        }
        expect(sink.events.filter((event) => event.type !== 'token')).toEqual(
          appended.filter((event) => event.type !== 'token' && event.seq > afterSeq),
        );
      }

      // A reader that pushes back takes the rest once it resumes.
      const paused = collector();
      paused.accept = false;
      const pausedSubscription = await hub.subscribe(run.runId, 5, paused);
      await tick();
      expect(paused.ended).toBe(false);
      paused.accept = true;
      pausedSubscription?.resume();
      while (!paused.ended) await tick();
      expect(textOf(paused.events)).toBe(text.slice(before.get(5)));
      expect(paused.events.at(-1)?.type).toBe('done');
    });

    it('isolates a reader whose sink throws', async () => {
      const hub = await makeHub();
      const run = hub.create({ ownerId: null });
      const good = collector();
      await hub.subscribe(run.runId, -1, {
        write: () => {
          throw new Error('socket exploded');
        },
        end: () => undefined,
      });
      await hub.subscribe(run.runId, -1, good);
      run.append({ type: 'token', text: 'a' });
      await tick();
      run.append({ type: 'token', text: 'b' });
      await tick();
      expect(textOf(good.events)).toBe('ab');
      expect((await hub.info(run.runId))?.readers).toBe(1);
    });

    it('refuses a reader past RUN_MAX_READERS with TOO_MANY_READERS until one leaves', async () => {
      const hub = await makeHub({ readers: { perRun: 2, total: 100 } });
      const run = hub.create({ ownerId: null });
      const other = hub.create({ ownerId: null });
      const first = (await hub.subscribe(run.runId, -1, collector())) as RunSubscription;
      await hub.subscribe(run.runId, -1, collector());
      const refused = await hub.subscribe(run.runId, -1, collector()).catch((error: unknown) => error);
      expect(refused).toMatchObject({ code: 'TOO_MANY_READERS', retryable: true });
      expect((refused as RivuletError).message).toContain('RUN_MAX_READERS');
      // The ceiling is per run: another run still takes readers.
      expect(await hub.subscribe(other.runId, -1, collector())).toBeDefined();
      expect((await hub.info(run.runId))?.readers).toBe(2);
      first.close();
      const third = collector();
      expect(await hub.subscribe(run.runId, -1, third)).toBeDefined();
      run.append({ type: 'token', text: 'a' });
      await tick();
      expect(textOf(third.events)).toBe('a');
    });

    it('refuses readers and new runs past MAX_READERS; readers that leave or are ended free their slots', async () => {
      const hub = await makeHub({ readers: { perRun: 10, total: 3 } });
      const first = hub.create({ ownerId: null });
      const second = hub.create({ ownerId: null });
      const leaving = (await hub.subscribe(first.runId, -1, collector())) as RunSubscription;
      await hub.subscribe(first.runId, -1, collector());
      const ending = collector();
      await hub.subscribe(second.runId, -1, ending);
      const refused = await hub.subscribe(second.runId, -1, collector()).catch((error: unknown) => error);
      expect(refused).toMatchObject({ code: 'TOO_MANY_READERS' });
      expect((refused as RivuletError).message).toContain('MAX_READERS');
      // A new run would have no room for the reader who asked for it.
      expect(() => hub.create({ ownerId: null })).toThrow(
        expect.objectContaining({ code: 'TOO_MANY_READERS' }),
      );
      expect(hub.stats().readers).toBe(3);
      leaving.close();
      expect(await hub.subscribe(second.runId, -1, collector())).toBeDefined();
      // A finished run ends its readers: their slots come back too.
      second.append({ type: 'error', code: 'INTERNAL', message: 'x', retryable: true });
      await tick();
      expect(ending.ended).toBe(true);
      expect(hub.stats().readers).toBe(1);
      const third = hub.create({ ownerId: null });
      expect(await hub.subscribe(third.runId, -1, collector())).toBeDefined();
      expect(await hub.subscribe(first.runId, -1, collector())).toBeDefined();
      await expect(hub.subscribe(third.runId, -1, collector())).rejects.toMatchObject({
        code: 'TOO_MANY_READERS',
      });
    });

    it('generates unguessable run ids without ":"', async () => {
      const hub = await makeHub();
      const ids = new Set(Array.from({ length: 200 }, () => hub.create({ ownerId: null }).runId));
      expect(ids.size).toBe(200);
      // URL-safe, at least 128 random bits in base64url, and no ':' (Last-Event-ID is "<runId>:<seq>").
      for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9_-]{22,}$/);
    });
  });
}
