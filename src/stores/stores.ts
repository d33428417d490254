// The stores one Rivulet instance uses, as one bundle: each backend (SQLite now, PostgreSQL later) opens all of them.

import type { AnswerCacheStore } from '../core/answer-cache.ts';
import type { ApiKeyStore } from '../core/api-keys.ts';
import type { ChatbotStore } from '../core/chatbots.ts';
import type { ConversationStore } from '../core/conversation-store.ts';
import type { DocumentStore } from '../core/documents.ts';
import type { RoomStore } from '../core/rooms.ts';
import type { TokenUsageStore } from '../core/token-usage.ts';

export interface Stores {
  /** Which backend holds them: the embedded SQLite file, or PostgreSQL (DATABASE_URL). */
  backend: 'sqlite' | 'postgres';
  /**
   * Other live processes may use these stores too (PostgreSQL always; the SQLite file when opened with
   * `shared`): an answer still streaming is then taken for a dead process's only once its last save is
   * STREAMING_STALE_AFTER_MS old, and the server looks for such answers while it runs, not only at start.
   */
  shared: boolean;
  conversations: ConversationStore;
  chatbots: ChatbotStore;
  documents: DocumentStore;
  answerCache: AnswerCacheStore;
  apiKeys: ApiKeyStore;
  tokenUsage: TokenUsageStore;
  /** Rooms: shared conversations, their members and the questions asked in them. */
  rooms: RoomStore;
  /**
   * False when vector search is unavailable (sqlite-vec did not load; PostgreSQL without pgvector), with the reason:
   * retrieval is then lexical only.
   */
  vectors: { available: boolean; error?: string };
  /**
   * Runs `work` while no other process sharing these stores runs work under the same `name`: what instances starting
   * together must do once (creating the default chatbot, ingesting the sample corpus). PostgreSQL holds an advisory
   * lock for it; the SQLite file belongs to one server, so there it just runs.
   */
  exclusive<T>(name: string, work: () => Promise<T>): Promise<T>;
  /** Cheap reachability check for /readyz. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export interface StoreOptions {
  /** The oldest cached answers of a chatbot are evicted beyond this many (default 10,000). */
  maxCachedAnswersPerChatbot?: number;
  /**
   * Several live processes use the SQLite file at once (the workers of `rivulet serve --workers N`); PostgreSQL is
   * always taken as shared. See Stores.shared.
   */
  shared?: boolean;
  /**
   * SQLite: how long a group of writes (the conversation store's, token usage charges) started while the event loop
   * has been busy a while waits for more before its commit (SQLITE_COMMIT_DELAY_MS; see GroupCommit). Unset or 0:
   * every group commits at the end of its turn.
   */
  commitDelayMs?: number;
}
