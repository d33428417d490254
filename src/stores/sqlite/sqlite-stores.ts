// The embedded stores: one SQLite file holding conversations, chatbots, documents and chunks, the answer cache, API
// keys and token usage.

import { EventLoopBusy } from '../../observability/event-loop-busy.ts';
import type { StoreOptions, Stores } from '../stores.ts';
import { groupCommit, openDatabase, WAL_AUTOCHECKPOINT_PAGES } from './database.ts';
import { SqliteAnswerCache } from './sqlite-answer-cache.ts';
import { SqliteApiKeyStore } from './sqlite-api-key-store.ts';
import { SqliteChatbotStore } from './sqlite-chatbot-store.ts';
import { SqliteConversationStore } from './sqlite-conversation-store.ts';
import { SqliteDocumentStore } from './sqlite-document-store.ts';
import { SqliteRoomStore } from './sqlite-room-store.ts';
import { SqliteTokenUsageStore } from './sqlite-token-usage-store.ts';
import { WalCheckpointer } from './wal-checkpointer.ts';

/**
 * A group of writes waits (StoreOptions.commitDelayMs) once the event loop ran callbacks at least 80% of the time in 2
 * windows of 50 ms or more in a row, and until 2 in a row fall below that: a lasting burst of new answers (the held
 * bench's 1,000 a second keeps it near 100%, with a rare window near 70%), not answers streaming at a steady pace (the
 * paced bench: 30-70%; its start may turn the wait on for a moment, at no TTFT cost measured). From 3 windows the held
 * burst opened later (TTFT p99 median 0.42 s against 0.34 s), from 1 window it cost latency at 64 streams.
 */
const COMMIT_DELAY_WHEN = { threshold: 0.8, windowMs: 50, windows: 2, quietWindows: 2 } as const;

/** `path` is the database file (created with its directory if missing), or ":memory:". */
export function openSqliteStores(path: string, options: StoreOptions = {}): Stores {
  const { db, vectors, vectorError } = openDatabase(path);
  const shared = options.shared ?? false;
  // Before any store asks for it: the connection's group commit, with its delay under load.
  const delayMs = options.commitDelayMs ?? 0;
  if (delayMs > 0) {
    const loop = new EventLoopBusy(COMMIT_DELAY_WHEN);
    groupCommit(db, { delayMs, busy: () => loop.busy() });
  }
  // The WAL is copied into the file by a worker thread, not inside a commit on the event loop.
  const checkpointer =
    path === ':memory:'
      ? undefined
      : new WalCheckpointer(db, path, { fallbackAutocheckpointPages: WAL_AUTOCHECKPOINT_PAGES });
  const documents = new SqliteDocumentStore(db, { vectors });
  const answerCache = new SqliteAnswerCache(db, {
    vectors,
    documents,
    ...(options.maxCachedAnswersPerChatbot === undefined
      ? {}
      : { maxEntriesPerChatbot: options.maxCachedAnswersPerChatbot }),
  });
  return {
    backend: 'sqlite',
    shared,
    conversations: new SqliteConversationStore(db, {
      forgetAnswers: (conversationId) => answerCache.forgetConversationNow(conversationId),
      shared,
    }),
    chatbots: new SqliteChatbotStore(db, {
      forgetAnswers: (chatbotId) => answerCache.forgetChatbot(chatbotId),
    }),
    documents,
    answerCache,
    apiKeys: new SqliteApiKeyStore(db),
    tokenUsage: new SqliteTokenUsageStore(db),
    rooms: new SqliteRoomStore(db),
    vectors: { available: vectors, ...(vectorError === undefined ? {} : { error: vectorError }) },
    exclusive: (_name, work) => work(),
    ping() {
      // A real table, so the database file itself is read (SELECT 1 would answer without it).
      db.prepare('SELECT count(*) FROM meta').get();
      return Promise.resolve();
    },
    async close() {
      if (db.isOpen) {
        // The writes of this turn are committed before the file is closed.
        groupCommit(db).flush();
        db.close();
      }
      // Then the worker's connection: the last one closed checkpoints the whole WAL into the file.
      await checkpointer?.close();
    },
  };
}
