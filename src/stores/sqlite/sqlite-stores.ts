// The embedded stores: one SQLite file holding conversations, chatbots, documents and chunks, and the answer cache.

import type { StoreOptions, Stores } from '../stores.ts';
import { openDatabase } from './database.ts';
import { SqliteAnswerCache } from './sqlite-answer-cache.ts';
import { SqliteChatbotStore } from './sqlite-chatbot-store.ts';
import { SqliteConversationStore } from './sqlite-conversation-store.ts';
import { SqliteDocumentStore } from './sqlite-document-store.ts';

/** `path` is the database file (created with its directory if missing), or ":memory:". */
export function openSqliteStores(path: string, options: StoreOptions = {}): Stores {
  const { db, vectors, vectorError } = openDatabase(path);
  const documents = new SqliteDocumentStore(db, { vectors });
  const answerCache = new SqliteAnswerCache(db, {
    vectors,
    documents,
    ...(options.maxCachedAnswersPerChatbot === undefined
      ? {}
      : { maxEntriesPerChatbot: options.maxCachedAnswersPerChatbot }),
  });
  return {
    conversations: new SqliteConversationStore(db),
    chatbots: new SqliteChatbotStore(db, {
      forgetAnswers: (chatbotId) => answerCache.forgetChatbot(chatbotId),
    }),
    documents,
    answerCache,
    vectors: { available: vectors, ...(vectorError === undefined ? {} : { error: vectorError }) },
    ping() {
      // A real table, so the database file itself is read (SELECT 1 would answer without it).
      db.prepare('SELECT count(*) FROM meta').get();
      return Promise.resolve();
    },
    close() {
      if (db.isOpen) db.close();
      return Promise.resolve();
    },
  };
}
