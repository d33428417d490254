import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DatabaseSync } from 'node:sqlite';
import { afterAll, describe, expect, it } from 'vitest';
import { openDatabase, transaction } from './database.ts';
import { openSqliteStores } from './sqlite-stores.ts';
import { WalCheckpointer } from './wal-checkpointer.ts';

const dir = mkdtempSync(join(tmpdir(), 'rivulet-wal-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
const newPath = (): string => join(dir, `db-${(files += 1)}.sqlite`);

const autocheckpoint = (db: DatabaseSync): number =>
  (db.prepare('PRAGMA wal_autocheckpoint').get() as { wal_autocheckpoint: number }).wal_autocheckpoint;

/** Waits (turn by turn, no clock) until `done()` holds; the test's timeout bounds it. */
async function until(done: () => boolean): Promise<void> {
  while (!done()) await new Promise((resolve) => setTimeout(resolve, 5));
}

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('WalCheckpointer', () => {
  it('runs under the stores: what they wrote is in the file after closing', async () => {
    const path = newPath();
    const stores = openSqliteStores(path);
    const conversation = await stores.conversations.createConversation(null, 'default');
    await stores.close();
    const reopened = openSqliteStores(path);
    try {
      expect((await reopened.conversations.getConversation(conversation.id))?.id).toBe(conversation.id);
    } finally {
      await reopened.close();
    }
  });

  it('turns automatic checkpoints off on the connection once the worker is ready', async () => {
    const path = newPath();
    const { db } = openDatabase(path);
    expect(autocheckpoint(db)).toBe(4000);
    const checkpointer = new WalCheckpointer(db, path, { fallbackAutocheckpointPages: 4000 });
    await until(() => autocheckpoint(db) === 0);
    await checkpointer.close();
    db.close();
  });

  it('keeps the WAL bounded under a steady write load: it starts over while writes go on', async () => {
    const path = newPath();
    const { db } = openDatabase(path);
    // A WAL that starts over is cut back to this size by the next commit, so the file shrinking shows each restart.
    db.exec('PRAGMA journal_size_limit = 0');
    db.exec('CREATE TABLE filler (id INTEGER PRIMARY KEY, body TEXT NOT NULL)');
    const checkpointer = new WalCheckpointer(db, path, {
      intervalMs: 5,
      finishAtFrames: 50,
      fallbackAutocheckpointPages: 4000,
    });
    await until(() => autocheckpoint(db) === 0);
    const insert = db.prepare('INSERT INTO filler (body) VALUES (?)');
    const body = 'x'.repeat(3000);
    const walBytes = (): number => statSync(`${path}-wal`).size;
    let restarts = 0;
    let previous = 0;
    // Writes never stop (one transaction of about 10 pages a turn), so SQLite alone would restart the WAL only at
    // 4,000 pages; the checkpointer must make it start over again and again.
    for (let round = 0; restarts < 3; round += 1) {
      expect(round).toBeLessThan(100_000);
      transaction(db, () => {
        for (let row = 0; row < 10; row += 1) insert.run(body);
      });
      const size = walBytes();
      if (size < previous) restarts += 1;
      previous = size;
      await nextTurn();
    }
    expect(checkpointer.finishes).toBeGreaterThan(0);
    expect(autocheckpoint(db)).toBe(0);
    await checkpointer.close();
    db.close();
  });

  it('gives the checkpoints back to SQLite when the worker cannot run', async () => {
    const path = newPath();
    const { db } = openDatabase(path);
    db.exec('PRAGMA wal_autocheckpoint = 7');
    // A directory is no database: the worker fails to open it and exits.
    const checkpointer = new WalCheckpointer(db, dir, { fallbackAutocheckpointPages: 123 });
    await until(() => autocheckpoint(db) === 123);
    await checkpointer.close();
    db.close();
  });

  it('gives the checkpoints back to SQLite when a checkpoint on the event loop fails, instead of throwing', async () => {
    const path = newPath();
    const { db } = openDatabase(path);
    db.exec('CREATE TABLE filler (id INTEGER PRIMARY KEY, body TEXT NOT NULL)');
    // The connection as the checkpointer sees it, whose checkpoint statement fails as a full disk would make it.
    const failing = new Proxy(db, {
      get(target, key) {
        if (key === 'prepare') {
          return (sql: string) => {
            if (sql.includes('wal_checkpoint')) throw new Error('database or disk is full');
            return target.prepare(sql);
          };
        }
        const value = Reflect.get(target, key) as unknown;
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
    const checkpointer = new WalCheckpointer(failing, path, {
      intervalMs: 5,
      finishAtFrames: 1,
      fallbackAutocheckpointPages: 321,
    });
    await until(() => autocheckpoint(db) === 0);
    const insert = db.prepare('INSERT INTO filler (body) VALUES (?)');
    // Writes until the worker reports a WAL to finish; the failing checkpoint must not end the process.
    for (let round = 0; !checkpointer.fellBack; round += 1) {
      expect(round).toBeLessThan(100_000);
      insert.run('x'.repeat(3000));
      await nextTurn();
    }
    expect(autocheckpoint(db)).toBe(321);
    expect(checkpointer.finishes).toBe(0);
    await checkpointer.close();
    db.close();
  });
});
