// Conversations and messages in SQLite.

import type { DatabaseSync, SQLInputValue, StatementSync } from 'node:sqlite';
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
import { ChatbotChanged } from '../../core/chatbots.ts';
import { newConversation } from '../../core/conversation-ids.ts';
import { sqliteColumns, type SqliteColumnTypes } from '../rows/columns.ts';
import {
  CheckpointedSources,
  toConversation,
  toMessage,
  toTurn,
  type ConversationRow,
  type MessageRow,
  type TurnRow,
} from '../rows/conversations.ts';
import { groupCommit, type GroupCommit } from './database.ts';
import { toJson } from './json-columns.ts';
import { chatbotVersionSql } from './sqlite-chatbot-store.ts';

/**
 * A message's row with its sources (MessageRow, and seq): since migration 11 they are kept in a table of their own,
 * as a streaming answer's row is rewritten by every checkpoint and without its 3 to 4 KB of sources the answers
 * streaming together share their pages. Sources stored before (or by a process of an earlier release) are still in
 * the row; this store writes NULL there whenever it rewrites one.
 */
export const MESSAGE_ROWS = `SELECT messages.seq, messages.id, conversation_id, role, content, created_at, status, run_id,
  finish_reason, error_code, usage, timings, coalesce(message_sources.sources, messages.sources) AS sources, cached,
  metadata, steps
  FROM messages LEFT JOIN message_sources USING (seq)`;

/** The newest `limit` messages of a conversation, oldest first; LIMIT -1 is no limit. */
const NEWEST_MESSAGES = (limit: string): string =>
  `SELECT * FROM (${MESSAGE_ROWS} WHERE conversation_id = ? ORDER BY seq DESC LIMIT ${limit}) ORDER BY seq`;

/** NEWEST_MESSAGES with only the columns of a Turn (listTurns): no sources read, no JSON parsed. */
const NEWEST_TURNS = (limit: string): string =>
  `SELECT role, content, status FROM (
    SELECT seq, role, content, status FROM messages WHERE conversation_id = ? ORDER BY seq DESC LIMIT ${limit}
  ) ORDER BY seq`;

/** How many limits keep a statement of their own, the most recently used (see LimitStatements). */
const LIMIT_STATEMENTS_MAX = 8;

/**
 * A message's values for role ... steps and then run_id, in the column order insertMessage and replaceMessage bind
 * (replaceMessageInRun binds all but the last). Its sources are written apart (see writeSources).
 */
function messageColumns(message: StoredMessage): SQLInputValue[] {
  return [
    message.role,
    message.content,
    message.createdAt,
    message.status ?? null,
    message.finishReason ?? null,
    message.errorCode ?? null,
    toJson(message.usage),
    toJson(message.timings),
    message.cached === undefined ? null : message.cached ? 1 : 0,
    toJson(message.metadata),
    toJson(message.steps),
    message.runId ?? null,
  ];
}

/**
 * Statements whose LIMIT is written into their SQL, one per limit: SQLite re-prepares a statement whose LIMIT is a
 * bound parameter every time it runs (18.6 µs against 1.3 for a conversation without messages). The limits used most
 * recently (the history limit, asked for by every answer, and the pages clients ask for) keep one each, at most
 * LIMIT_STATEMENTS_MAX: a client asking for many different page sizes cannot push the history limit out for good.
 */
class LimitStatements {
  readonly #db: DatabaseSync;
  readonly #sqlOf: (limit: string) => string;
  readonly #byLimit = new Map<number, StatementSync>();

  constructor(db: DatabaseSync, sqlOf: (limit: string) => string) {
    this.#db = db;
    this.#sqlOf = sqlOf;
  }

  /** The statement for `limit`; a limit that is not a whole number of at least 0 is no limit (LIMIT -1). */
  get(limit: number): StatementSync {
    const newest = Number.isSafeInteger(limit) && limit >= 0 ? limit : -1;
    const statements = this.#byLimit;
    let statement = statements.get(newest);
    if (statement === undefined) {
      statement = this.#db.prepare(this.#sqlOf(String(newest)));
      if (statements.size >= LIMIT_STATEMENTS_MAX) {
        // The least recently used goes (Map order: a statement used is moved to the end).
        for (const oldest of statements.keys()) {
          statements.delete(oldest);
          break;
        }
      }
    } else {
      statements.delete(newest);
    }
    statements.set(newest, statement);
    return statement;
  }
}

/** A streaming answer's message id and its row's `seq`. */
type StreamingRow = [id: string, seq: SQLInputValue];

