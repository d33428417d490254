// Conversations and messages in PostgreSQL. Each call the answer's hot path makes (appendMessage, checkpointMessage,
// replaceMessage, listMessages) is one statement.

import { ChatbotChanged } from '../../core/chatbots.ts';
import {
  appendedTo,
  type AnswerProgress,
  type Conversation,
  type CreateConversationOptions,
  type ConversationCursor,
  type ConversationForQuestion,
  type ConversationStore,
  type MessageCheckpoint,
  type StoredMessage,
  STREAMING_STALE_AFTER_MS,
  type Turn,
} from '../../core/conversation-store.ts';
import { newConversation } from '../../core/conversation-ids.ts';
import { postgresColumns, type PostgresColumnTypes } from '../rows/columns.ts';
import {
  CheckpointedSources,
  toConversation,
  toMessage,
  toTurn,
  type ConversationRow,
  type MessageRow,
  type TurnRow,
} from '../rows/conversations.ts';
import type { Fragment } from 'postgres';
import { abortable } from './abortable.ts';
import { pgJson, pgText, type Sql } from './database.ts';
import { CHATBOT_VERSION_SQL } from './postgres-chatbot-store.ts';

/** The columns a message is inserted with, in messageRows' order (both INSERTs of createConversation name them). */
const MESSAGE_COLUMNS = `(id, conversation_id, role, content, created_at, status, run_id, finish_reason, error_code,
  usage, timings, sources, cached, metadata, steps)`;

/** A JSON column's value: undefined and null are SQL NULL. */
function jsonOrNull(value: unknown): string | null {
  return value === undefined || value === null ? null : pgJson(value);
}

export class PostgresConversationStore implements ConversationStore {
  private readonly sql: Sql;
  /** The sources streaming answers' rows hold from their checkpoints (see CheckpointedSources). */
  private readonly checkpointedSources = new CheckpointedSources();

  constructor(sql: Sql) {
    this.sql = sql;
  }

  async createConversation(
    ownerId: string | null,
    chatbotId: string,
    chosenId?: string,
    messages: readonly StoredMessage[] = [],
    options: CreateConversationOptions = {},
  ): Promise<Conversation> {
    const conversation = newConversation(chosenId, ownerId, chatbotId, messages);
    const { id, title, createdAt, updatedAt } = conversation;
    const version = options.ifChatbotVersion;
    if (version !== undefined) {
      await this.createIfChatbot(conversation, version, messages, options.readGeneration);
      return conversation;
    }
    // Inserted with its title and updatedAt already those its first messages give it; the messages in the same
    // statement (one round trip, one transaction): the foreign key sees the conversation at the statement's end.
    const inserted = this.sql`
      INSERT INTO conversations (id, owner_id, chatbot_id, title, created_at, updated_at)
      VALUES (${pgText(id)}, ${ownerId === null ? null : pgText(ownerId)}, ${pgText(chatbotId)},
        ${title === null ? null : pgText(title)}::text, ${createdAt}, ${updatedAt})`;
    await (messages.length === 0
      ? inserted
      : this.sql`WITH conversation AS (${inserted}) ${this.insertMessages(messages)}`);
    return conversation;
  }

