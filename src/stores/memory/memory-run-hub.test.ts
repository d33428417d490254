import { collector, describeRunHubConformance, textOf } from '../run-hub.conformance.ts';
import { describe, expect, it, vi } from 'vitest';
import { encodeEvent, withSeq } from '../../core/events.ts';
import type { LogEntry, RunProducer, RunSink } from '../../core/run-hub.ts';
import { MemoryRunHub, newRunId } from './memory-run-hub.ts';
import { ReencodedEntry } from './reencoded-entry.ts';

describeRunHubConformance('memory', (options) => new MemoryRunHub(options));

describe('run ids', () => {
  it('are 16 random bytes in base64url, never repeated across refills of the random pool', () => {
    const ids = Array.from({ length: 1000 }, () => newRunId());
    for (const id of ids) expect(id).toMatch(/^run_[A-Za-z0-9_-]{22}$/);
    expect(new Set(ids).size).toBe(ids.length);
  });
});

describe('MemoryRunHub retained-bytes budget', () => {
  it('forgets the oldest finished runs first once the budget is exceeded, never a running one', async () => {
    const hub = new MemoryRunHub({
      limits: { maxEvents: 1000, maxBytes: 1_000_000, maxDurationMs: 60_000 },
      graceMs: 60_000,
      disconnectPolicy: 'finish',
      retentionMs: 60_000,
      maxRetainedBytes: 3000,
    });
    const finishRun = () => {
      const run = hub.create({ ownerId: null });
      run.append({ type: 'token', text: 'x'.repeat(400) });
      run.append({ type: 'error', code: 'INTERNAL', message: 'done', retryable: false });
      return run.runId;
    };
    const running = hub.create({ ownerId: null });
    running.append({ type: 'token', text: 'y'.repeat(2000) });
    const finished = Array.from({ length: 8 }, finishRun);
    const kept = await Promise.all(finished.map(async (runId) => (await hub.info(runId)) !== undefined));
    // Each finished run holds ~0.5 KB: the newest fit in 3 KB, the oldest were forgotten.
    expect(kept.slice(0, 2)).toEqual([false, false]);
    expect(kept.slice(-4)).toEqual([true, true, true, true]);
    expect((await hub.info(running.runId))?.state).toBe('running');
    hub.close();
  });
});

/** A hub that lets runs finish and keeps them a minute (no timer fires in these tests). */
const options = {
  limits: { maxEvents: 1000, maxBytes: 1_000_000, maxDurationMs: 60_000 },
  graceMs: 60_000,
  disconnectPolicy: 'finish' as const,
  retentionMs: 60_000,
};
const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('MemoryRunHub delivery before the first token', () => {
  it('gives a reader that joins before the first token what it missed and the rest of the turn in one write', async () => {
    const hub = new MemoryRunHub(options);
    const run = hub.create({ ownerId: null });
    run.append({ type: 'phase', name: 'history', state: 'start' });
    run.append({ type: 'phase', name: 'history', state: 'end', durationMs: 1 });
    const sink = collector();
    await hub.subscribe(run.runId, -1, sink);
    // Retrieval resolving in the same event-loop turn.
    run.append({ type: 'phase', name: 'retrieve', state: 'start' });
    run.append({ type: 'phase', name: 'retrieve', state: 'end', durationMs: 1 });
    await tick();
    expect(sink.writes.map((write) => write.entries.map((entry) => entry.event.seq))).toEqual([[0, 1, 2, 3]]);
    // Tokens then go out as they come, never merged for this reader.
    run.append({ type: 'token', text: 'a' });
    run.append({ type: 'token', text: 'b' });
    await tick();
    expect(sink.writes.at(-1)).toMatchObject({ merged: false });
    expect(sink.events.map((event) => event.seq)).toEqual([0, 1, 2, 3, 4, 5]);
    hub.close();
  });

  it('sends a live reader the first token at once, the later tokens of a whole event-loop turn in one write, and the ending without waiting for the turn', async () => {
    const hub = new MemoryRunHub(options);
    const run = hub.create({ ownerId: null });
    const sink = collector();
    await hub.subscribe(run.runId, -1, sink);
    await tick();
    run.append({ type: 'token', text: 'a' });
    await Promise.resolve();
    // The first token does not wait for the turn's end.
    expect(sink.writes.map((write) => write.entries.map((entry) => entry.event.seq))).toEqual([[0]]);
    await tick();
    // Upstream chunks read in one turn, each handled in its own job: one write for all of them, at the turn's end.
    run.append({ type: 'token', text: 'b' });
    await Promise.resolve();
    run.append({ type: 'token', text: 'c' });
    await Promise.resolve();
    expect(sink.writes).toHaveLength(1);
    await tick();
    expect(sink.writes.map((write) => write.entries.map((entry) => entry.event.seq))).toEqual([[0], [1, 2]]);
    expect(sink.writes.at(-1)).toMatchObject({ merged: false });
    // The ending goes out after the job that appended it, with what the turn appended before it.
    run.append({ type: 'token', text: 'd' });
    run.append({
      type: 'done',
      finishReason: 'stop',
      text: 'abcd',
      usage: null,
      cached: false,
      timings: { ttftMs: null, totalMs: 1, phases: {} },
    });
    await Promise.resolve();
    expect(sink.writes.map((write) => write.entries.map((entry) => entry.event.seq))).toEqual([
      [0],
      [1, 2],
      [3, 4],
    ]);
    expect(sink.ended).toBe(true);
    hub.close();
  });

  it('delivers to a reader joining after the first token on the next microtask, as before', async () => {
    const hub = new MemoryRunHub(options);
    const run = hub.create({ ownerId: null });
    run.append({ type: 'token', text: 'a' });
    const sink = collector();
    await hub.subscribe(run.runId, -1, sink);
    await Promise.resolve();
    expect(sink.events.map((event) => event.seq)).toEqual([0]);
    hub.close();
  });
});

