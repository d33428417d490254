import { afterEach, describe, expect, it } from 'vitest';
import { MemoryRunHub } from '../stores/memory/memory-run-hub.ts';
import { encodePollBatch, pollRun } from './run-poll.ts';
import { keepLoopBusy } from '../../test/helpers/busy-loop.ts';
import { nextTurn } from '../../test/helpers/turns.ts';

const hubs: MemoryRunHub[] = [];
function newHub(): MemoryRunHub {
  const hub = new MemoryRunHub({
    limits: { maxEvents: 10_000, maxBytes: 1_000_000, maxDurationMs: 60_000 },
    graceMs: 60_000,
    disconnectPolicy: 'finish',
    retentionMs: 60_000,
  });
  hubs.push(hub);
  return hub;
}
afterEach(() => {
  for (const hub of hubs.splice(0)) hub.close();
});

const never = new AbortController().signal;

describe('pollRun', () => {
  it('returns at most maxEvents, with the cursor on the last one returned, not ended', async () => {
    const hub = newHub();
    const run = hub.create({ ownerId: null });
    // Phases, not tokens: a reader behind on tokens gets them merged, which would blur the count.
    for (let index = 0; index < 12; index += 1)
      run.append({ type: 'phase', name: 'retrieve', state: index % 2 === 0 ? 'start' : 'end' });
    const first = await pollRun(hub, run.runId, { afterSeq: -1, waitMs: 0, maxEvents: 5, signal: never });
    expect(first.entries.map((entry) => entry.event.seq)).toEqual([0, 1, 2, 3, 4]);
    expect(first).toMatchObject({ next: 4, ended: false });
    const rest = await pollRun(hub, run.runId, { afterSeq: 4, waitMs: 0, maxEvents: 50, signal: never });
    expect(rest.entries.map((entry) => entry.event.seq)).toEqual([5, 6, 7, 8, 9, 10, 11]);
    expect(hub.stats().readers).toBe(0);
  });

  // A run before its first token replays to a new reader at the end of the event-loop turn (an immediate). A poll
  // started from an immediate whose turn then runs long meets its timers before that: it must still get the events.
  it('answers a poll without wait with the events a run holds before its first token, even when its turn runs long', async () => {
    const hub = newHub();
    const run = hub.create({ ownerId: null });
    for (let index = 0; index < 4; index += 1)
      run.append({ type: 'phase', name: 'retrieve', state: index % 2 === 0 ? 'start' : 'end' });
    await nextTurn();
    const polling = pollRun(hub, run.runId, { afterSeq: -1, waitMs: 0, signal: never });
    for (let hop = 0; hop < 20; hop += 1) await Promise.resolve();
    keepLoopBusy(5);
    const batch = await polling;
    expect(batch.entries.map((entry) => entry.event.seq)).toEqual([0, 1, 2, 3]);
    expect(batch).toMatchObject({ next: 3, ended: false });
  });

  it('answers a waiting poll at once with the events a run already holds, without gathering', async () => {
    const hub = newHub();
    const run = hub.create({ ownerId: null });
    run.append({ type: 'phase', name: 'retrieve', state: 'start' });
    // Were the replay taken for a live event, the poll would gather for a minute and the test time out.
    const batch = await pollRun(hub, run.runId, {
      afterSeq: -1,
      waitMs: 60_000,
      gatherMs: 60_000,
      signal: never,
    });
    expect(batch.entries.map((entry) => entry.event.seq)).toEqual([0]);
  }, 2_000);

  it('does not call a batch cut at the bound ended, even when the run has finished', async () => {
    const hub = newHub();
    const run = hub.create({ ownerId: null });
    run.append({ type: 'phase', name: 'generate', state: 'start' });
    run.append({ type: 'error', code: 'INTERNAL', message: 'x', retryable: false });
    const cut = await pollRun(hub, run.runId, { afterSeq: -1, waitMs: 0, maxEvents: 1, signal: never });
    expect(cut).toMatchObject({ next: 0, ended: false });
    const last = await pollRun(hub, run.runId, { afterSeq: 0, waitMs: 0, signal: never });
    expect(last).toMatchObject({ next: 1, ended: true });
  });

  it('waits for the next event, gathers what follows for gatherMs, and stops waiting when the client leaves', async () => {
    const hub = newHub();
    const run = hub.create({ ownerId: null });
    const waiting = pollRun(hub, run.runId, { afterSeq: -1, waitMs: 60_000, gatherMs: 30, signal: never });
    setTimeout(() => {
      run.append({ type: 'token', text: 'one ' });
      run.append({ type: 'token', text: 'two' });
    }, 20);
    const batch = await waiting;
    expect(batch.entries.map((entry) => entry.event.seq)).toEqual([0, 1]);

    const client = new AbortController();
    const abandoned = pollRun(hub, run.runId, { afterSeq: 1, waitMs: 60_000, signal: client.signal });
    setTimeout(() => client.abort(), 20);
    expect(await abandoned).toMatchObject({ entries: [], next: 1, ended: false });
    expect(hub.stats().readers).toBe(0);
  });

  it('encodes the batch with each event as the hub stored it', async () => {
    const hub = newHub();
    const run = hub.create({ ownerId: null });
    run.append({ type: 'token', text: 'quote " and\nline' });
    const batch = await pollRun(hub, run.runId, { afterSeq: -1, waitMs: 0, signal: never });
    expect(JSON.parse(encodePollBatch(run.runId, batch))).toEqual({
      runId: run.runId,
      events: [{ type: 'token', seq: 0, text: 'quote " and\nline' }],
      next: 0,
      ended: false,
    });
  });
});
