import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FakeConversations, recordingLogger } from '../../../test/fakes/pipeline-context.ts';
import { fakeRunProducer } from '../../../test/fakes/run-producer.ts';
import type { MessageCheckpoint } from '../conversation-store.ts';
import { noopObserver } from '../observer.ts';
import { CHECKPOINT_BATCH_MAX, CHECKPOINT_HEARTBEAT_MS, CheckpointScheduler } from './checkpoints.ts';
import { RunRecorder } from './recorder.ts';
import { nextTurn, turns } from '../../../test/helpers/turns.ts';

const INTERVAL_MS = 1000;

function recorder(runId: string): RunRecorder {
  return new RunRecorder({
    run: fakeRunProducer(runId),
    trace: noopObserver.runStarted({ chatbotId: 'docs', provider: 'fake' }),
    logger: recordingLogger(),
  });
}

/** Conversations that record each batch, and hold it until released when `hold` is set. */
class BatchRecorder extends FakeConversations {
  readonly batches: { id: string; content: string; sources: boolean }[][] = [];
  hold = false;
  #releases: (() => void)[] = [];
  refuse: (batch: readonly MessageCheckpoint[]) => boolean = () => false;

  override checkpointMessages(checkpoints: readonly MessageCheckpoint[]): Promise<void> {
    if (this.refuse(checkpoints)) return Promise.reject(new Error('refused'));
    this.batches.push(
      checkpoints.map(({ id, content, sources }) => ({ id, content, sources: sources !== undefined })),
    );
    if (!this.hold) return Promise.resolve();
    return new Promise<void>((resolve) => this.#releases.push(resolve));
  }

  release(): void {
    for (const release of this.#releases.splice(0)) release();
  }
}

/** A scheduler over a BatchRecorder, and a way to track an answer named `name` (msg_<name>, run_<name>). */
function setup(intervalMs = INTERVAL_MS) {
  const conversations = new BatchRecorder();
  const logger = recordingLogger();
  const scheduler = new CheckpointScheduler({ conversations, logger, intervalMs });
  const track = (name: string) => {
    const answer = recorder(`run_${name}`);
    const checkpoints = scheduler.track({ messageId: `msg_${name}`, runId: `run_${name}`, recorder: answer });
    return { answer, checkpoints };
  };
  return { conversations, logger, scheduler, track };
}

/**
 * `count` answers tracked with some text each, on a store that holds every batch until released, after the first
 * tick: only the interval is faked, so the turns between batches run as they do.
 */
async function heldBatches(count: number) {
  vi.useRealTimers();
  vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'Date'] });
  const { conversations, track } = setup();
  conversations.hold = true;
  const tracked = Array.from({ length: count }, (_, index) => {
    const one = track(String(index));
    one.answer.emitToken(`text ${index}`);
    return one;
  });
  await vi.advanceTimersByTimeAsync(INTERVAL_MS);
  return { conversations, tracked };
}

