// Saves streaming answers' text so far while they stream, so an answer cut by a crash keeps it: one clock per store
// for every answer streaming in this process, and one batch per tick.

import type { ConversationStore, MessageCheckpoint } from '../conversation-store.ts';
import type { Logger } from '../logger.ts';
import type { RunRecorder } from './recorder.ts';

/**
 * A streaming answer is saved at least this often, changed or not: instances sharing a store (PostgreSQL) take an
 * answer unsaved for a minute for one whose process died (see ConversationStore.interruptStreamingMessages).
 */
export const CHECKPOINT_HEARTBEAT_MS = 20_000;

/** One streaming answer the scheduler saves. */
interface TrackedAnswer {
  messageId: string;
  runId: string;
  recorder: RunRecorder;
  /** What the last save stored: the text's length and the sources (by identity: they are set once), and when. */
  saved: { length: number; sources: RunRecorder['sources']; at: number };
  /** The batch saving it now (started, not only queued), if any. */
  saving: Promise<void> | undefined;
}

/** An answer a tick saves, and what it saves of it. */
interface DueAnswer {
  answer: TrackedAnswer;
  checkpoint: MessageCheckpoint;
}

/**
 * The most answers one store call saves: many streams are saved in several batches, the event loop running between
 * them, so no single write holds it for long. On SQLite a batch of 200 answers of the paced bench (their text so far,
 * about 1 KB each) held the event loop 4 to 7 ms (the UPDATEs, then the commit writing their pages to the WAL),
 * enough to show in the first-token latency of the answers starting meanwhile; 64 hold it 1 to 2 ms each.
 */
export const CHECKPOINT_BATCH_MAX = 64;

/** Resolves at the next turn of the event loop. */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** One answer's place in the scheduler: stop() it before the answer's final store. */
export interface AnswerCheckpoints {
  /** Stops saving the answer; resolves once a save of it in flight has landed. */
  stop(): Promise<void>;
}

const NOT_SAVED: AnswerCheckpoints = { stop: () => Promise.resolve() };

/**
 * Every `intervalMs`, saves each tracked answer whose text or sources changed (or whose last save is
 * CHECKPOINT_HEARTBEAT_MS old) with one store call (`checkpointMessages`: one transaction on SQLite, one statement on
 * PostgreSQL) instead of a timer and a write per answer. At most one batch at a time; a tick that finds one still in
 * flight is skipped. Run by a timer, not per token: token delivery never waits for the store, and a stream that stalls
 * still gets its last tokens saved.
 */
export class CheckpointScheduler {
  readonly #conversations: ConversationStore;
  readonly #logger: Logger;
  readonly #intervalMs: number;
  readonly #answers = new Set<TrackedAnswer>();
  #timer: NodeJS.Timeout | undefined;
  #saving: Promise<void> | undefined;

  constructor(options: { conversations: ConversationStore; logger: Logger; intervalMs: number }) {
    this.#conversations = options.conversations;
    this.#logger = options.logger;
    this.#intervalMs = options.intervalMs;
  }