describe('MemoryRunHub write interval (STREAM_WRITE_INTERVAL_MS)', () => {
  const seqsOfWrites = (sink: ReturnType<typeof collector>): number[][] =>
    sink.writes.map((write) => write.entries.map((entry) => entry.event.seq));

  it('writes a reader the first token at once, then at most once an interval, each event its own frame; the ending and a replay never wait', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      const hub = new MemoryRunHub({ ...options, writeIntervalMs: 30 });
      // Another hub in the process without an interval is not held by this one's timer.
      const unpaced = new MemoryRunHub(options);
      const run = hub.create({ ownerId: null });
      const other = unpaced.create({ ownerId: null });
      const sink = collector();
      const otherSink = collector();
      await hub.subscribe(run.runId, -1, sink);
      await unpaced.subscribe(other.runId, -1, otherSink);
      run.append({ type: 'phase', name: 'generate', state: 'start' });
      run.append({ type: 'token', text: 'a' });
      await tick();
      expect(seqsOfWrites(sink)).toEqual([[0, 1]]);
      for (const text of ['b', 'c', 'd']) {
        run.append({ type: 'token', text });
        other.append({ type: 'token', text });
        await tick();
      }
      // The unpaced run's reader has each turn's token at its end; this one waits for the interval.
      expect(otherSink.events.map((event) => event.seq)).toEqual([0, 1, 2]);
      expect(seqsOfWrites(sink)).toEqual([[0, 1]]);
      // A reader resuming meanwhile gets its replay at once, the waiting tokens included (merged: it is behind).
      const resumed = collector();
      await hub.subscribe(run.runId, 0, resumed);
      await tick();
      expect(seqsOfWrites(resumed)).toEqual([[4]]);
      expect(textOf(resumed.events)).toBe('abcd');
      vi.advanceTimersByTime(30);
      expect(seqsOfWrites(sink)).toEqual([
        [0, 1],
        [2, 3, 4],
      ]);
      expect(sink.writes.at(-1)).toMatchObject({ merged: false });
      // Nothing sent twice to the resumed reader.
      expect(seqsOfWrites(resumed)).toEqual([[4]]);
      // The ending leaves without the timer, with the token before it.
      run.append({ type: 'token', text: 'e' });
      await tick();
      expect(sink.writes).toHaveLength(2);
      run.append({ type: 'error', code: 'INTERNAL', message: 'stopped', retryable: false });
      await tick();
      expect(seqsOfWrites(sink).at(-1)).toEqual([5, 6]);
      expect(sink.ended).toBe(true);
      // Nothing else waited on the interval: its timer is cancelled, not left to wake an idle process for nothing.
      // The timers left are the hubs' own: the other run's time limit and this finished run's retention.
      expect(vi.getTimerCount()).toBe(2);
      expect(sink.events.map((event) => (event.type === 'token' ? event.text : event.type))).toEqual([
        'phase',
        'a',
        'b',
        'c',
        'd',
        'e',
        'error',
      ]);
      hub.close();
      unpaced.close();
    } finally {
      // Should an assertion fail before the ending cancelled it, the interval's timer still fires: a timer dropped
      // unfired would leave its interval's waiting list without one for the rest of this file.
      vi.runOnlyPendingTimers();
      vi.useRealTimers();
    }
  });
});

