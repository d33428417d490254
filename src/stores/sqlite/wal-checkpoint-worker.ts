// The worker thread of WalCheckpointer (wal-checkpointer.ts): its own connection to the database file, checkpointing
// the WAL PASSIVE every interval, so the copy into the file and its fsyncs never run on the event loop.

import { DatabaseSync } from 'node:sqlite';
import { parentPort, workerData } from 'node:worker_threads';
import type { CheckpointerMessage, CheckpointerWorkerData } from './wal-checkpointer.ts';

const port = parentPort;
if (port === null) throw new Error('wal-checkpoint-worker.ts runs as a worker thread');
const { path, intervalMs, finishAtFrames } = workerData as CheckpointerWorkerData;
const send = (message: CheckpointerMessage): void => port.postMessage(message);

const db = new DatabaseSync(path);
// PASSIVE never waits for a lock: it copies what no reader still needs and returns (busy = 1 when another
// connection was checkpointing).
const checkpoint = db.prepare('PRAGMA wal_checkpoint(PASSIVE)');

const timer = setInterval(() => {
  try {
    const { log } = checkpoint.get() as { busy: number; log: number; checkpointed: number };
    // Only a writer starting after a complete checkpoint restarts the WAL from its beginning; under a steady write
    // load one always lands mid-checkpoint, so the event loop is asked to copy the few frames written since.
    if (log >= finishAtFrames) send({ type: 'long-wal', frames: log });
  } catch (error) {
    send({ type: 'failed', message: error instanceof Error ? error.message : String(error) });
  }
}, intervalMs);

port.on('message', (message: unknown) => {
  if (message !== 'close') return;
  clearInterval(timer);
  db.close();
  port.close();
});
send({ type: 'ready' });