  /**
   * createConversation's statement, done only while the chatbot's row has `version` (checked in the same statement,
   * so the answer never runs on settings older than the row it was stored against); otherwise ChatbotChanged.
   */
  private async createIfChatbot(
    conversation: Conversation,
    version: string,
    messages: readonly StoredMessage[],
    readGeneration: CreateConversationOptions['readGeneration'],
  ): Promise<void> {
    const { id, ownerId, chatbotId, title, createdAt, updatedAt } = conversation;
    const guarded = this.sql`
      WITH chatbot AS (
        SELECT 1 FROM chatbots
        WHERE id = ${pgText(chatbotId)} AND ${this.sql.unsafe(CHATBOT_VERSION_SQL)} = ${version}::text
      ),
      conversation AS (
        INSERT INTO conversations (id, owner_id, chatbot_id, title, created_at, updated_at)
        SELECT ${pgText(id)}::text, ${ownerId === null ? null : pgText(ownerId)}::text, ${pgText(chatbotId)}::text,
          ${title === null ? null : pgText(title)}::text, ${createdAt}::bigint, ${updatedAt}::bigint
        WHERE EXISTS (SELECT 1 FROM chatbot)
        RETURNING id
      )`;
    // With readGeneration: the collection's generation in the same snapshot, taken after the question arrived.
    const returning =
      readGeneration === undefined
        ? this.sql``
        : this.sql`RETURNING (SELECT generation FROM lexical_collections
            WHERE collection_id = ${pgText(readGeneration.collectionId)}) AS generation`;
    const result =
      messages.length === 0
        ? await this.sql<{ n: number }[]>`${guarded} SELECT count(*)::int AS n FROM conversation`
        : await this.sql<{ generation: number | null }[]>`${guarded}
            INSERT INTO messages ${this.sql.unsafe(MESSAGE_COLUMNS)}
            SELECT * FROM (VALUES ${this.messageRows(messages)}) AS first
            WHERE EXISTS (SELECT 1 FROM conversation) ${returning}`;
    const stored = messages.length === 0 ? ((result[0] as { n: number } | undefined)?.n ?? 0) : result.count;
    if (stored === 0) throw new ChatbotChanged(chatbotId);
    if (readGeneration !== undefined && messages.length > 0) {
      readGeneration.read((result[0] as { generation: number | null } | undefined)?.generation ?? undefined);
    }
  }
  async getConversation(id: string): Promise<Conversation | undefined> {
    const [row] = await this.sql<ConversationRow[]>`SELECT * FROM conversations WHERE id = ${pgText(id)}`;
    return row === undefined ? undefined : toConversation(row);
  }

  async listConversations(
    ownerId: string | null,
    options: { limit?: number; after?: ConversationCursor } = {},
  ): Promise<Conversation[]> {
    const after = options.after ?? { updatedAt: Number.MAX_SAFE_INTEGER, id: '' };
    const owner = ownerId === null ? this.sql`owner_id IS NULL` : this.sql`owner_id = ${pgText(ownerId)}`;
    const rows = await this.sql<ConversationRow[]>`
      SELECT * FROM conversations
      WHERE ${owner} AND (updated_at, id) < (${after.updatedAt}::bigint, ${pgText(after.id)}::text)
      ORDER BY updated_at DESC, id DESC
      LIMIT ${options.limit ?? 50}`;
    return rows.map(toConversation);
  }

  async listMessages(conversationId: string, limit?: number, signal?: AbortSignal): Promise<StoredMessage[]> {
    // LIMIT NULL is no limit, as SQLite's LIMIT -1 is.
    const newest = limit === undefined || !Number.isFinite(limit) || limit < 0 ? null : limit;
    const rows = await abortable(
      this.sql<MessageRow<PostgresColumnTypes>[]>`
        SELECT * FROM (
          SELECT * FROM messages WHERE conversation_id = ${pgText(conversationId)} ORDER BY seq DESC LIMIT ${newest}
        ) AS newest
        ORDER BY seq`,
      signal,
    );
    return rows.map((row) => toMessage(row, postgresColumns));
  }

  async listTurns(conversationId: string, limit: number, signal?: AbortSignal): Promise<Turn[]> {
    const rows = await abortable(
      this.sql<TurnRow[]>`
        SELECT role, content, status FROM (${this.newestTurns(this.sql`${pgText(conversationId)}`, limit)}) AS newest
        ORDER BY seq`,
      signal,
    );
    return rows.map(toTurn);
  }

  /**
   * The newest `limit` messages of the conversation whose id `conversationId` gives (a value, or a column of an outer
   * query), newest first, with what a turn holds and its seq: listTurns' rows (and a follow-up's, with its
   * conversation). A limit that is not a whole number from 0 means no limit.
   */
  private newestTurns(conversationId: Fragment, limit: number): Fragment {
    const newest = Number.isSafeInteger(limit) && limit >= 0 ? limit : null;
    return this.sql`SELECT seq, role, content, status FROM messages WHERE conversation_id = ${conversationId}
      ORDER BY seq DESC LIMIT ${newest}`;
  }

