// Saves a streaming answer's text so far while it streams, so an answer cut by a crash keeps it.

import type { AnswerProgress, ConversationStore } from '../conversation-store.ts';
import type { Logger } from '../logger.ts';
import type { RunRecorder } from './recorder.ts';

/**
 * A streaming answer is saved at least this often, changed or not: instances sharing a store (PostgreSQL) take an
 * answer unsaved for a minute for one whose process died (see ConversationStore.interruptStreamingMessages).
 */
export const CHECKPOINT_HEARTBEAT_MS = 20_000;

export interface AnswerCheckpointsOptions {
  conversations: ConversationStore;
  messageId: string;
  recorder: RunRecorder;
  logger: Logger;
  runId: string;
}

export class AnswerCheckpoints {
  readonly #options: AnswerCheckpointsOptions;
  /** What the last checkpoint saved: the text's length and the sources (by identity: they are set once), and when. */
  #saved: { length: number; sources: RunRecorder['sources']; at: number };
  #timer: NodeJS.Timeout | undefined;
  #saving: Promise<void> | undefined;

  /** Create it with the recorder before anything is recorded: it counts from there. */
  constructor(options: AnswerCheckpointsOptions) {
    this.#options = options;
    this.#saved = { length: 0, sources: options.recorder.sources, at: Date.now() };
  }

  /** Saves every `intervalMs`; 0 or less: never (the answer is saved only when it ends). */
  start(intervalMs: number): void {
    if (intervalMs <= 0) return;
    this.#timer = setInterval(() => this.save(), intervalMs);
    this.#timer.unref();
  }

  /**
   * Saves the text so far, at most one save at a time and only when something changed, or when the last save is
   * CHECKPOINT_HEARTBEAT_MS old. Run by a timer, not per token: token delivery never waits for the store, and a
   * stream that stalls still gets its last tokens saved.
   */
  save(): void {
    if (this.#saving !== undefined) return;
    const { text, sources } = this.#options.recorder;
    const unchanged = text.length === this.#saved.length && sources === this.#saved.sources;
    if (unchanged && Date.now() - this.#saved.at < CHECKPOINT_HEARTBEAT_MS) return;
    const next = { length: text.length, sources, at: Date.now() };
    const progress: AnswerProgress =
      sources === this.#saved.sources ? { content: text } : { content: text, sources };
    this.#saving = this.#options.conversations
      .checkpointMessage(this.#options.messageId, progress)
      .then(
        () => {
          this.#saved = next;
        },
        (error: unknown) => {
          this.#options.logger.warn(
            { runId: this.#options.runId, err: error },
            'checkpointing the answer failed',
          );
        },
      )
      .finally(() => {
        this.#saving = undefined;
      });
  }

  /** Stops the timer; resolves once a save in flight has landed. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#saving;
  }
}
