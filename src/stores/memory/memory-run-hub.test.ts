import { afterEach, describe, expect, it, vi } from 'vitest';
import type { RivuletError } from '../../core/errors.ts';
import type { RunEvent } from '../../core/events.ts';
import type { LogEntry, RunSink, RunSubscription } from '../../core/run-hub.ts';
import { MemoryRunHub, type MemoryRunHubOptions } from './memory-run-hub.ts';

function makeHub(overrides: Partial<MemoryRunHubOptions> = {}): MemoryRunHub {
  return new MemoryRunHub({
    limits: { maxEvents: 1000, maxBytes: 1_000_000, maxDurationMs: 60_000 },
    graceMs: 1000,
    disconnectPolicy: 'abort',
    retentionMs: 5000,
    ...overrides,
  });
}

interface CollectingSink extends RunSink {
  events: RunEvent[];
  writes: { entries: readonly LogEntry[]; merged: boolean }[];
  ended: boolean;
  accept: boolean;
}

function collector(): CollectingSink {
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

const textOf = (events: RunEvent[]): string =>
  events.map((event) => (event.type === 'token' ? event.text : '')).join('');

afterEach(() => {
  vi.useRealTimers();
});

describe('MemoryRunHub', () => {
  it('numbers events from 0 and gives every reader the same log', async () => {
    const hub = makeHub();
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
    hub.close();
  });

  it('replays from any seq and then follows the live tail', async () => {
    const hub = makeHub();
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
    hub.close();
  });

  it('ends readers after the terminal event and drops appends after it', async () => {
    const hub = makeHub();
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
    hub.close();
  });

  it('pauses a reader that pushes back without delaying the producer or other readers, then merges its backlog', async () => {
    const hub = makeHub();
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
    hub.close();
  });

  it('ends a run that exceeds its byte cap with RUN_LOG_LIMIT and aborts the producer', async () => {
    const hub = makeHub({ limits: { maxEvents: 1000, maxBytes: 400, maxDurationMs: 60_000 } });
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
    hub.close();
  });

  it('ends a run that exceeds its event cap with RUN_LOG_LIMIT', async () => {
    const hub = makeHub({ limits: { maxEvents: 10, maxBytes: 1_000_000, maxDurationMs: 60_000 } });
    const run = hub.create({ ownerId: null });
    let appended = 0;
    while (run.append({ type: 'token', text: 't' }) !== -1) appended += 1;
    expect(appended).toBe(9);
    expect((await hub.info(run.runId))?.lastSeq).toBe(9);
    hub.close();
  });

  it('ends a run that outlives the maximum duration with RUN_TIMEOUT', async () => {
    vi.useFakeTimers();
    const hub = makeHub({ limits: { maxEvents: 1000, maxBytes: 1_000_000, maxDurationMs: 5000 } });
    const run = hub.create({ ownerId: null });
    const sink = collector();
    await hub.subscribe(run.runId, -1, sink);
    vi.advanceTimersByTime(5001);
    await Promise.resolve();
    expect((run.signal.reason as RivuletError).code).toBe('RUN_TIMEOUT');
    expect(sink.events.at(-1)).toMatchObject({ type: 'error', code: 'RUN_TIMEOUT' });
    hub.close();
  });

  it('aborts a run whose last reader left once the grace period passes', async () => {
    vi.useFakeTimers();
    const abandoned: string[] = [];
    const hub = makeHub({ graceMs: 1000, onAbandoned: (runId) => abandoned.push(runId) });
    const run = hub.create({ ownerId: null });
    const subscription = (await hub.subscribe(run.runId, -1, collector())) as RunSubscription;
    subscription.close();
    vi.advanceTimersByTime(999);
    expect(run.signal.aborted).toBe(false);
    vi.advanceTimersByTime(2);
    expect((run.signal.reason as RivuletError).code).toBe('RUN_ABANDONED');
    expect(abandoned).toEqual([run.runId]);
    hub.close();
  });

  it('keeps the run going when a reader returns within the grace period', async () => {
    vi.useFakeTimers();
    const hub = makeHub({ graceMs: 1000 });
    const run = hub.create({ ownerId: null });
    const subscription = (await hub.subscribe(run.runId, -1, collector())) as RunSubscription;
    subscription.close();
    vi.advanceTimersByTime(900);
    await hub.subscribe(run.runId, -1, collector());
    vi.advanceTimersByTime(5000);
    expect(run.signal.aborted).toBe(false);
    hub.close();
  });

  it('lets the run finish when the disconnect policy is "finish"', async () => {
    vi.useFakeTimers();
    const hub = makeHub({ graceMs: 1000, disconnectPolicy: 'finish' });
    const run = hub.create({ ownerId: null });
    const subscription = (await hub.subscribe(run.runId, -1, collector())) as RunSubscription;
    subscription.close();
    vi.advanceTimersByTime(10_000);
    expect(run.signal.aborted).toBe(false);
    hub.close();
  });

  it('stops a running run with RUN_STOPPED and refuses to stop a finished one', async () => {
    const hub = makeHub();
    const run = hub.create({ ownerId: null });
    expect(await hub.stop(run.runId)).toBe(true);
    expect((run.signal.reason as RivuletError).code).toBe('RUN_STOPPED');
    const other = hub.create({ ownerId: null });
    other.append({ type: 'error', code: 'INTERNAL', message: 'x', retryable: true });
    expect(await hub.stop(other.runId)).toBe(false);
    expect(await hub.stop('run_unknown')).toBe(false);
    hub.close();
  });

  it('keeps a finished run readable for the retention window, then forgets it', async () => {
    vi.useFakeTimers();
    const hub = makeHub({ retentionMs: 5000 });
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
    vi.advanceTimersByTime(4000);
    const sink = collector();
    expect(await hub.subscribe(run.runId, -1, sink)).toBeDefined();
    await Promise.resolve();
    vi.advanceTimersByTime(1001);
    expect(await hub.info(run.runId)).toBeUndefined();
    expect(await hub.subscribe(run.runId, -1, collector())).toBeUndefined();
    hub.close();
  });

  it('isolates a reader whose sink throws', async () => {
    const hub = makeHub();
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
    hub.close();
  });

  it('generates unguessable run ids without ":"', () => {
    const hub = makeHub();
    const ids = new Set(Array.from({ length: 200 }, () => hub.create({ ownerId: null }).runId));
    expect(ids.size).toBe(200);
    for (const id of ids) expect(id).toMatch(/^run_[A-Za-z0-9_-]{22}$/);
    hub.close();
  });
});