  async getConversationForQuestion(
    id: string,
    options: { turns?: number; generation?: boolean; chatbotVersion?: boolean } = {},
  ): Promise<ConversationForQuestion | undefined> {
    const { turns, generation, chatbotVersion } = options;
    // One statement (one round trip, one snapshot) for all a follow-up needs before it starts; its chatbot's row
    // joined once for its collection and version.
    const [row] = await this.sql<
      (ConversationRow & {
        message_count: number;
        turns: TurnRow[] | null;
        lexical_collection: string | null;
        generation: number | null;
        chatbot_version: string | null;
      })[]
    >`
      SELECT conversations.*,
        (SELECT count(*) FROM messages WHERE conversation_id = conversations.id) AS message_count,
        ${
          turns === undefined
            ? this.sql`NULL::json`
            : this.sql`(SELECT coalesce(json_agg(json_build_object('role', role, 'content', content,
                'status', status) ORDER BY seq), '[]'::json)
                FROM (${this.newestTurns(this.sql`conversations.id`, turns)}) AS newest)`
        } AS turns,
        ${generation === true ? this.sql`chatbots.collection_id` : this.sql`NULL::text`} AS lexical_collection,
        ${
          generation === true
            ? this.sql`(SELECT l.generation FROM lexical_collections AS l
                WHERE l.collection_id = chatbots.collection_id)`
            : this.sql`NULL::bigint`
        } AS generation,
        ${
          chatbotVersion === true ? this.sql.unsafe(CHATBOT_VERSION_SQL) : this.sql`NULL::text`
        } AS chatbot_version
      FROM conversations LEFT JOIN chatbots ON chatbots.id = conversations.chatbot_id
      WHERE conversations.id = ${pgText(id)}`;
    if (row === undefined) return undefined;
    const found: ConversationForQuestion = {
      conversation: toConversation(row),
      messageCount: row.message_count,
    };
    if (row.turns !== null) found.turns = row.turns.map(toTurn);
    if (row.chatbot_version !== null) found.chatbotVersion = row.chatbot_version;
    if (row.lexical_collection !== null) {
      found.lexical = { collectionId: row.lexical_collection, generation: row.generation ?? undefined };
    }
    return found;
  }

  async appendMessage(message: StoredMessage): Promise<void> {
    return this.appendMessages([message]);
  }

  async appendMessages(messages: readonly StoredMessage[]): Promise<void> {
    const { conversationId, updatedAt, title } = appendedTo(messages);
    if (conversationId === undefined) return;
    // One statement, so one round trip and one transaction. A message for a conversation that does not exist fails
    // on the foreign key.
    await this.sql`
      WITH inserted AS (${this.insertMessages(messages)} RETURNING conversation_id)
      UPDATE conversations SET updated_at = greatest(updated_at, ${updatedAt}::bigint),
        title = coalesce(title, ${title === null ? null : pgText(title)}::text)
      WHERE id = ${pgText(conversationId)} AND EXISTS (SELECT 1 FROM inserted)`;
  }

  /** The INSERT of `messages` (one or more): a multi-row VALUES keeps their order in seq. */
  private insertMessages(messages: readonly StoredMessage[]) {
    return this.sql`
      INSERT INTO messages ${this.sql.unsafe(MESSAGE_COLUMNS)}
      VALUES ${this.messageRows(messages)}`;
  }

  /** `messages` as the rows of a VALUES list, typed as their columns (so a VALUES in FROM reads them alike). */
  private messageRows(messages: readonly StoredMessage[]) {
    return messages
      .map(
        (message) => this.sql`(${pgText(message.id)}::text, ${pgText(message.conversationId)}::text,
          ${message.role}::text, ${pgText(message.content)}::text, ${message.createdAt}::bigint,
          ${message.status ?? null}::text, ${message.runId ?? null}::text, ${message.finishReason ?? null}::text,
          ${message.errorCode ?? null}::text, ${jsonOrNull(message.usage)}::text::jsonb,
          ${jsonOrNull(message.timings)}::text::jsonb, ${jsonOrNull(message.sources)}::text::jsonb,
          ${message.cached ?? null}::boolean, ${jsonOrNull(message.metadata)}::text::jsonb,
          ${jsonOrNull(message.steps)}::text::jsonb)`,
      )
      .reduce((list, row) => this.sql`${list}, ${row}`);
  }

  async replaceMessage(message: StoredMessage): Promise<boolean> {
    // Sources the row holds from this process's checkpoint stay (not sent, parsed and stored again), while the row is
    // still the streaming answer those checkpoints saved: another instance that took its owner for dead may have
    // ended it meanwhile with what it read (see CheckpointedSources). Otherwise, or if it did, they are written.
    if (this.checkpointedSources.takeHeld(message) && (await this.rewriteMessage(message, true))) return true;
    return this.rewriteMessage(message, false);
  }

