import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { STREAMING_STALE_AFTER_MS, type StoredMessage } from '../../core/conversation-store.ts';
import { keepLoopBusy } from '../../../test/helpers/busy-loop.ts';
import { nextTurn } from '../../../test/helpers/turns.ts';
import { checkRememberedChatbot } from '../remembered-chatbot.conformance.ts';
import { describeRoomStoreConformance } from '../room-store.conformance.ts';
import {
  checkCheckpointedSourcesKept,
  checkSourcesAfterOwnerLost,
  describeStoreConformance,
  streamingAnswer,
} from '../store.conformance.ts';
import { MIGRATIONS } from './migrations.ts';
import { openStores } from '../open-stores.ts';
import type { Stores } from '../stores.ts';
import { groupCommit, openDatabase, transaction } from './database.ts';
import { openSqliteStores } from './sqlite-stores.ts';

describeStoreConformance('sqlite (memory)', (options) => openSqliteStores(':memory:', options));
describeRoomStoreConformance('sqlite (memory)', () => openSqliteStores(':memory:'));

const dir = mkdtempSync(join(tmpdir(), 'rivulet-sqlite-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
describeStoreConformance('sqlite (file)', (options) =>
  openSqliteStores(join(dir, `db-${(files += 1)}`, 'rivulet.sqlite'), options),
);

/** A database file as a release whose schema stopped at migration `version` left it, open on that schema. */
function databaseAtVersion(version: number): { path: string; old: DatabaseSync } {
  mkdirSync(join(dir, `v${version}`));
  const path = join(dir, `v${version}`, 'rivulet.sqlite');
  const old = new DatabaseSync(path);
  for (const migration of MIGRATIONS.slice(0, version)) old.exec(migration);
  old.exec(`PRAGMA user_version = ${version}`);
  return { path, old };
}

/** Two processes' stores on one file (`shared`), closed after `work` whatever it does. */
async function withTwoProcesses(
  file: string,
  work: (first: Stores, second: Stores) => Promise<void>,
): Promise<void> {
  const path = join(dir, file);
  const first = openSqliteStores(path, { shared: true });
  const second = openSqliteStores(path, { shared: true });
  try {
    await work(first, second);
  } finally {
    await first.close();
    await second.close();
  }
}

describe('sqlite stores on disk', () => {
  it('sees vectors another process added, and refuses a second space it claimed', async () => {
    const path = join(dir, 'shared.sqlite');
    const server = openSqliteStores(path);
    const cli = openSqliteStores(path);
    const space = { model: 'test:a', dimensions: 2 };
    expect(await server.documents.searchVector('default', space, Float32Array.of(1, 0), 5)).toEqual([]);
    await cli.documents.upsertDocument(
      {
        collectionId: 'default',
        source: 'a.txt',
        title: 'A',
        mediaType: 'text/plain',
        contentHash: 'h',
        bytes: 1,
        embeddingSpace: space,
      },
      [{ ordinal: 0, heading: '', text: 'alpha', embedding: Float32Array.of(1, 0) }],
    );
    expect(await server.documents.embeddingSpace()).toEqual(space);
    const hits = await server.documents.searchVector('default', space, Float32Array.of(1, 0), 5);
    expect(hits.map((hit) => hit.text)).toEqual(['alpha']);
    await expect(
      server.documents.upsertDocument(
        {
          collectionId: 'default',
          source: 'b.txt',
          title: 'B',
          mediaType: 'text/plain',
          contentHash: 'h',
          bytes: 1,
          embeddingSpace: { model: 'test:b', dimensions: 3 },
        },
        [{ ordinal: 0, heading: '', text: 'beta', embedding: Float32Array.of(1, 0, 0) }],
      ),
    ).rejects.toMatchObject({ code: 'EMBEDDING_SPACE_MISMATCH' });
    // Deleting through the server removes the vectors the other process wrote.
    const document = await server.documents.findDocumentBySource('default', 'a.txt');
    await server.documents.deleteDocument(document?.id ?? '');
    expect(await cli.documents.searchVector('default', space, Float32Array.of(1, 0), 5)).toEqual([]);
    await server.close();
    await cli.close();
  });

  it('creates a conversation on a remembered chatbot only while its row is unchanged, whoever changed it', async () => {
    const path = join(dir, 'chatbots.sqlite');
    const server = openSqliteStores(path);
    const cli = openSqliteStores(path);
    const sql = new DatabaseSync(path);
    sql.exec('PRAGMA busy_timeout = 5000');
    try {
      await checkRememberedChatbot(server, cli, (text) => Promise.resolve(sql.exec(text)));
    } finally {
      sql.close();
      await server.close();
      await cli.close();
    }
  });

  it('writes an answer’s sources once: its final store leaves the row its checkpoint stored', async () => {
    const path = join(dir, 'sources-once.sqlite');
    const stores = openSqliteStores(path);
    const sql = new DatabaseSync(path);
    sql.exec('PRAGMA busy_timeout = 5000');
    try {
      await checkCheckpointedSourcesKept(stores, (messageId) =>
        Promise.resolve(
          sql
            .prepare(
              `UPDATE message_sources SET sources = json_set(sources, '$[0].title', 'Kept')
               WHERE seq = (SELECT seq FROM messages WHERE id = ?)`,
            )
            .run(messageId),
        ),
      );
    } finally {
      sql.close();
      await stores.close();
    }
  });

  it('ends an answer with its sources after another process took its owner for dead and ended it', async () => {
    await withTwoProcesses('owner-lost.sqlite', checkSourcesAfterOwnerLost);
  });

  it('checkpoints an answer by its row, never another answer that took the row of a deleted one', async () => {
    const path = join(dir, 'checkpoint-rows.sqlite');
    const stores = openSqliteStores(path);
    const reader = new DatabaseSync(path, { readOnly: true });
    const seqOf = (id: string): unknown =>
      (reader.prepare('SELECT seq FROM messages WHERE id = ?').get(id) as { seq: number } | undefined)?.seq;
    const conversations = stores.conversations;
    try {
      const c1 = await conversations.createConversation('ann', 'default');
      await conversations.appendMessage(streamingAnswer('a1', c1));
      await conversations.checkpointMessage('a1', { content: 'first' });
      expect((await conversations.findMessageByRun('run_a1'))?.content).toBe('first');
      const a1Row = seqOf('a1');
      // a1's row goes with its conversation, and the next row inserted takes its rowid (the largest was freed).
      await conversations.deleteConversation(c1.id);
      const c2 = await conversations.createConversation('bob', 'default');
      await conversations.appendMessage(streamingAnswer('b1', c2));
      expect(seqOf('b1')).toBe(a1Row);
      await conversations.checkpointMessages([
        { id: 'b1', content: 'b1 so far' },
        { id: 'a1', content: 'a1 again' },
      ]);
      expect((await conversations.findMessageByRun('run_b1'))?.content).toBe('b1 so far');
      expect(await conversations.findMessageByRun('run_a1')).toBeUndefined();
    } finally {
      reader.close();
      await stores.close();
    }
  });

  it('checkpoints an answer whose row another process replaced, by its id', async () => {
    await withTwoProcesses('checkpoint-moved.sqlite', async (owner, other) => {
      const c1 = await owner.conversations.createConversation('ann', 'default');
      await owner.conversations.appendMessage(streamingAnswer('a1', c1));
      // Another process deletes the conversation, then stores the same answer again in a row of its own (a1's old
      // rowid taken by another message first).
      await other.conversations.deleteConversation(c1.id);
      const c2 = await other.conversations.createConversation('ann', 'default');
      await other.conversations.appendMessages([
        { id: 'q2', conversationId: c2.id, role: 'user', content: 'again?', createdAt: c2.createdAt },
        streamingAnswer('a1', c2),
      ]);
      await owner.conversations.checkpointMessage('a1', { content: 'saved in its new row' });
      expect((await other.conversations.findMessageByRun('run_a1'))?.content).toBe('saved in its new row');
    });
  });

  it('checkpoints an answer another process started (found by its id)', async () => {
    await withTwoProcesses('checkpoint-other.sqlite', async (starter, saver) => {
      const c1 = await starter.conversations.createConversation('ann', 'default');
      await starter.conversations.appendMessage(streamingAnswer('a1', c1));
      await saver.conversations.checkpointMessages([{ id: 'a1', content: 'saved elsewhere', sources: [] }]);
      expect(await starter.conversations.findMessageByRun('run_a1')).toMatchObject({
        content: 'saved elsewhere',
        status: 'streaming',
      });
    });
  });

  it('never returns a chunk deleted without the lexical index being told, nor another collection’s under its rowid', async () => {
    const path = join(dir, 'orphans.sqlite');
    const stores = openSqliteStores(path);
    const document = (collectionId: string, source: string, texts: string[]) =>
      stores.documents.upsertDocument(
        { collectionId, source, title: source, mediaType: 'text/plain', contentHash: source, bytes: 1 },
        texts.map((text, ordinal) => ({ ordinal, heading: '', text })),
      );
    await document('docs', 'a.txt', [
      'orphan candidates here',
      'orphan orphan orphan',
      'orphan twice orphan',
    ]);
    await document('other', 'b.txt', ['nothing to see']);
    await stores.documents.mergeTextIndex('docs');
    const before = await stores.documents.searchText('docs', 'orphan', 10);
    expect(before.map((hit) => hit.text)).toEqual([
      'orphan orphan orphan',
      'orphan twice orphan',
      'orphan candidates here',
    ]);
    // Another connection (an import, a repair by hand) removes two chunk rows behind the index's back, and gives one
    // of their rowids to a chunk of another collection.
    const raw = new DatabaseSync(path);
    const rowid = (text: string) =>
      (raw.prepare('SELECT rowid FROM chunks WHERE text = ?').get(text) as { rowid: number }).rowid;
    const [gone, reused] = [rowid('orphan orphan orphan'), rowid('orphan twice orphan')];
    raw.prepare('DELETE FROM chunks WHERE rowid IN (?, ?)').run(gone, reused);
    raw.prepare('UPDATE chunks SET rowid = ? WHERE collection_id = ?').run(reused, 'other');
    raw.close();
    const after = await stores.documents.searchText('docs', 'orphan', 10);
    expect(after.map((hit) => hit.text)).toEqual(['orphan candidates here']);
    await stores.close();
  });

  it('keeps data across reopening and loads sqlite-vec', async () => {
    const path = join(dir, 'reopen.sqlite');
    const first = openSqliteStores(path);
    expect(first.vectors.available).toBe(true);
    const conversation = await first.conversations.createConversation('alice', 'default');
    await first.close();
    const second = openSqliteStores(path);
    expect(await second.conversations.getConversation(conversation.id)).toEqual(conversation);
    await second.close();
  });

  it('migrating to scoped answers drops old cache entries and gives existing collections their owners', async () => {
    const { path, old } = databaseAtVersion(2);
    const chatbot = old.prepare(
      `INSERT INTO chatbots (id, name, collection_id, glossary, org_id, created_at, updated_at)
       VALUES (?, ?, ?, '[]', ?, 1, 1)`,
    );
    chatbot.run('acme-bot', 'Acme', 'acme-kb', 'acme');
    chatbot.run('mixed-a', 'A', 'mixed', 'acme');
    chatbot.run('mixed-b', 'B', 'mixed', 'globex');
    old.exec(`INSERT INTO documents (id, collection_id, source, title, media_type, content_hash, metadata,
      chunk_count, bytes, created_at, updated_at) VALUES ('d1', 'orphan', 'a.txt', 'A', 'text/plain', 'h', '{}', 0, 1, 1, 1)`);
    old.exec(`INSERT INTO answer_cache (id, chatbot_id, normalized_question, question, answer, sources,
      document_versions, created_at) VALUES ('ans_1', 'default', 'q', 'q', 'private answer', '[]', '{}', 1)`);
    old.close();

    const stores = openSqliteStores(path);
    expect(await stores.answerCache.findExact('default', '', 'q')).toBeUndefined();
    expect(await stores.answerCache.findExact('default', 'org:', 'q')).toBeUndefined();
    expect(await stores.chatbots.collectionOwner('acme-kb')).toEqual({ orgId: 'acme' });
    // Used by two organisations' chatbots: only admins of no organisation may point new chatbots at it.
    expect(await stores.chatbots.collectionOwner('mixed')).toEqual({ orgId: null });
    expect(await stores.chatbots.collectionOwner('orphan')).toEqual({ orgId: null });
    await stores.close();
  });

  it('keeps the sources stored before their table and those an earlier release still writes; a deleted conversation takes them along', async () => {
    const { path, old } = databaseAtVersion(10);
    old.exec(`INSERT INTO conversations (id, owner_id, chatbot_id, title, created_at, updated_at)
      VALUES ('c1', 'alice', 'default', 'Q', 1, 2)`);
    const sources = [{ id: '1', documentId: 'doc_1', title: 'Doc', snippet: 'text', score: 0.5 }];
    const other = [{ id: '1', documentId: 'doc_2', title: 'Other', snippet: 'more', score: 0.7 }];
    // As the previous release writes a message (sources in the row).
    const oldWrite = (
      database: DatabaseSync,
      id: string,
      role: string,
      content: string,
      status: string | null,
      json: string | null,
    ) =>
      database
        .prepare(
          `INSERT INTO messages (id, conversation_id, role, content, created_at, status, sources)
           VALUES (?, 'c1', ?, ?, 1, ?, ?)`,
        )
        .run(id, role, content, status, json);
    oldWrite(old, 'q1', 'user', 'Q', null, null);
    oldWrite(old, 'a1', 'assistant', 'A [1]', 'complete', JSON.stringify(sources));
    oldWrite(old, 'a2', 'assistant', 'Cut', 'streaming', null);
    old.close();

    const stores = openSqliteStores(path);
    const listed = async () =>
      (await stores.conversations.listMessages('c1')).map((message) => [message.id, message.sources]);
    expect(await listed()).toEqual([
      ['q1', undefined],
      ['a1', sources],
      ['a2', undefined],
    ]);
    // The streaming answer left by the old process gets its sources with the next checkpoint.
    await stores.conversations.checkpointMessages([{ id: 'a2', content: 'Cut [1]', sources }]);
    expect((await stores.conversations.listMessages('c1'))[2]).toMatchObject({ content: 'Cut [1]', sources });
    // A process of the previous release still on the file: what it writes is read, and its checkpoint works.
    const stillOld = new DatabaseSync(path);
    oldWrite(stillOld, 'a3', 'assistant', 'Old [1]', 'complete', JSON.stringify(other));
    stillOld
      .prepare('UPDATE messages SET content = ?, sources = coalesce(?, sources) WHERE id = ?')
      .run('A [1]!', null, 'a1');
    stillOld.close();
    expect((await listed()).slice(1)).toEqual([
      ['a1', sources],
      ['a2', sources],
      ['a3', other],
    ]);
    // Rewritten by this release: the row's own sources never shadow the new ones, nor come back when there are none.
    const a1 = (await stores.conversations.listMessages('c1'))[1] as StoredMessage;
    expect(await stores.conversations.replaceMessage({ ...a1, sources: other })).toBe(true);
    const { sources: _none, ...a3 } = (await stores.conversations.listMessages('c1'))[3] as StoredMessage;
    expect(await stores.conversations.replaceMessage(a3)).toBe(true);
    expect((await listed()).slice(1)).toEqual([
      ['a1', other],
      ['a2', sources],
      ['a3', undefined],
    ]);
    await stores.close();

    const file = new DatabaseSync(path);
    expect(file.prepare('SELECT count(*) AS n FROM message_sources').get()).toEqual({ n: 2 });
    file.close();
    const reopened = openSqliteStores(path);
    expect(await reopened.conversations.deleteConversation('c1')).toBe(true);
    await reopened.close();
    const after = new DatabaseSync(path);
    expect(after.prepare('SELECT count(*) AS n FROM message_sources').get()).toEqual({ n: 0 });
    after.close();
  });

  it('shared by workers, marks a stale streaming answer interrupted and leaves one another worker is saving', async () => {
    const path = join(dir, 'workers.sqlite');
    const worker = openSqliteStores(path, { shared: true });
    const restarted = openSqliteStores(path, { shared: true });
    expect([worker.shared, restarted.shared, openSqliteStores(':memory:').shared]).toEqual([
      true,
      true,
      false,
    ]);
    const conversation = await worker.conversations.createConversation('alice', 'default');
    const now = Date.now();
    const stale = now - STREAMING_STALE_AFTER_MS - 60_000;
    const answer = (id: string, createdAt: number) => ({
      id,
      conversationId: conversation.id,
      role: 'assistant' as const,
      content: '',
      createdAt,
      status: 'streaming' as const,
      runId: `run_${id}`,
    });
    // Started long ago and never saved since: its worker died.
    await worker.conversations.appendMessage(answer('dead', stale));
    // Started long ago, last checkpointed long ago too.
    await worker.conversations.appendMessage(answer('silent', stale));
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      vi.setSystemTime(stale + 1000);
      await worker.conversations.checkpointMessage('silent', { content: 'early text' });
    } finally {
      vi.useRealTimers();
    }
    // Started long ago, checkpointed a moment ago: a long answer a live worker is streaming.
    await worker.conversations.appendMessage(answer('long', stale));
    await worker.conversations.checkpointMessage('long', { content: 'still going' });
    await worker.conversations.appendMessage(answer('fresh', now));
    // Another worker (re)starts: only the stale two are marked.
    expect(await restarted.conversations.interruptStreamingMessages()).toBe(2);
    const status = async (runId: string) => (await worker.conversations.findMessageByRun(runId))?.status;
    expect(await Promise.all(['run_dead', 'run_silent', 'run_long', 'run_fresh'].map(status))).toEqual([
      'interrupted',
      'interrupted',
      'streaming',
      'streaming',
    ]);
    // Alone on the file (one process), every answer left streaming was cut.
    const alone = openSqliteStores(path);
    expect(await alone.conversations.interruptStreamingMessages()).toBe(2);
    for (const stores of [worker, restarted, alone]) await stores.close();
  });

  describe('group commit: the conversation writes of one event-loop turn', () => {
    const question = (id: string, conversationId: string) => ({
      id,
      conversationId,
      role: 'user' as const,
      content: `question ${id}`,
      createdAt: Date.now(),
    });
    /** Another connection to the file, as another process would read it. */
    const observer = (path: string) => {
      const db = new DatabaseSync(path, { readOnly: true });
      const conversation = db.prepare('SELECT owner_id FROM conversations WHERE id = ?');
      const messages = db.prepare('SELECT count(*) AS n FROM messages WHERE conversation_id = ?');
      return {
        owner: (id: string) => (conversation.get(id) as { owner_id: string } | undefined)?.owner_id,
        messages: (id: string) => (messages.get(id) as { n: number }).n,
        close: () => db.close(),
      };
    };

    it('commit together, and each caller resolves once its write is committed', async () => {
      const path = join(dir, 'group.sqlite');
      const stores = openSqliteStores(path);
      const reader = observer(path);
      const names = ['a', 'b', 'c'];
      // What another process sees when each caller's write resolves: every answer's write of that turn.
      const seen: unknown[] = [];
      const answers = names.map(async (name) => {
        const conversation = await stores.conversations.createConversation(name, 'default', `conv-${name}`);
        seen.push(names.map((other) => reader.owner(`conv-${other}`)));
        await stores.conversations.appendMessages([question(`q-${name}`, conversation.id)]);
        seen.push(names.map((other) => reader.messages(`conv-${other}`)));
      });
      // Nothing is committed within the turn the writes were issued in.
      expect(reader.owner('conv-a')).toBeUndefined();
      await Promise.all(answers);
      expect(seen).toEqual([names, names, names, [1, 1, 1], [1, 1, 1], [1, 1, 1]]);
      reader.close();
      await stores.close();
    });

    it('a failing write fails alone, with the error it gets when written alone', async () => {
      const path = join(dir, 'group-failure.sqlite');
      const stores = openSqliteStores(path);
      await stores.conversations.createConversation('alice', 'default', 'taken');
      const alone = await stores.conversations.createConversation('bob', 'default', 'taken').then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(alone).toBeInstanceOf(Error);
      const [before, taken, after, appended] = await Promise.allSettled([
        stores.conversations.createConversation('carol', 'default', 'first'),
        stores.conversations.createConversation('bob', 'default', 'taken'),
        stores.conversations.createConversation('dave', 'default', 'second'),
        stores.conversations.appendMessages([question('q-taken', 'taken')]),
      ]);
      expect([before.status, taken.status, after.status, appended.status]).toEqual([
        'fulfilled',
        'rejected',
        'fulfilled',
        'fulfilled',
      ]);
      expect((taken as PromiseRejectedResult).reason).toEqual(alone);
      const reader = observer(path);
      expect(['first', 'taken', 'second'].map((id) => reader.owner(id))).toEqual(['carol', 'alice', 'dave']);
      expect(reader.messages('taken')).toBe(1);
      reader.close();
      await stores.close();
    });

    it('closing the stores commits the writes still pending', async () => {
      const path = join(dir, 'group-close.sqlite');
      const stores = openSqliteStores(path);
      const written = Promise.all([
        stores.conversations.createConversation('erin', 'default', 'closing'),
        stores.conversations.appendMessages([question('q-closing', 'closing')]),
      ]);
      await stores.close();
      await written;
      const reopened = openSqliteStores(path);
      expect((await reopened.conversations.getConversation('closing'))?.ownerId).toBe('erin');
      expect((await reopened.conversations.listMessages('closing')).map((message) => message.id)).toEqual([
        'q-closing',
      ]);
      await reopened.close();
    });
  });

  describe('group commit under load: a group started while the event loop is busy waits for more writes', () => {
    /** A file of its own, its group commit with `busy` as the load, and another connection reading it. */
    const setUp = (name: string, busy: () => boolean, delayMs = 30) => {
      const path = join(dir, `${name}.sqlite`);
      const { db } = openDatabase(path);
      db.exec('CREATE TABLE t (n INTEGER)');
      const group = groupCommit(db, { delayMs, busy });
      const other = new DatabaseSync(path, { readOnly: true });
      const values = other.prepare("SELECT coalesce(group_concat(n), '') AS n FROM t");
      const insert = db.prepare('INSERT INTO t (n) VALUES (?)');
      return {
        db,
        group,
        write: (n: number) => group.run(() => insert.run(n)),
        /** The committed values, in insertion order, as another connection sees them. */
        committed: () => (values.get() as { n: string }).n,
        close: () => {
          other.close();
          db.close();
        },
      };
    };
    /** Only setTimeout is faked: turns (setImmediate) run as they do, the delay passes when the test says. */
    const withFakeDelay = async (test: () => Promise<void>) => {
      vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
      try {
        await test();
      } finally {
        vi.useRealTimers();
      }
    };

    it('busy: the writes of later turns join the first one, committed together when the delay ends', async () => {
      await withFakeDelay(async () => {
        const file = setUp('delayed', () => true);
        const first = file.write(1);
        await nextTurn();
        await nextTurn();
        // Two turns later nothing is committed: the group waits for its delay.
        expect(file.committed()).toBe('');
        const second = file.write(2);
        await nextTurn();
        await nextTurn();
        expect(file.committed()).toBe('');
        vi.advanceTimersByTime(29);
        expect(file.committed()).toBe('');
        vi.advanceTimersByTime(1);
        // Both at once: one transaction.
        expect(file.committed()).toBe('1,2');
        await Promise.all([first, second]);
        file.close();
      });
    });

    it('not busy: each turn’s writes are committed at the end of that turn, as without a delay', async () => {
      await withFakeDelay(async () => {
        const file = setUp('not-delayed', () => false);
        const first = file.write(1);
        await nextTurn();
        expect(file.committed()).toBe('1');
        const second = file.write(2);
        await nextTurn();
        expect(file.committed()).toBe('1,2');
        await Promise.all([first, second]);
        file.close();
      });
    });

    it('a transaction made meanwhile commits the waiting group first, in order, and its delay is called off', async () => {
      await withFakeDelay(async () => {
        const file = setUp('delayed-then-transaction', () => true, 20);
        const first = file.write(1);
        const seen = transaction(file.db, () => {
          file.db.prepare('INSERT INTO t (n) VALUES (2)').run();
          return file.db.prepare('SELECT group_concat(n) AS n FROM t').get() as { n: string };
        });
        // The group's write was committed before the transaction's own.
        expect(seen.n).toBe('1,2');
        await first;
        vi.advanceTimersByTime(10);
        // A new group, due 20 ms from now; the first group's delay (due in 10) must not commit it.
        const third = file.write(3);
        vi.advanceTimersByTime(15);
        expect(file.committed()).toBe('1,2');
        vi.advanceTimersByTime(5);
        expect(file.committed()).toBe('1,2,3');
        await third;
        file.close();
      });
    });

    it('a group committed early by a transaction leaves no end-of-turn commit behind to cut a later group’s wait', async () => {
      await withFakeDelay(async () => {
        let busyNow = false;
        const file = setUp('early-then-delayed', () => busyNow);
        const first = file.write(1);
        transaction(file.db, () => undefined);
        await first;
        busyNow = true;
        const second = file.write(2);
        await nextTurn();
        await nextTurn();
        expect(file.committed()).toBe('1');
        vi.advanceTimersByTime(30);
        expect(file.committed()).toBe('1,2');
        await second;
        file.close();
      });
    });

    it('a failing write joining a delayed group from a later turn fails alone', async () => {
      await withFakeDelay(async () => {
        const file = setUp('delayed-failure', () => true);
        const first = file.write(1);
        await nextTurn();
        const failing = file.group.run(() => {
          throw new Error('refused');
        });
        await nextTurn();
        const third = file.write(3);
        vi.advanceTimersByTime(30);
        const results = await Promise.allSettled([first, failing, third]);
        expect(results.map((result) => result.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
        expect(file.committed()).toBe('1,3');
        file.close();
      });
    });

    it('a delay given to a connection whose group commit exists already is refused, not dropped', () => {
      const { db } = openDatabase(join(dir, 'delay-too-late.sqlite'));
      groupCommit(db);
      expect(() => groupCommit(db, { delayMs: 5, busy: () => true })).toThrow(/group commit already/);
      db.close();
    });

    it('openStores takes SQLITE_COMMIT_DELAY_MS: once its event loop has been busy a while, a group waits; closing commits it', async () => {
      const dataDir = join(dir, 'stores-delayed');
      const stores = await openStores({ dataDir, sqliteCommitDelayMs: 60_000 });
      const reader = new DatabaseSync(join(dataDir, 'rivulet.sqlite'), { readOnly: true });
      const owner = reader.prepare('SELECT owner_id FROM conversations WHERE id = ?');
      // Windows of 50 ms or more with the loop running callbacks nearly all the time, each measured when a group starts:
      // the first groups are committed at the end of their turn, then (the second busy window in a row) they wait.
      let written: Promise<string> | undefined;
      for (let window = 0; window < 5 && written === undefined; window += 1) {
        keepLoopBusy(60);
        const id = `busy-${window}`;
        const write = stores.conversations.createConversation('frank', 'default', id);
        await nextTurn();
        await nextTurn();
        if (owner.get(id) === undefined) written = write.then(() => id);
        else await write;
      }
      expect(written).toBeDefined();
      await stores.close();
      expect(owner.get(await (written ?? Promise.reject(new Error('no group waited'))))).toEqual({
        owner_id: 'frank',
      });
      reader.close();
    });
  });
});

describe('sqlite newest-messages statements', () => {
  it('give the newest messages for every limit, however many different limits clients ask for', async () => {
    const stores = openSqliteStores(':memory:');
    await stores.conversations.createConversation(null, 'default', 'many');
    const ids = Array.from({ length: 30 }, (_, index) => `m${String(index).padStart(2, '0')}`);
    await stores.conversations.appendMessages(
      ids.map((id, index) => ({
        id,
        conversationId: 'many',
        role: 'user' as const,
        content: `question ${id}`,
        createdAt: 1_000 + index,
      })),
    );
    // More different limits than keep a statement, twice over, then the first ones again.
    for (const limit of [...Array.from({ length: 20 }, (_, index) => index), 0, 1, 5, -1, 100]) {
      const listed = await stores.conversations.listMessages('many', limit);
      const expected = limit < 0 ? ids : ids.slice(Math.max(0, ids.length - limit));
      expect(listed.map((message) => message.id)).toEqual(expected);
    }
    await stores.close();
  });
});
