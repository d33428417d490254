// The embedded stores: one SQLite file holding conversations, chatbots, documents and chunks, and the answer cache.

import type { AnswerCacheStore } from '../../core/answer-cache.ts';
import type { ChatbotStore } from '../../core/chatbots.ts';
import type { ConversationStore } from '../../core/conversation-store.ts';
import type { DocumentStore } from '../../core/documents.ts';
import { openDatabase } from './database.ts';
import { SqliteAnswerCache } from './sqlite-answer-cache.ts';
import { SqliteChatbotStore } from './sqlite-chatbot-store.ts';
import { SqliteConversationStore } from './sqlite-conversation-store.ts';
import { SqliteDocumentStore } from './sqlite-document-store.ts';

export interface Stores {
  conversations: ConversationStore;
  chatbots: ChatbotStore;
  documents: DocumentStore;
  answerCache: AnswerCacheStore;
  /** False when vector search is unavailable on this platform (sqlite-vec did not load), with the reason. */
  vectors: { available: boolean; error?: string };
  /** Cheap reachability check for /readyz. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** `path` is the database file (created with its directory if missing), or ":memory:". */
export function openSqliteStores(path: string): Stores {
  const { db, vectors, vectorError } = openDatabase(path);
  return {
    conversations: new SqliteConversationStore(db),
    chatbots: new SqliteChatbotStore(db),
    documents: new SqliteDocumentStore(db, { vectors }),
    answerCache: new SqliteAnswerCache(db, { vectors }),
    vectors: { available: vectors, ...(vectorError === undefined ? {} : { error: vectorError }) },
    ping() {
      db.prepare('SELECT 1').get();
      return Promise.resolve();
    },
    close() {
      if (db.isOpen) db.close();
      return Promise.resolve();
    },
  };
}