  /** replaceMessage's statement; `keepSources`: leave the row's sources, and only while it is still streaming. */
  private async rewriteMessage(message: StoredMessage, keepSources: boolean): Promise<boolean> {
    const now = Date.now();
    const sources = keepSources
      ? this.sql`messages.sources`
      : this.sql`${jsonOrNull(message.sources)}::text::jsonb`;
    const [row] = await this.sql<{ n: number }[]>`
      WITH replaced AS (
        UPDATE messages SET role = ${message.role}, content = ${pgText(message.content)},
          created_at = ${message.createdAt}, status = ${message.status ?? null}, run_id = ${message.runId ?? null},
          finish_reason = ${message.finishReason ?? null}, error_code = ${message.errorCode ?? null},
          usage = ${jsonOrNull(message.usage)}::text::jsonb, timings = ${jsonOrNull(message.timings)}::text::jsonb,
          sources = ${sources}, cached = ${message.cached ?? null}::boolean,
          metadata = ${jsonOrNull(message.metadata)}::text::jsonb, steps = ${jsonOrNull(message.steps)}::text::jsonb,
          checkpointed_at = ${now}
        WHERE id = ${pgText(message.id)} AND conversation_id = ${pgText(message.conversationId)}
          ${keepSources ? this.sql`AND status = 'streaming'` : this.sql``}
        RETURNING conversation_id
      ),
      touched AS (
        UPDATE conversations SET updated_at = greatest(updated_at, ${now}::bigint)
        WHERE id IN (SELECT conversation_id FROM replaced)
      )
      SELECT count(*) AS n FROM replaced`;
    return (row?.n ?? 0) > 0;
  }

  async checkpointMessage(id: string, progress: AnswerProgress): Promise<void> {
    return this.checkpointMessages([{ id, ...progress }]);
  }

  async checkpointMessages(checkpoints: readonly MessageCheckpoint[]): Promise<void> {
    if (checkpoints.length === 0) return;
    // One statement for the lot (one round trip); only while streaming: a checkpoint that lands after the final
    // store must not undo it. The rows that took sources are returned, so the final store can keep them.
    const stored = await this.sql<{ id: string }[]>`
      WITH saved_rows AS (
        UPDATE messages SET content = saved.content, sources = coalesce(saved.sources::jsonb, messages.sources),
          checkpointed_at = ${Date.now()}
        FROM unnest(
          ${checkpoints.map((checkpoint) => pgText(checkpoint.id))}::text[],
          ${checkpoints.map((checkpoint) => pgText(checkpoint.content))}::text[],
          ${checkpoints.map((checkpoint) => jsonOrNull(checkpoint.sources))}::text[]
        ) AS saved(id, content, sources)
        WHERE messages.id = saved.id AND messages.status = 'streaming'
        RETURNING messages.id, saved.sources IS NOT NULL AS with_sources
      )
      SELECT id FROM saved_rows WHERE with_sources`;
    if (stored.length === 0) return;
    const sourcesOf = new Map(checkpoints.map((checkpoint) => [checkpoint.id, checkpoint.sources]));
    for (const { id } of stored) this.checkpointedSources.remember(id, sourcesOf.get(id));
  }

  async findMessageByRun(runId: string): Promise<StoredMessage | undefined> {
    const [row] = await this.sql<MessageRow<PostgresColumnTypes>[]>`
      SELECT * FROM messages WHERE run_id = ${pgText(runId)} ORDER BY seq DESC LIMIT 1`;
    return row === undefined ? undefined : toMessage(row, postgresColumns);
  }

  async interruptStreamingMessages(): Promise<number> {
    const result = await this.sql`
      UPDATE messages SET status = 'interrupted', finish_reason = 'aborted', error_code = 'RUN_INTERRUPTED'
      WHERE status = 'streaming'
        AND coalesce(checkpointed_at, created_at) < ${Date.now() - STREAMING_STALE_AFTER_MS}::bigint`;
    return result.count;
  }

  async renameConversation(id: string, title: string): Promise<boolean> {
    const updated = await this
      .sql`UPDATE conversations SET title = ${pgText(title)} WHERE id = ${pgText(id)}`;
    return updated.count > 0;
  }

  async deleteConversation(id: string): Promise<boolean> {
    const key = pgText(id);
    return this.sql.begin(async (tx) => {
      // The conversation first: its row lock makes a concurrent answer-cache put (which locks the row it checks)
      // either finish before the cache is cleared below or find the conversation gone.
      const deleted = await tx`DELETE FROM conversations WHERE id = ${key}`;
      await tx`DELETE FROM answer_cache WHERE conversation_id = ${key}`;
      return deleted.count > 0;
    });
  }
}
