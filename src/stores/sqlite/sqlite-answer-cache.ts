// The answer cache in SQLite: exact matches by normalised question, semantic matches by cosine similarity
// (sqlite-vec's vec_distance_cosine). An entry is served only while its documents are unchanged.

import type { DatabaseSync, StatementSync } from 'node:sqlite';
import type { AnswerCacheStore, CachedAnswer, CachedAnswerInput } from '../../core/answer-cache.ts';
import type { DocumentStore, EmbeddingSpace } from '../../core/documents.ts';
import { newCachedAnswer, toCachedAnswer, type CachedAnswerRow } from '../rows/answer-cache.ts';
import { sqliteColumns, type SqliteColumnTypes } from '../rows/columns.ts';
import { toJson, vectorBlob } from './json-columns.ts';

const COLUMNS =
  'id, chatbot_id, scope, conversation_id, echoed_words, normalized_question, question, answer, sources, usage, ' +
  'document_versions, created_at, hits';

type CacheRow = CachedAnswerRow<SqliteColumnTypes>;

export interface SqliteAnswerCacheOptions {
  /** Where the current content hashes of the documents an answer rests on come from. */
  documents: Pick<DocumentStore, 'contentHashes'>;
  /** False when sqlite-vec is not loaded: only exact matches are possible. */
  vectors: boolean;
  /** Oldest entries of a chatbot are evicted beyond this many. */
  maxEntriesPerChatbot?: number;
}

export class SqliteAnswerCache implements AnswerCacheStore {
  private readonly maxEntries: number;
  private readonly statements: Record<
    'exact' | 'insert' | 'hit' | 'remove' | 'clear' | 'forgetConversation' | 'evict',
    StatementSync
  >;
  private readonly similar: StatementSync | undefined;

  private readonly documents: Pick<DocumentStore, 'contentHashes'>;

  constructor(db: DatabaseSync, options: SqliteAnswerCacheOptions) {
    this.documents = options.documents;
    this.maxEntries = options.maxEntriesPerChatbot ?? 10_000;
    this.statements = {
      exact: db.prepare(
        `SELECT ${COLUMNS} FROM answer_cache WHERE chatbot_id = ? AND scope = ? AND normalized_question = ? ORDER BY created_at DESC, rowid DESC LIMIT 5`,
      ),
      insert: db.prepare(`
        INSERT INTO answer_cache (id, chatbot_id, scope, conversation_id, echoed_words, normalized_question,
          question, answer, sources, usage, document_versions, embedding_model, embedding, created_at)
        SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14
        -- One statement: a conversation deleted while its answer streamed can never leave the answer behind.
        WHERE ?4 IS NULL OR EXISTS (SELECT 1 FROM conversations WHERE id = ?4)`),
      hit: db.prepare('UPDATE answer_cache SET hits = hits + 1 WHERE id = ?'),
      remove: db.prepare('DELETE FROM answer_cache WHERE id = ?'),
      clear: db.prepare('DELETE FROM answer_cache WHERE chatbot_id = ?'),
      forgetConversation: db.prepare('DELETE FROM answer_cache WHERE conversation_id = ?'),
      evict: db.prepare(`
        DELETE FROM answer_cache WHERE chatbot_id = ?1 AND id NOT IN (
          SELECT id FROM answer_cache WHERE chatbot_id = ?1 ORDER BY created_at DESC, rowid DESC LIMIT ?2)`),
    };
    this.similar = options.vectors
      ? db.prepare(`
          SELECT ${COLUMNS}, 1 - vec_distance_cosine(embedding, ?) AS similarity FROM answer_cache
          WHERE chatbot_id = ? AND scope = ? AND embedding_model = ? AND length(embedding) = ?
          ORDER BY similarity DESC LIMIT 5`)
      : undefined;
  }

  async findExact(
    chatbotId: string,
    scope: string,
    normalizedQuestion: string,
  ): Promise<CachedAnswer | undefined> {
    const rows = this.statements.exact.all(chatbotId, scope, normalizedQuestion) as unknown as CacheRow[];
    return (await this.firstValid(rows))?.entry;
  }

  async findSimilar(
    chatbotId: string,
    scope: string,
    space: EmbeddingSpace,
    vector: Float32Array,
    minSimilarity: number,
  ): Promise<{ entry: CachedAnswer; similarity: number } | undefined> {
    if (this.similar === undefined) return undefined;
    const rows = this.similar.all(
      vectorBlob(vector),
      chatbotId,
      scope,
      spaceKey(space),
      vector.byteLength,
    ) as unknown as (CacheRow & { similarity: number })[];
    const found = await this.firstValid(rows.filter((row) => row.similarity >= minSimilarity));
    if (found === undefined) return undefined;
    return { entry: found.entry, similarity: found.row.similarity };
  }

  async put(input: CachedAnswerInput): Promise<CachedAnswer | undefined> {
    const entry = newCachedAnswer(input);
    const inserted = this.statements.insert.run(
      entry.id,
      entry.chatbotId,
      entry.scope,
      entry.conversationId,
      JSON.stringify(entry.echoedWords),
      entry.normalizedQuestion,
      entry.question,
      entry.answer,
      JSON.stringify(entry.sources),
      toJson(entry.usage),
      JSON.stringify(entry.documentVersions),
      input.embedding === undefined ? null : spaceKey(input.embedding.space),
      input.embedding === undefined ? null : vectorBlob(input.embedding.vector),
      entry.createdAt,
    );
    if (Number(inserted.changes) === 0) return undefined;
    this.statements.evict.run(entry.chatbotId, this.maxEntries);
    return entry;
  }

  async recordHit(id: string): Promise<void> {
    this.statements.hit.run(id);
  }

  async clear(chatbotId: string): Promise<number> {
    return this.forgetChatbot(chatbotId);
  }

  async forgetConversation(conversationId: string): Promise<number> {
    return this.forgetConversationNow(conversationId);
  }

  /** Synchronous, so the conversation store can forget a conversation's answers inside its own transaction. */
  forgetConversationNow(conversationId: string): number {
    return Number(this.statements.forgetConversation.run(conversationId).changes);
  }

  /** Synchronous, so the chatbot store can forget a chatbot's answers inside its own transaction. */
  forgetChatbot(chatbotId: string): number {
    return Number(this.statements.clear.run(chatbotId).changes);
  }

  /** The first row whose documents all still have the recorded content; stale rows are deleted on the way. */
  private async firstValid<R extends CacheRow>(
    rows: readonly R[],
  ): Promise<{ row: R; entry: CachedAnswer } | undefined> {
    for (const row of rows) {
      const entry = toCachedAnswer(row, sqliteColumns);
      const ids = Object.keys(entry.documentVersions);
      const current = await this.documents.contentHashes(ids);
      if (ids.every((id) => current.get(id) === entry.documentVersions[id])) return { row, entry };
      this.statements.remove.run(entry.id);
    }
    return undefined;
  }
}

function spaceKey(space: EmbeddingSpace): string {
  return `${space.model}/${space.dimensions}`;
}
