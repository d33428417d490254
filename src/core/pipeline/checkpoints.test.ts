import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FakeConversations, recordingLogger } from '../../../test/fakes/pipeline-context.ts';
import { fakeRunProducer } from '../../../test/fakes/run-producer.ts';
import type { MessageCheckpoint } from '../conversation-store.ts';
import { noopObserver } from '../observer.ts';
import { CHECKPOINT_HEARTBEAT_MS, CheckpointScheduler } from './checkpoints.ts';
import { RunRecorder } from './recorder.ts';

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

describe('CheckpointScheduler', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('saves every streaming answer that changed in one batch per tick, each with its own text', async () => {
    const conversations = new BatchRecorder();
    const scheduler = new CheckpointScheduler({
      conversations,
      logger: recordingLogger(),
      intervalMs: INTERVAL_MS,
    });
    const answers = ['a', 'b', 'c'].map((name) => {
      const answer = recorder(`run_${name}`);
      return {
        answer,
        checkpoints: scheduler.track({ messageId: `msg_${name}`, runId: `run_${name}`, recorder: answer }),
      };
    });
    answers[0]?.answer.emitToken('first ');
    answers[1]?.answer.emitToken('second ');
    // The third has nothing yet: not saved.
    await vi.advanceTimersByTimeAsync(INTERVAL_MS);
    expect(conversations.batches).toEqual([
      [
        { id: 'msg_a', content: 'first ', sources: false },
        { id: 'msg_b', content: 'second ', sources: false },
      ],
    ]);
    answers[1]?.answer.emitToken('more');
    answers[2]?.answer.emitToken('third');
    await vi.advanceTimersByTimeAsync(INTERVAL_MS);
    expect(conversations.batches[1]).toEqual([
      { id: 'msg_b', content: 'second more', sources: false },
      { id: 'msg_c', content: 'third', sources: false },
    ]);
    for (const { checkpoints } of answers) await checkpoints.stop();
    expect(scheduler.size).toBe(0);
  });

  it('saves only what changed, the sources once, and one batch at a time', async () => {
    const conversations = new BatchRecorder();
    conversations.hold = true;
    const scheduler = new CheckpointScheduler({
      conversations,
      logger: recordingLogger(),
      intervalMs: INTERVAL_MS,
    });
    const answer = recorder('run');
    const checkpoints = scheduler.track({ messageId: 'msg', runId: 'run', recorder: answer });
    vi.advanceTimersByTime(INTERVAL_MS);
    expect(conversations.batches).toEqual([]);
    answer.sendSources([], { quality: 'none', topScore: 0, matchedTerms: 0, queryTerms: 1 });
    answer.emitToken('a');
    vi.advanceTimersByTime(INTERVAL_MS);
    answer.emitToken('b');
    // The first save is still in flight: this tick is skipped.
    vi.advanceTimersByTime(INTERVAL_MS);
    expect(conversations.batches).toEqual([[{ id: 'msg', content: 'a', sources: true }]]);
    conversations.release();
    await vi.advanceTimersByTimeAsync(INTERVAL_MS);
    expect(conversations.batches.at(-1)).toEqual([{ id: 'msg', content: 'ab', sources: false }]);
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
    const conversations = new BatchRecorder();
    conversations.refuse = (batch) => batch.some((checkpoint) => checkpoint.id === 'msg_bad');
    const logger = recordingLogger();
    const scheduler = new CheckpointScheduler({ conversations, logger, intervalMs: INTERVAL_MS });
    const stops = ['good1', 'bad', 'good2'].map((name) => {
      const answer = recorder(`run_${name}`);
      answer.emitToken(`text of ${name}`);
      return scheduler.track({ messageId: `msg_${name}`, runId: `run_${name}`, recorder: answer });
    });
    await vi.advanceTimersByTimeAsync(INTERVAL_MS);
    expect(
      conversations.batches
        .flat()
        .map((checkpoint) => checkpoint.id)
        .sort(),
    ).toEqual(['msg_good1', 'msg_good2']);
    expect(logger.lines.map((line) => [line.level, line.fields.runId, line.message])).toEqual([
      ['warn', 'run_bad', 'checkpointing the answer failed'],
    ]);
    // The refused one is tried again at the next tick; the saved ones, unchanged, are not.
    await vi.advanceTimersByTimeAsync(INTERVAL_MS);
    expect(logger.lines).toHaveLength(2);
    expect(conversations.batches.flat()).toHaveLength(2);
    for (const checkpoints of stops) await checkpoints.stop();
  });

  it('saves an unchanged answer again once its last save is a heartbeat old, and skips answers just started', async () => {
    const conversations = new BatchRecorder();
    const scheduler = new CheckpointScheduler({
      conversations,
      logger: recordingLogger(),
      intervalMs: INTERVAL_MS,
    });
    const answer = recorder('run');
    const checkpoints = scheduler.track({ messageId: 'msg', runId: 'run', recorder: answer });
    answer.emitToken('hello');
    await vi.advanceTimersByTimeAsync(INTERVAL_MS);
    expect(conversations.batches).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(CHECKPOINT_HEARTBEAT_MS - INTERVAL_MS);
    expect(conversations.batches).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(INTERVAL_MS);
    expect(conversations.batches).toEqual([
      [{ id: 'msg', content: 'hello', sources: false }],
      [{ id: 'msg', content: 'hello', sources: false }],
    ]);
    // An answer tracked just before a tick waits for the next one: a short answer is never checkpointed.
    await vi.advanceTimersByTimeAsync(INTERVAL_MS - 10);
    const late = recorder('run_late');
    const lateCheckpoints = scheduler.track({ messageId: 'msg_late', runId: 'run_late', recorder: late });
    late.emitToken('quick');
    await vi.advanceTimersByTimeAsync(10);
    expect(conversations.batches).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(INTERVAL_MS);
    expect(conversations.batches.at(-1)).toEqual([{ id: 'msg_late', content: 'quick', sources: false }]);
    await checkpoints.stop();
    await lateCheckpoints.stop();
  });

  it('tracks nothing when checkpoints are off', async () => {
    const conversations = new BatchRecorder();
    const scheduler = new CheckpointScheduler({ conversations, logger: recordingLogger(), intervalMs: 0 });
    const answer = recorder('run');
    const checkpoints = scheduler.track({ messageId: 'msg', runId: 'run', recorder: answer });
    answer.emitToken('hello');
    await vi.advanceTimersByTimeAsync(CHECKPOINT_HEARTBEAT_MS * 2);
    expect(scheduler.size).toBe(0);
    expect(conversations.batches).toEqual([]);
    await checkpoints.stop();
  });
});