describe('CheckpointScheduler', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('saves every streaming answer that changed in one batch per tick, each with its own text', async () => {
    const { conversations, scheduler, track } = setup();
    const [a, b, c] = ['a', 'b', 'c'].map(track);
    a?.answer.emitToken('first ');
    b?.answer.emitToken('second ');
    // The third has nothing yet: not saved.
    await vi.advanceTimersByTimeAsync(INTERVAL_MS);
    expect(conversations.batches).toEqual([
      [
        { id: 'msg_a', content: 'first ', sources: false },
        { id: 'msg_b', content: 'second ', sources: false },
      ],
    ]);
    b?.answer.emitToken('more');
    c?.answer.emitToken('third');
    await vi.advanceTimersByTimeAsync(INTERVAL_MS);
    expect(conversations.batches[1]).toEqual([
      { id: 'msg_b', content: 'second more', sources: false },
      { id: 'msg_c', content: 'third', sources: false },
    ]);
    for (const tracked of [a, b, c]) await tracked?.checkpoints.stop();
    expect(scheduler.size).toBe(0);
  });

  it('saves many streaming answers in batches of at most CHECKPOINT_BATCH_MAX, every one of them', async () => {
    // The batches after the first wait for the event loop to turn: setImmediate stays real here.
    vi.useRealTimers();
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'Date'] });
    const { conversations, track } = setup();
    const count = CHECKPOINT_BATCH_MAX * 2 + 3;
    const tracked = Array.from({ length: count }, (_, index) => {
      const one = track(String(index));
      one.answer.emitToken(`text ${index}`);
      return one;
    });
    await vi.advanceTimersByTimeAsync(INTERVAL_MS);
    await turns(4);
    expect(conversations.batches.map((batch) => batch.length)).toEqual([
      CHECKPOINT_BATCH_MAX,
      CHECKPOINT_BATCH_MAX,
      3,
    ]);
    expect(new Set(conversations.batches.flat().map((checkpoint) => checkpoint.id)).size).toBe(count);
    for (const { checkpoints } of tracked) await checkpoints.stop();
  });

  it('saves the 200 streams of the paced load in four turns, none holding the event loop for more than 64', async () => {
    vi.useRealTimers();
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'Date'] });
    const { conversations, track } = setup();
    const tracked = Array.from({ length: 200 }, (_, index) => {
      const one = track(String(index));
      one.answer.emitToken(`text ${index}`);
      return one;
    });
    await vi.advanceTimersByTimeAsync(INTERVAL_MS);
    await turns(5);
    expect(conversations.batches.map((batch) => batch.length)).toEqual([64, 64, 64, 8]);
    for (const { checkpoints } of tracked) await checkpoints.stop();
  });

  it('an answer waits for its own batch only, not for the batches after it', async () => {
    const { conversations, tracked } = await heldBatches(CHECKPOINT_BATCH_MAX + 1);
    expect(conversations.batches.map((batch) => batch.length)).toEqual([CHECKPOINT_BATCH_MAX]);
    let firstStopped = false;
    const first = tracked[0]?.checkpoints.stop().then(() => (firstStopped = true));
    // The first batch is released; the second starts a turn later and is held.
    conversations.release();
    await turns(3);
    expect(conversations.batches.map((batch) => batch.length)).toEqual([CHECKPOINT_BATCH_MAX, 1]);
    await first;
    expect(firstStopped).toBe(true);
    let lastStopped = false;
    const last = tracked
      .at(-1)
      ?.checkpoints.stop()
      .then(() => (lastStopped = true));
    await nextTurn();
    expect(lastStopped).toBe(false);
    conversations.release();
    await last;
    for (const { checkpoints } of tracked) await checkpoints.stop();
  });

  it('an answer stopped while the batches before its own are saving leaves its batch, and does not wait for them', async () => {
    const { conversations, tracked } = await heldBatches(CHECKPOINT_BATCH_MAX * 2 + 1);
    // The first batch is held; the last answer's batch (the third) has not started.
    expect(conversations.batches.map((batch) => batch.length)).toEqual([CHECKPOINT_BATCH_MAX]);
    let lastStopped = false;
    const last = tracked
      .at(-1)
      ?.checkpoints.stop()
      .then(() => (lastStopped = true));
    await last;
    expect(lastStopped).toBe(true);
    // The batches before it go on; its own had nobody left to save and made no store call.
    conversations.release();
    await turns(3);
    conversations.release();
    await turns(3);
    expect(conversations.batches.map((batch) => batch.length)).toEqual([
      CHECKPOINT_BATCH_MAX,
      CHECKPOINT_BATCH_MAX,
    ]);
    expect(conversations.batches.flat().some(({ id }) => id === `msg_${CHECKPOINT_BATCH_MAX * 2}`)).toBe(
      false,
    );
    for (const { checkpoints } of tracked) await checkpoints.stop();
  });

  it('saves only what changed, the sources once, and one batch at a time', async () => {
    const { conversations, track } = setup();
    conversations.hold = true;
    const { answer, checkpoints } = track('x');
    vi.advanceTimersByTime(INTERVAL_MS);
    expect(conversations.batches).toEqual([]);
    answer.sendSources([], { quality: 'none', topScore: 0, matchedTerms: 0, queryTerms: 1 });
    answer.emitToken('a');
    vi.advanceTimersByTime(INTERVAL_MS);
    answer.emitToken('b');
    // The first save is still in flight: this tick is skipped.
    vi.advanceTimersByTime(INTERVAL_MS);
    expect(conversations.batches).toEqual([[{ id: 'msg_x', content: 'a', sources: true }]]);
    conversations.release();
    await vi.advanceTimersByTimeAsync(INTERVAL_MS);
    expect(conversations.batches.at(-1)).toEqual([{ id: 'msg_x', content: 'ab', sources: false }]);
    // stop() waits for the save in flight; nothing is saved after it.
    let stopped = false;
    const stopping = checkpoints.stop().then(() => (stopped = true));
    await Promise.resolve();
    expect(stopped).toBe(false);
    conversations.release();
    await stopping;
    answer.emitToken('c');
    await vi.advanceTimersByTimeAsync(INTERVAL_MS * 3);
    expect(conversations.batches).toHaveLength(2);
  });

  it('one answer the store refuses does not cost the others their save', async () => {
    const { conversations, logger, track } = setup();
    conversations.refuse = (batch) => batch.some((checkpoint) => checkpoint.id === 'msg_bad');
    const tracked = ['good1', 'bad', 'good2'].map((name) => {
      const one = track(name);
      one.answer.emitToken(`text of ${name}`);
      return one;
    });
    await vi.advanceTimersByTimeAsync(INTERVAL_MS);
    const saved = conversations.batches.flat().map((checkpoint) => checkpoint.id);
    expect(saved.sort()).toEqual(['msg_good1', 'msg_good2']);
    expect(logger.lines.map((line) => [line.level, line.fields.runId, line.message])).toEqual([
      ['warn', 'run_bad', 'checkpointing the answer failed'],
    ]);
    // The refused one is tried again at the next tick; the saved ones, unchanged, are not.
    await vi.advanceTimersByTimeAsync(INTERVAL_MS);
    expect(logger.lines).toHaveLength(2);
    expect(conversations.batches.flat()).toHaveLength(2);
    for (const { checkpoints } of tracked) await checkpoints.stop();
  });

  it('saves an unchanged answer again once its last save is a heartbeat old, and skips answers just started', async () => {
    const { conversations, track } = setup();
    const first = track('x');
    first.answer.emitToken('hello');
    await vi.advanceTimersByTimeAsync(INTERVAL_MS);
    expect(conversations.batches).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(CHECKPOINT_HEARTBEAT_MS - INTERVAL_MS);
    expect(conversations.batches).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(INTERVAL_MS);
    expect(conversations.batches).toEqual([
      [{ id: 'msg_x', content: 'hello', sources: false }],
      [{ id: 'msg_x', content: 'hello', sources: false }],
    ]);
    // An answer tracked just before a tick waits for the next one: a short answer is never checkpointed.
    await vi.advanceTimersByTimeAsync(INTERVAL_MS - 10);
    const late = track('late');
    late.answer.emitToken('quick');
    await vi.advanceTimersByTimeAsync(10);
    expect(conversations.batches).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(INTERVAL_MS);
    expect(conversations.batches.at(-1)).toEqual([{ id: 'msg_late', content: 'quick', sources: false }]);
    await first.checkpoints.stop();
    await late.checkpoints.stop();
  });

  it('tracks nothing when checkpoints are off', async () => {
    const { conversations, scheduler, track } = setup(0);
    const { answer, checkpoints } = track('x');
    answer.emitToken('hello');
    await vi.advanceTimersByTimeAsync(CHECKPOINT_HEARTBEAT_MS * 2);
    expect(scheduler.size).toBe(0);
    expect(conversations.batches).toEqual([]);
    await checkpoints.stop();
  });
});
