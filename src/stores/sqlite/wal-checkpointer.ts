// Checkpoints a SQLite file's WAL off the event loop: SQLite's own checkpoint runs inside the commit that crosses
// wal_autocheckpoint, copying up to that many pages into the file (with two fsyncs) while the event loop waits.

import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { Worker } from 'node:worker_threads';

/** How often the worker checkpoints the WAL (PASSIVE: it copies what was committed since, and never blocks). */
export const WAL_CHECKPOINT_INTERVAL_MS = 500;

/**
 * A WAL still this long (in pages) after the worker's checkpoint has not started over since: a write was always under
 * way when the worker finished, and only a write starting after a complete checkpoint restarts the WAL. The event
 * loop then checkpoints it once itself (copying only the frames written since the worker's copy, but with the two
 * fsyncs: 2 to 8 ms measured under the paced bench, against 14 to 24 ms for SQLite's own checkpoint of 4,000 pages
 * in a commit), so the next write starts the WAL over. 4,000 pages (about 16 MB) is where SQLite's own checkpoint
 * ran before: the WAL is bounded as it was.
 */
export const WAL_FINISH_AT_FRAMES = 4_000;

export interface CheckpointerWorkerData {
  path: string;
  intervalMs: number;
  finishAtFrames: number;
}

export type CheckpointerMessage =
  { type: 'ready' } | { type: 'long-wal'; frames: number } | { type: 'failed'; message: string };

export interface WalCheckpointerOptions {
  intervalMs?: number;
  finishAtFrames?: number;
  /** wal_autocheckpoint restored on `db` if the worker cannot run. */
  fallbackAutocheckpointPages: number;
}

/**
 * Runs `PRAGMA wal_checkpoint(PASSIVE)` every interval from a worker thread with its own connection to `path`, and
 * turns `db`'s automatic checkpoints off once that worker is ready (on again if it fails or exits). Durability is
 * SQLite's own: a checkpoint only copies committed pages into the file, and `synchronous = NORMAL` syncs the WAL
 * before it does, whichever connection runs it.
 */
export class WalCheckpointer {
  readonly #db: DatabaseSync;
  readonly #worker: Worker;
  readonly #fallbackPages: number;
  #finish: StatementSync | undefined;
  #finishScheduled = false;
  #closing = false;
  readonly #exited: Promise<void>;
  /** Checkpoints the event loop ran to let the WAL start over (tests read it). */
  finishes = 0;
  /** Set once SQLite's own checkpoints are back on (the worker failed, exited or could not checkpoint). */
  fellBack = false;

  constructor(db: DatabaseSync, path: string, options: WalCheckpointerOptions) {
    this.#db = db;
    this.#fallbackPages = options.fallbackAutocheckpointPages;
    const workerData: CheckpointerWorkerData = {
      path,
      intervalMs: options.intervalMs ?? WAL_CHECKPOINT_INTERVAL_MS,
      finishAtFrames: options.finishAtFrames ?? WAL_FINISH_AT_FRAMES,
    };
    this.#worker = new Worker(new URL('./wal-checkpoint-worker.ts', import.meta.url), { workerData });
    // A CLI command ends when its work does, the checkpointer's timer notwithstanding.
    this.#worker.unref();
    this.#worker.on('message', (message: CheckpointerMessage) => this.#onMessage(message));
    this.#worker.on('error', () => this.#fallBack());
    this.#exited = new Promise((resolve) => {
      this.#worker.once('exit', () => {
        this.#fallBack();
        resolve();
      });
    });
  }

  #onMessage(message: CheckpointerMessage): void {
    if (!this.#db.isOpen || this.#closing) return;
    if (message.type === 'ready') this.#db.exec('PRAGMA wal_autocheckpoint = 0');
    else if (message.type === 'long-wal') this.#scheduleFinish();
    // A checkpoint that failed (an I/O error, a full disk) may fail every time: SQLite's own checkpoints in the commits
    // bound the WAL again, and their errors reach the writes that hit them.
    else this.#fallBack();
  }

  /** At the next turn (not inside a commit): copies the frames committed since the worker's checkpoint. */
  #scheduleFinish(): void {
    if (this.#finishScheduled) return;
    this.#finishScheduled = true;
    setImmediate(() => {
      this.#finishScheduled = false;
      if (!this.#db.isOpen || this.#db.isTransaction) return;
      try {
        this.#finish ??= this.#db.prepare('PRAGMA wal_checkpoint(PASSIVE)');
        this.#finish.get();
        this.finishes += 1;
      } catch {
        // Outside any write, nobody would hear of the error, and a throw here would end the process.
        this.#fallBack();
      }
    });
  }

  /** SQLite checkpoints inside the commits again, as without a worker. */
  #fallBack(): void {
    if (this.#closing || !this.#db.isOpen) return;
    this.fellBack = true;
    this.#db.exec(`PRAGMA wal_autocheckpoint = ${this.#fallbackPages}`);
  }

  /** Stops the worker (it closes its connection); resolves once it has exited. */
  close(): Promise<void> {
    this.#closing = true;
    // Unreferenced, the worker would not keep the process alive while it closes: a CLI command awaiting this would
    // end right here, before it returns its exit code.
    this.#worker.ref();
    this.#worker.postMessage('close');
    return this.#exited;
  }
}
