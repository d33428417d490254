// The answer cache in PostgreSQL: exact matches by normalised question, semantic matches by cosine similarity
// (pgvector's <=> over the cached embeddings, when the extension is enabled). An entry is served only while its
// documents are unchanged: each lookup checks them against the documents table and drops stale entries, in one
// statement.

import type { AnswerCacheStore, CachedAnswer, CachedAnswerInput } from '../../core/answer-cache.ts';
import type { EmbeddingSpace } from '../../core/documents.ts';
import { newCachedAnswer, toCachedAnswer, type CachedAnswerRow } from '../rows/answer-cache.ts';
import { postgresColumns, type PostgresColumnTypes } from '../rows/columns.ts';
import { abortable } from './abortable.ts';
import { pgJson, pgText, type Sql } from './database.ts';

type CacheRow = CachedAnswerRow<PostgresColumnTypes>;

export interface PostgresAnswerCacheOptions {
  /** False when pgvector is not enabled: only exact matches are possible (embeddings are still stored). */
  vectors: boolean;
  /** Oldest entries of a chatbot are evicted beyond this many. */
  maxEntriesPerChatbot?: number;
}

/** How many of the best candidates a lookup checks against their documents, as the SQLite cache does. */
const CANDIDATES = 5;

export class PostgresAnswerCache implements AnswerCacheStore {
  private readonly sql: Sql;
  private readonly vectors: boolean;
  private readonly maxEntries: number;

  constructor(sql: Sql, options: PostgresAnswerCacheOptions) {
    this.sql = sql;
    this.vectors = options.vectors;
    this.maxEntries = options.maxEntriesPerChatbot ?? 10_000;
  }

  async findExact(
    chatbotId: string,
    scope: string,
    normalizedQuestion: string,
    signal?: AbortSignal,
  ): Promise<CachedAnswer | undefined> {
    const [row] = await abortable(
      this.sql<CacheRow[]>`
        WITH candidates AS (
          SELECT id, chatbot_id, scope, conversation_id, echoed_words, normalized_question, question, answer,
            sources, usage, document_versions, created_at, hits, seq, ${this.isCurrent()} AS current
          FROM answer_cache AS entry
          WHERE chatbot_id = ${pgText(chatbotId)} AND scope = ${pgText(scope)}
            AND normalized_question = ${pgText(normalizedQuestion)}
          ORDER BY created_at DESC, seq DESC
          LIMIT ${CANDIDATES}
        ),
        stale AS (
          DELETE FROM answer_cache WHERE id IN (SELECT id FROM candidates WHERE NOT current)
        )
        SELECT * FROM candidates WHERE current ORDER BY created_at DESC, seq DESC LIMIT 1`,
      signal,
    );
    return row === undefined ? undefined : toCachedAnswer(row, postgresColumns);
  }

  async findSimilar(
    chatbotId: string,
    scope: string,
    space: EmbeddingSpace,
    vector: Float32Array,
    minSimilarity: number,
    signal?: AbortSignal,
  ): Promise<{ entry: CachedAnswer; similarity: number } | undefined> {
    // Without pgvector only exact matches are possible, as in SQLite without sqlite-vec.
    if (!this.vectors) return undefined;
    // Every entry of the chatbot, scope and model is compared: there are at most ANSWER_CACHE_MAX_ENTRIES, and the
    // cache has no index of its own to keep up to date. The query vector is sent as text: a parameter of pgvector's
    // type would make the driver look the type up first, on another connection.
    const [row] = await abortable(
      this.sql<(CacheRow & { similarity: number })[]>`
        WITH candidates AS (
          SELECT id, chatbot_id, scope, conversation_id, echoed_words, normalized_question, question, answer,
            sources, usage, document_versions, created_at, hits,
            1 - (embedding::vector <=> ${vectorText(vector)}::text::vector) AS similarity
          FROM answer_cache
          WHERE chatbot_id = ${pgText(chatbotId)} AND scope = ${pgText(scope)}
            AND embedding_model = ${spaceKey(space)} AND cardinality(embedding) = ${vector.length}
          ORDER BY similarity DESC
          LIMIT ${CANDIDATES}
        ),
        near AS (
          SELECT entry.*, ${this.isCurrent()} AS current
          FROM candidates AS entry
          WHERE entry.similarity >= ${minSimilarity}
        ),
        stale AS (
          DELETE FROM answer_cache WHERE id IN (SELECT id FROM near WHERE NOT current)
        )
        SELECT * FROM near WHERE current ORDER BY similarity DESC LIMIT 1`,
      signal,
    );
    if (row === undefined) return undefined;
    return { entry: toCachedAnswer(row, postgresColumns), similarity: row.similarity };
  }