export class SqliteConversationStore implements ConversationStore {
  private readonly statements: Record<
    | 'insert'
    | 'chatbotVersion'
    | 'get'
    | 'listByOwner'
    | 'listByAnonymous'
    | 'getWithCount'
    | 'insertMessage'
    | 'replaceMessage'
    | 'replaceMessageInRun'
    | 'checkpoint'
    | 'checkpointBySeq'
    | 'writeSources'
    | 'dropSources'
    | 'messageByRun'
    | 'statusOf'
    | 'interrupt'
    | 'touch'
    | 'delete'
    | 'rename',
    StatementSync
  >;

  /** The newest messages and the newest turns, by the limit written into their SQL (see LimitStatements). */
  private readonly newestMessages: LimitStatements;
  private readonly newestTurns: LimitStatements;

  /** Drops the cached answers a conversation's questions produced; called inside this store's transactions. */
  private readonly forgetAnswers: (conversationId: string) => void;

  /** Other processes use the file too: see Stores.shared. */
  private readonly shared: boolean;

  /** The sources streaming answers' rows hold from their checkpoints (see CheckpointedSources). */
  private readonly checkpointedSources = new CheckpointedSources();

  /**
   * The row (`seq`) of each streaming answer this store inserted, by message id, from its insert's commit until its
   * final store: a checkpoint updates the row by its rowid instead of looking the id up in its index (random ids: a
   * cold page each, about half of a checkpoint's CPU). The statement checks the id too, so an entry whose row is gone
   * (its conversation deleted, the rowid taken by a later row) or no longer streaming changes nothing: the entry goes
   * and the checkpoint is made by id, as for an answer another process inserted.
   */
  private readonly streamingRows = new Map<string, SQLInputValue>();

  /**
   * Every write goes through the connection's group commit: the answers' writes of one event-loop turn (or of a few
   * milliseconds while the loop stays busy) are one transaction (see GroupCommit), and the writes keep their order.
   */
  private readonly writes: GroupCommit;