  /**
   * Saves the answer's text from now on (nothing when the interval is 0 or less: the answer is saved only when it
   * ends). Call it with the recorder before anything is recorded: it counts from there. An answer is first saved at
   * the first tick at least half an interval after this, so answers shorter than that are never checkpointed.
   */
  track(answer: { messageId: string; runId: string; recorder: RunRecorder }): AnswerCheckpoints {
    if (this.#intervalMs <= 0) return NOT_SAVED;
    const tracked: TrackedAnswer = {
      ...answer,
      saved: { length: 0, sources: answer.recorder.sources, at: Date.now() },
      saving: undefined,
    };
    this.#answers.add(tracked);
    if (this.#timer === undefined) {
      this.#timer = setInterval(() => this.saveDue(), this.#intervalMs);
      this.#timer.unref();
    }
    return {
      stop: async () => {
        this.#answers.delete(tracked);
        if (this.#answers.size === 0) {
          clearInterval(this.#timer);
          this.#timer = undefined;
        }
        await tracked.saving;
      },
    };
  }

  /** Answers tracked now (streaming in this process with checkpoints on). */
  get size(): number {
    return this.#answers.size;
  }

  /**
   * One tick: saves every answer that is due, in batches of CHECKPOINT_BATCH_MAX. Run by the timer; tests call it
   * directly.
   */
  saveDue(): void {
    if (this.#saving !== undefined) return;
    const now = Date.now();
    const due: DueAnswer[] = [];
    for (const answer of this.#answers) {
      const { text, sources } = answer.recorder;
      const unchanged = text.length === answer.saved.length && sources === answer.saved.sources;
      const age = now - answer.saved.at;
      if (unchanged ? age < CHECKPOINT_HEARTBEAT_MS : age < this.#intervalMs / 2) continue;
      const checkpoint: MessageCheckpoint =
        sources === answer.saved.sources
          ? { id: answer.messageId, content: text }
          : { id: answer.messageId, content: text, sources };
      due.push({ answer, checkpoint });
    }
    if (due.length === 0) return;
    // Batches run one after another, the event loop running between them (a SQLite batch holds it while it writes;
    // with SQLITE_COMMIT_DELAY_MS each may also wait for its group's commit). An answer stopped before its batch starts
    // leaves it (its final store follows), so an answer waits at most for the batch saving it when it stops, never
    // for the batches queued before its own.
    const saveLive = (batch: readonly DueAnswer[]): Promise<void> => {
      const live = batch.filter(({ answer }) => this.#answers.has(answer));
      if (live.length === 0) return Promise.resolve();
      const saving = this.#saveBatch(live, now);
      for (const { answer } of live) answer.saving = saving;
      void saving.then(() => {
        for (const { answer } of live) if (answer.saving === saving) answer.saving = undefined;
      });
      return saving;
    };
    let previous: Promise<void> = Promise.resolve();
    for (let start = 0; start < due.length; start += CHECKPOINT_BATCH_MAX) {
      const batch = due.slice(start, start + CHECKPOINT_BATCH_MAX);
      previous = start === 0 ? saveLive(batch) : previous.then(nextTurn).then(() => saveLive(batch));
    }
    this.#saving = previous.then(() => {
      this.#saving = undefined;
    });
  }

  /** Never rejects: a failed save is logged, and the answer is saved again at the next tick. */
  async #saveBatch(batch: readonly DueAnswer[], at: number): Promise<void> {
    const saved = ({ answer, checkpoint }: DueAnswer): void => {
      answer.saved = {
        length: checkpoint.content.length,
        sources: checkpoint.sources ?? answer.saved.sources,
        at,
      };
    };
    try {
      await this.#conversations.checkpointMessages(batch.map((entry) => entry.checkpoint));
      batch.forEach(saved);
      return;
    } catch (error) {
      if (batch.length === 1) {
        this.#failed((batch[0] as DueAnswer).answer, error);
        return;
      }
    }
    // One answer the store refuses must not cost the others their save: each alone, once.
    await Promise.all(
      batch.map((entry) =>
        this.#conversations.checkpointMessages([entry.checkpoint]).then(
          () => saved(entry),
          (error: unknown) => this.#failed(entry.answer, error),
        ),
      ),
    );
  }

  #failed(answer: TrackedAnswer, error: unknown): void {
    this.#logger.warn({ runId: answer.runId, err: error }, 'checkpointing the answer failed');
  }
}

/** The scheduler of each store and interval: one clock per process however many answers stream. */
const schedulers = new WeakMap<ConversationStore, Map<number, CheckpointScheduler>>();

export function checkpointScheduler(
  conversations: ConversationStore,
  intervalMs: number,
  logger: Logger,
): CheckpointScheduler {
  let byInterval = schedulers.get(conversations);
  if (byInterval === undefined) {
    byInterval = new Map();
    schedulers.set(conversations, byInterval);
  }
  let scheduler = byInterval.get(intervalMs);
  if (scheduler === undefined) {
    scheduler = new CheckpointScheduler({ conversations, logger, intervalMs });
    byInterval.set(intervalMs, scheduler);
  }
  return scheduler;
}