describe('MemoryRunHub sources event', () => {
  /** A sink that notes each entry's JSON as it is sent, and the entry itself. */
  const jsonSink = (accept = true) => {
    const sent: { entry: LogEntry; json: string }[] = [];
    const sink: RunSink & { sent: typeof sent; accept: boolean } = {
      sent,
      accept,
      write(entries) {
        for (const entry of entries) sent.push({ entry, json: entry.json });
        return sink.accept;
      },
      end() {},
    };
    return sink;
  };
  const sources = {
    type: 'sources' as const,
    sources: [
      {
        id: '1',
        documentId: 'doc',
        chunkId: 'chk',
        title: 'Ünïcode "quoted"',
        snippet: 'a\nb ✓',
        score: 0.1234,
      },
      { id: '2', documentId: 'doc', title: 'T', uri: 'a.md', snippet: 's', score: 1 },
    ],
    match: { quality: 'strong' as const, topScore: 0.5, matchedTerms: 1, queryTerms: 2 },
  };

  it('lets its JSON go once every reader has it; later readers and a compacted replay get the same bytes', async () => {
    const hub = new MemoryRunHub(options);
    const run = hub.create({ ownerId: null });
    // A reader that stops taking entries before the sources: their JSON is held until it has them.
    const slow = jsonSink(false);
    const slowSubscription = await hub.subscribe(run.runId, -1, slow);
    run.append({ type: 'phase', name: 'retrieve', state: 'end', durationMs: 1 });
    await tick();
    const live = jsonSink();
    const liveSubscription = await hub.subscribe(run.runId, -1, live);
    run.append(sources);
    await tick();
    const appended = live.sent.find(({ entry }) => entry.event.type === 'sources')!;
    expect(appended.json).toBe(encodeEvent(withSeq(sources, 1)));
    expect(appended.entry).toBeInstanceOf(ReencodedEntry);
    const entry = appended.entry as ReencodedEntry;
    expect(entry.holdsJson).toBe(true);
    slow.accept = true;
    slowSubscription?.resume();
    run.append({ type: 'token', text: 'a' });
    await tick();
    expect(slow.sent.map(({ json }) => json)).toContain(appended.json);
    expect(entry.holdsJson).toBe(false);
    // Made again for a reader that resumes before it.
    const resumed = jsonSink();
    (await hub.subscribe(run.runId, 0, resumed))?.close();
    await tick();
    expect(resumed.sent.map(({ json }) => json)).toEqual([appended.json, live.sent.at(-1)?.json]);
    // And for a replay of the finished run, compacted once its readers are gone.
    run.append({ type: 'error', code: 'INTERNAL', message: 'x', retryable: false });
    await tick();
    slowSubscription?.close();
    liveSubscription?.close();
    await tick();
    const replay = jsonSink();
    await hub.subscribe(run.runId, -1, replay);
    await tick();
    expect(replay.sent[1]?.json).toBe(appended.json);
    hub.close();
  });
});

