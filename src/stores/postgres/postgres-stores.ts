// The stores on PostgreSQL (DATABASE_URL): the same six contracts as the embedded SQLite file, shared by every
// instance that points at the same database.

import { DEFAULT_DATABASE_POOL_MAX } from '../../config/storage.ts';
import type { StoreOptions, Stores } from '../stores.ts';
import { connect, enableVectors, guardStore, migrate, storeError, type Sql } from './database.ts';
import { PostgresAnswerCache } from './postgres-answer-cache.ts';
import { PostgresApiKeyStore } from './postgres-api-key-store.ts';
import { PostgresChatbotStore } from './postgres-chatbot-store.ts';
import { PostgresConversationStore } from './postgres-conversation-store.ts';
import { PostgresDocumentStore } from './postgres-document-store.ts';
import { PostgresRoomStore } from './postgres-room-store.ts';
import { PostgresTokenUsageStore } from './postgres-token-usage-store.ts';

export interface PostgresStoreOptions extends StoreOptions {
  /** Connections this process keeps at most (DATABASE_POOL_MAX, default DEFAULT_DATABASE_POOL_MAX). */
  poolMax?: number;
  /** Apply pending migrations first (default true). False: refuse a database that is not at the code's version. */
  migrate?: boolean;
}

/**
 * Connects, applies pending migrations (under an advisory lock: instances may start together), enables pgvector when
 * the server has it, and opens the six stores. Rejects with STORE_UNAVAILABLE when the database cannot be reached and
 * DATABASE_TOO_NEW when a newer Rivulet migrated it.
 */
export async function openPostgresStores(url: string, options: PostgresStoreOptions = {}): Promise<Stores> {
  const poolMax = options.poolMax ?? DEFAULT_DATABASE_POOL_MAX;
  const sql = connect(url, { max: poolMax });
  try {
    if (options.migrate !== false) await migrate(sql);
    const vectors = await enableVectors(sql);
    return createStores(sql, vectors, { ...options, poolMax });
  } catch (error) {
    await sql.end({ timeout: 1 }).catch(() => {});
    throw storeError(error);
  }
}

function createStores(
  sql: Sql,
  vectors: { available: boolean; error?: string },
  options: PostgresStoreOptions & { poolMax: number },
): Stores {
  const documents = new PostgresDocumentStore(sql, { vectors: vectors.available });
  const answerCache = new PostgresAnswerCache(sql, {
    vectors: vectors.available,
    ...(options.maxCachedAnswersPerChatbot === undefined
      ? {}
      : { maxEntriesPerChatbot: options.maxCachedAnswersPerChatbot }),
  });
  let closed = false;
  return {
    backend: 'postgres',
    shared: true,
    conversations: guardStore(new PostgresConversationStore(sql)),
    chatbots: guardStore(new PostgresChatbotStore(sql)),
    documents: guardStore(documents),
    answerCache: guardStore(answerCache),
    apiKeys: guardStore(new PostgresApiKeyStore(sql)),
    tokenUsage: guardStore(new PostgresTokenUsageStore(sql)),
    rooms: guardStore(new PostgresRoomStore(sql)),
    vectors,
    async exclusive(name, work) {
      // A session lock on a connection of its own, held while `work` runs on the pool's other connections. A pool of
      // one connection (PGlite in tests) could not do both: it runs `work` unlocked.
      if (options.poolMax < 2) return work();
      const reserved = await sql.reserve();
      try {
        await reserved`SELECT pg_advisory_lock(hashtext(${`rivulet:${name}`}))`;
        try {
          return await work();
        } finally {
          await reserved`SELECT pg_advisory_unlock(hashtext(${`rivulet:${name}`}))`;
        }
      } catch (error) {
        throw storeError(error);
      } finally {
        reserved.release();
      }
    },
    async ping() {
      try {
        // A real table, so a database that lost its schema is not "ready" either.
        await sql`SELECT 1 FROM rivulet_migrations LIMIT 1`.signal(AbortSignal.timeout(2000));
      } catch (error) {
        throw storeError(error);
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      await sql.end({ timeout: 5 });
    },
  };
}