  async put(input: CachedAnswerInput): Promise<CachedAnswer | undefined> {
    const entry = newCachedAnswer(input);
    const chatbotId = pgText(entry.chatbotId);
    const conversationId = entry.conversationId === null ? null : pgText(entry.conversationId);
    const [row] = await this.sql<{ n: number }[]>`
      WITH inserted AS (
        INSERT INTO answer_cache (id, chatbot_id, scope, conversation_id, echoed_words, normalized_question,
          question, answer, sources, usage, document_versions, embedding_model, embedding, created_at)
        SELECT ${entry.id}::text, ${chatbotId}::text, ${pgText(entry.scope)}::text, ${conversationId}::text,
          ${pgJson(entry.echoedWords)}::text::jsonb, ${pgText(entry.normalizedQuestion)}::text,
          ${pgText(entry.question)}::text, ${pgText(entry.answer)}::text, ${pgJson(entry.sources)}::text::jsonb,
          ${entry.usage === null ? null : pgJson(entry.usage)}::text::jsonb,
          ${pgJson(entry.documentVersions)}::text::jsonb,
          ${input.embedding === undefined ? null : spaceKey(input.embedding.space)}::text,
          ${input.embedding === undefined ? null : Array.from(input.embedding.vector)}::real[],
          ${entry.createdAt}::bigint
        -- One statement: a conversation deleted while its answer streamed can never leave the answer behind. The
        -- lock makes a deletion running meanwhile wait for this entry, then remove it with the conversation.
        WHERE ${conversationId}::text IS NULL
          OR EXISTS (SELECT 1 FROM conversations WHERE id = ${conversationId}::text FOR KEY SHARE)
        RETURNING id
      ),
      evicted AS (
        -- This statement does not see its own insert: the chatbot's other entries keep one place fewer.
        DELETE FROM answer_cache WHERE id IN (
          SELECT id FROM answer_cache
          WHERE chatbot_id = ${chatbotId} AND EXISTS (SELECT 1 FROM inserted)
          ORDER BY created_at DESC, seq DESC
          OFFSET ${Math.max(0, this.maxEntries - 1)})
      )
      SELECT count(*) AS n FROM inserted`;
    return (row?.n ?? 0) > 0 ? entry : undefined;
  }

  async recordHit(id: string): Promise<void> {
    await this.sql`UPDATE answer_cache SET hits = hits + 1 WHERE id = ${pgText(id)}`;
  }

  async clear(chatbotId: string): Promise<number> {
    const result = await this.sql`DELETE FROM answer_cache WHERE chatbot_id = ${pgText(chatbotId)}`;
    return result.count;
  }

  async forgetConversation(conversationId: string): Promise<number> {
    const result = await this.sql`DELETE FROM answer_cache WHERE conversation_id = ${pgText(conversationId)}`;
    return result.count;
  }

  /**
   * True for an entry (a row named `entry` in scope) whose every document still has the content hash recorded with
   * it: a changed or deleted document makes it stale.
   */
  private isCurrent() {
    return this.sql`NOT EXISTS (
      SELECT 1 FROM jsonb_each_text(entry.document_versions) AS version (document_id, content_hash)
      LEFT JOIN documents ON documents.id = version.document_id
      WHERE documents.content_hash IS DISTINCT FROM version.content_hash)`;
  }
}

function spaceKey(space: EmbeddingSpace): string {
  return `${space.model}/${space.dimensions}`;
}

/** pgvector's text form of a vector: [x,y,...]. */
function vectorText(vector: Float32Array): string {
  return `[${Array.from(vector).join(',')}]`;
}