describe('MemoryRunHub long answers', () => {
  /** Token text and seqs a sink was sent, and whether it ended. */
  const tokenSink = () => {
    const sink: RunSink & { text: string; seqs: number[]; ended: boolean } = {
      text: '',
      seqs: [],
      ended: false,
      write(entries) {
        for (const { event } of entries) {
          if (event.type !== 'token') continue;
          sink.text += event.text;
          sink.seqs.push(event.seq);
        }
        return true;
      },
      end() {
        sink.ended = true;
      },
    };
    return sink;
  };

  it('compacts what every reader has while the run streams; a resume after any seq gets exactly the rest', async () => {
    const hub = new MemoryRunHub({ ...options, limits: { ...options.limits, maxEvents: 10_000 } });
    const run = hub.create({ ownerId: null }) as RunProducer & { entries: unknown[]; base: number };
    const live = tokenSink();
    await hub.subscribe(run.runId, -1, live);
    run.append({ type: 'phase', name: 'generate', state: 'start' });
    const texts: string[] = [];
    for (let index = 0; index < 2_000; index += 1) {
      const text = index % 97 === 0 ? ` é"\n${index}` : ` t${index}`;
      texts.push(text);
      run.append({ type: 'token', text });
      // One token a turn, as from a provider: the live reader takes each at the turn's end.
      await tick();
    }
    await tick();
    // The log holds a few hundred entries, not 2,001: the rest is compacted.
    expect(run.base).toBeGreaterThan(1_500);
    expect(run.entries.length).toBeLessThan(600);
    expect(live.text).toBe(texts.join(''));
    expect(live.seqs).toEqual(texts.map((_, index) => index + 1));
    // Still running: a resume after every seq gets the tokens after it, each merged token carrying the last seq it covers.
    for (let after = 0; after <= 2_000; after += 1) {
      const resumed = tokenSink();
      const subscription = await hub.subscribe(run.runId, after, resumed);
      await tick();
      subscription?.close();
      expect(resumed.text).toBe(texts.slice(after).join(''));
      if (after < 2_000) expect(resumed.seqs.at(-1)).toBe(2_000);
      expect(resumed.seqs).toEqual([...resumed.seqs].sort((a, b) => a - b));
    }
    // The run goes on after compaction and ends as it would have.
    run.append({ type: 'token', text: ' last' });
    run.append({ type: 'error', code: 'INTERNAL', message: 'x', retryable: false });
    await tick();
    expect(live.text).toBe(`${texts.join('')} last`);
    expect(live.ended).toBe(true);
    const replay = tokenSink();
    await hub.subscribe(run.runId, -1, replay);
    await tick();
    expect(replay.text).toBe(`${texts.join('')} last`);
    hub.close();
  });

  it('keeps an ordinary answer streaming to its reader compacted as it goes, not only long ones', async () => {
    // A 250-token answer at a provider's pace: with its whole log held in full until the run ends, every young
    // generation collection copied seconds of tokens' entries per stream (see LIVE_COMPACT_ENTRIES).
    const hub = new MemoryRunHub(options);
    const run = hub.create({ ownerId: null }) as RunProducer & { entries: unknown[]; base: number };
    const live = tokenSink();
    await hub.subscribe(run.runId, -1, live);
    const texts: string[] = [];
    let mostHeld = 0;
    for (let index = 0; index < 250; index += 1) {
      texts.push(` t${index}`);
      run.append({ type: 'token', text: ` t${index}` });
      await tick();
      mostHeld = Math.max(mostHeld, run.entries.length);
    }
    expect(live.text).toBe(texts.join(''));
    expect(run.base).toBeGreaterThan(200);
    expect(mostHeld).toBeLessThan(64);
    // A resume after the first token gets the rest, most of it replayed from the compacted part.
    const resumed = tokenSink();
    (await hub.subscribe(run.runId, 0, resumed))?.close();
    await tick();
    expect(resumed.text).toBe(texts.slice(1).join(''));
    hub.close();
  });

  it('keeps every entry a slow reader has not been sent', async () => {
    const hub = new MemoryRunHub({ ...options, limits: { ...options.limits, maxEvents: 10_000 } });
    const run = hub.create({ ownerId: null }) as RunProducer & { entries: unknown[]; base: number };
    const live = tokenSink();
    await hub.subscribe(run.runId, -1, live);
    const slow = tokenSink();
    let accept = false;
    const slowSubscription = await hub.subscribe(run.runId, -1, {
      write: (entries, merged) => {
        slow.write(entries, merged);
        return accept;
      },
      end: () => slow.end(),
    });
    await tick();
    for (let index = 0; index < 1_000; index += 1) {
      run.append({ type: 'token', text: `${index},` });
      await tick();
    }
    await tick();
    // The slow reader stopped at its first write: nothing after it may be compacted away from its resume.
    expect(run.base).toBeLessThanOrEqual(1);
    accept = true;
    slowSubscription?.resume();
    await tick();
    const expected = Array.from({ length: 1_000 }, (_, index) => `${index},`).join('');
    expect(slow.text).toBe(expected);
    expect(live.text).toBe(expected);
    hub.close();
  });
});