  constructor(
    db: DatabaseSync,
    options: { forgetAnswers: (conversationId: string) => void; shared?: boolean },
  ) {
    this.forgetAnswers = options.forgetAnswers;
    this.shared = options.shared ?? false;
    this.writes = groupCommit(db);
    this.newestMessages = new LimitStatements(db, NEWEST_MESSAGES);
    this.newestTurns = new LimitStatements(db, NEWEST_TURNS);
    this.statements = {
      insert: db.prepare(
        'INSERT INTO conversations (id, owner_id, chatbot_id, title, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)',
      ),
      chatbotVersion: db.prepare(`SELECT ${chatbotVersionSql(db)} AS version FROM chatbots WHERE id = ?`),
      get: db.prepare('SELECT * FROM conversations WHERE id = ?'),
      // The chatbot's version too, given only when asked (a few µs of JSON for a follow-up, which asks).
      getWithCount: db.prepare(
        `SELECT *, (SELECT count(*) FROM messages WHERE conversation_id = conversations.id) AS message_count,
          (SELECT ${chatbotVersionSql(db)} FROM chatbots WHERE id = conversations.chatbot_id) AS chatbot_version
        FROM conversations WHERE id = ?`,
      ),
      listByOwner: db.prepare(
        'SELECT * FROM conversations WHERE owner_id = ? AND (updated_at, id) < (?, ?) ORDER BY updated_at DESC, id DESC LIMIT ?',
      ),
      listByAnonymous: db.prepare(
        'SELECT * FROM conversations WHERE owner_id IS NULL AND (updated_at, id) < (?, ?) ORDER BY updated_at DESC, id DESC LIMIT ?',
      ),
      insertMessage: db.prepare(`
        INSERT INTO messages (id, conversation_id, role, content, created_at, status, finish_reason, error_code,
          usage, timings, cached, metadata, steps, run_id)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
      // A column in SET has its index entries rewritten even when its value stays: the answer's run id (the usual
      // case) is left out, which spares a page of messages_by_run per answer.
      replaceMessageInRun: db.prepare(`
        UPDATE messages SET role = ?, content = ?, created_at = ?, status = ?, finish_reason = ?, error_code = ?,
          usage = ?, timings = ?, cached = ?, metadata = ?, steps = ?, checkpointed_at = ?, sources = NULL
        WHERE id = ? AND conversation_id = ? AND run_id IS ?
        RETURNING seq`),
      replaceMessage: db.prepare(`
        UPDATE messages SET role = ?, content = ?, created_at = ?, status = ?, finish_reason = ?, error_code = ?,
          usage = ?, timings = ?, cached = ?, metadata = ?, steps = ?, run_id = ?, checkpointed_at = ?,
          sources = NULL
        WHERE id = ? AND conversation_id = ?
        RETURNING seq`),
      // Only while streaming: a checkpoint that lands after the final store must not undo it.
      checkpoint: db.prepare(
        "UPDATE messages SET content = ?, checkpointed_at = ? WHERE id = ? AND status = 'streaming' RETURNING seq",
      ),
      checkpointBySeq: db.prepare(
        "UPDATE messages SET content = ?, checkpointed_at = ? WHERE seq = ? AND id = ? AND status = 'streaming'",
      ),
      // Sources the row already holds are not written again: the final store of an answer a checkpoint saved with
      // its sources writes no page for them.
      writeSources: db.prepare(`
        INSERT INTO message_sources (seq, sources) VALUES (?, ?)
        ON CONFLICT (seq) DO UPDATE SET sources = excluded.sources WHERE sources <> excluded.sources`),
      dropSources: db.prepare('DELETE FROM message_sources WHERE seq = ?'),
      messageByRun: db.prepare(`${MESSAGE_ROWS} WHERE run_id = ? ORDER BY seq DESC LIMIT 1`),
      statusOf: db.prepare('SELECT status FROM messages WHERE id = ?'),
      interrupt: db.prepare(
        "UPDATE messages SET status = 'interrupted', finish_reason = 'aborted', error_code = 'RUN_INTERRUPTED' WHERE status = 'streaming' AND coalesce(checkpointed_at, created_at) < ?",
      ),
      touch: db.prepare(
        'UPDATE conversations SET updated_at = max(updated_at, ?), title = coalesce(title, ?) WHERE id = ?',
      ),
      delete: db.prepare('DELETE FROM conversations WHERE id = ?'),
      rename: db.prepare('UPDATE conversations SET title = ? WHERE id = ?'),
    };
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
    const streaming = await this.writes.run(() => {
      // In the write (which holds the file's write lock): nobody changes the chatbot between this check and the
      // insert, and a refusal stores nothing.
      if (version !== undefined) {
        const row = this.statements.chatbotVersion.get(chatbotId) as { version: string } | undefined;
        if (row?.version !== version) throw new ChatbotChanged(chatbotId);
      }
      // Inserted with its title and updatedAt already those its first messages give it: no update after them.
      this.statements.insert.run(id, ownerId, chatbotId, title, createdAt, updatedAt);
      return this.insertMessages(messages);
    });
    this.rememberStreaming(streaming);
    return conversation;
  }

  async getConversation(id: string): Promise<Conversation | undefined> {
    const row = this.statements.get.get(id) as ConversationRow | undefined;
    return row === undefined ? undefined : toConversation(row);
  }

  async listConversations(
    ownerId: string | null,
    options: { limit?: number; after?: ConversationCursor } = {},
  ): Promise<Conversation[]> {
    const after = options.after ?? { updatedAt: Number.MAX_SAFE_INTEGER, id: '' };
    const limit = options.limit ?? 50;
    const rows = (ownerId === null
      ? this.statements.listByAnonymous.all(after.updatedAt, after.id, limit)
      : this.statements.listByOwner.all(
          ownerId,
          after.updatedAt,
          after.id,
          limit,
        )) as unknown as ConversationRow[];
    return rows.map(toConversation);
  }

  async listMessages(conversationId: string, limit = -1): Promise<StoredMessage[]> {
    const rows = this.newestMessages
      .get(limit)
      .all(conversationId) as unknown as MessageRow<SqliteColumnTypes>[];
    return rows.map((row) => toMessage(row, sqliteColumns));
  }

  async listTurns(conversationId: string, limit: number): Promise<Turn[]> {
    const rows = this.newestTurns.get(limit).all(conversationId) as unknown as TurnRow[];
    return rows.map(toTurn);
  }

  async getConversationForQuestion(
    id: string,
    options: { turns?: number; chatbotVersion?: boolean } = {},
  ): Promise<ConversationForQuestion | undefined> {
    const row = this.statements.getWithCount.get(id) as
      (ConversationRow & { message_count: number; chatbot_version: string | null }) | undefined;
    if (row === undefined) return undefined;
    const found: ConversationForQuestion = {
      conversation: toConversation(row),
      messageCount: row.message_count,
    };
    if (options.chatbotVersion === true && row.chatbot_version !== null)
      found.chatbotVersion = row.chatbot_version;
    // The generation is not read here: SQLite's ranking reads it in-process, at no round trip's cost.
    if (options.turns !== undefined) found.turns = await this.listTurns(id, options.turns);
    return found;
  }

  async appendMessage(message: StoredMessage): Promise<void> {
    return this.appendMessages([message]);
  }

  async appendMessages(messages: readonly StoredMessage[]): Promise<void> {
    const { conversationId, updatedAt, title } = appendedTo(messages);
    if (conversationId === undefined) return;
    const streaming = await this.writes.run(() => {
      const rows = this.insertMessages(messages);
      this.statements.touch.run(updatedAt, title, conversationId);
      return rows;
    });
    this.rememberStreaming(streaming);
  }

  /** Inserts the messages; returns the streaming ones' rows, to be remembered once the write commits. */
  private insertMessages(messages: readonly StoredMessage[]): StreamingRow[] {
    const streaming: StreamingRow[] = [];
    for (const message of messages) {
      const { lastInsertRowid } = this.statements.insertMessage.run(
        message.id,
        message.conversationId,
        ...messageColumns(message),
      );
      if (message.status === 'streaming') streaming.push([message.id, lastInsertRowid]);
      if (message.sources !== undefined)
        this.statements.writeSources.run(lastInsertRowid, toJson(message.sources));
    }
    return streaming;
  }

  /** The message `seq`'s sources: those given, or none. */
  private replaceSources(seq: SQLInputValue, sources: StoredMessage['sources']): void {
    if (sources === undefined) this.statements.dropSources.run(seq);
    else this.statements.writeSources.run(seq, toJson(sources));
  }

  async replaceMessage(message: StoredMessage): Promise<boolean> {
    const now = Date.now();
    const sourcesHeld = this.checkpointedSources.takeHeld(message);
    this.streamingRows.delete(message.id);
    return this.writes.run(() => {
      // The row's sources stay while it is still the streaming answer this process's checkpoints saved: another
      // process that took its owner for dead may have ended it meanwhile with what it read (see CheckpointedSources).
      const keepSources =
        sourcesHeld &&
        (this.statements.statusOf.get(message.id) as { status: string | null } | undefined)?.status ===
          'streaming';
      const columns = messageColumns(message);
      const runId = columns.pop() as SQLInputValue;
      const row =
        this.statements.replaceMessageInRun.get(...columns, now, message.id, message.conversationId, runId) ??
        this.statements.replaceMessage.get(...columns, runId, now, message.id, message.conversationId);
      if (row === undefined) return false;
      if (!keepSources) this.replaceSources(row.seq as SQLInputValue, message.sources);
      this.statements.touch.run(now, null, message.conversationId);
      return true;
    });
  }

  async checkpointMessage(id: string, progress: AnswerProgress): Promise<void> {
    return this.checkpointMessages([{ id, ...progress }]);
  }

  async checkpointMessages(checkpoints: readonly MessageCheckpoint[]): Promise<void> {
    const now = Date.now();
    const stored: MessageCheckpoint[] = [];
    const save = (): void => {
      for (const checkpoint of checkpoints) {
        const seq = this.savedRow(checkpoint, now);
        if (seq === undefined || checkpoint.sources === undefined) continue;
        this.statements.writeSources.run(seq, toJson(checkpoint.sources));
        stored.push(checkpoint);
      }
    };
    // One transaction for the lot: one commit, and each page the answers share written once.
    if (checkpoints.length === 0) return;
    await this.writes.run(save);
    for (const { id, sources } of stored) this.checkpointedSources.remember(id, sources);
  }

  private rememberStreaming(rows: readonly StreamingRow[]): void {
    for (const [id, seq] of rows) this.streamingRows.set(id, seq);
  }

  /** Saves a checkpoint's text in its answer's row while that is streaming; the row's `seq`, or undefined. */
  private savedRow(checkpoint: MessageCheckpoint, now: number): SQLInputValue | undefined {
    const { id, content } = checkpoint;
    const seq = this.streamingRows.get(id);
    if (seq !== undefined) {
      if (this.statements.checkpointBySeq.run(content, now, seq, id).changes > 0) return seq;
      // Ended meanwhile (by another process, or a delete), or not in that row: found by id from now on.
      this.streamingRows.delete(id);
    }
    return this.statements.checkpoint.get(content, now, id)?.seq;
  }

  async findMessageByRun(runId: string): Promise<StoredMessage | undefined> {
    const row = this.statements.messageByRun.get(runId) as MessageRow<SqliteColumnTypes> | undefined;
    return row === undefined ? undefined : toMessage(row, sqliteColumns);
  }

  async interruptStreamingMessages(): Promise<number> {
    // Alone on the file, no other process can be writing an answer: every one left streaming was cut.
    const savedBefore = this.shared ? Date.now() - STREAMING_STALE_AFTER_MS : Number.MAX_SAFE_INTEGER;
    return this.writes.run(() => Number(this.statements.interrupt.run(savedBefore).changes));
  }

  async renameConversation(id: string, title: string): Promise<boolean> {
    return this.writes.run(() => Number(this.statements.rename.run(title, id).changes) > 0);
  }

  async deleteConversation(id: string): Promise<boolean> {
    return this.writes.run(() => {
      this.forgetAnswers(id);
      return Number(this.statements.delete.run(id).changes) > 0;
    });
  }
}
