// Chatbots in SQLite.

import type { DatabaseSync, StatementSync } from 'node:sqlite';
import {
  withChatbotDefaults,
  type Chatbot,
  RememberedChatbots,
  type RememberedChatbot,
  type ChatbotInput,
  type ChatbotStore,
  type CollectionOwner,
} from '../../core/chatbots.ts';
import { toChatbot, type ChatbotRow } from '../rows/chatbots.ts';
import { sqliteColumns, type SqliteColumnTypes } from '../rows/columns.ts';
import { transaction } from './database.ts';

type Row = ChatbotRow<SqliteColumnTypes>;

/**
 * A chatbots row's version for `lastRead`: every column of the row, as the file's schema has them when the stores
 * open (a migration's new column counts from then on), in one JSON array (the table is STRICT: no BLOB reaches
 * json_array). A row written again with other settings, or deleted and put again, never has the version it had;
 * one rewritten with the very same settings and times is the same chatbot. The conversation store's guarded create
 * compares the same expression inside its write (see createConversation), and a follow-up's conversation read returns
 * it (ConversationForQuestion.chatbotVersion). Columns are named with their table, so inside a subquery on another
 * table none is taken from that one. It holds the whole row, the tools' secrets included: kept in memory and
 * compared, never logged.
 */
export function chatbotVersionSql(db: DatabaseSync): string {
  const columns = (
    db.prepare('SELECT name FROM pragma_table_info(?) ORDER BY cid').all('chatbots') as {
      name: string;
    }[]
  ).map(({ name }) => `"chatbots"."${name.replaceAll('"', '""')}"`);
  return `json_array(${columns.join(', ')})`;
}

export class SqliteChatbotStore implements ChatbotStore {
  private readonly db: DatabaseSync;
  private readonly statements: Record<
    'get' | 'list' | 'put' | 'delete' | 'claimCollection' | 'collectionOwner',
    StatementSync
  >;
  /** Drops a chatbot's cached answers; called inside this store's transactions. */
  private readonly forgetAnswers: (chatbotId: string) => void;
  /**
   * What getChatbot last read, by id, with the row's version (lastRead): a new conversation's create checks the
   * version in its write, and a follow-up compares it with the version its conversation's read found, instead of
   * reading the chatbot first. A read statement costs about 50 us in the server
   * (taking the file's read lock, with cold caches between answers), the check a few inside the write.
   */
  private readonly remembered = new RememberedChatbots();

  constructor(db: DatabaseSync, options: { forgetAnswers: (chatbotId: string) => void }) {
    this.db = db;
    this.forgetAnswers = options.forgetAnswers;
    this.statements = {
      get: db.prepare(`SELECT *, ${chatbotVersionSql(db)} AS version FROM chatbots WHERE id = ?`),
      list: db.prepare('SELECT * FROM chatbots ORDER BY created_at, id'),
      put: db.prepare(`
        INSERT INTO chatbots (id, name, collection_id, system_prompt, temperature, max_tokens, glossary, org_id,
          model, providers, visibility, allowed_origins, limits, tools, created_at, updated_at)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (id) DO UPDATE SET name = excluded.name, collection_id = excluded.collection_id,
          system_prompt = excluded.system_prompt, temperature = excluded.temperature,
          max_tokens = excluded.max_tokens, glossary = excluded.glossary, org_id = excluded.org_id,
          model = excluded.model, providers = excluded.providers, visibility = excluded.visibility, allowed_origins = excluded.allowed_origins,
          limits = excluded.limits, tools = excluded.tools, updated_at = excluded.updated_at
        RETURNING *`),
      delete: db.prepare('DELETE FROM chatbots WHERE id = ?'),
      claimCollection: db.prepare(
        'INSERT OR IGNORE INTO collections (id, org_id, created_at) VALUES (?, ?, ?)',
      ),
      collectionOwner: db.prepare('SELECT org_id FROM collections WHERE id = ?'),
    };
  }

  async getChatbot(id: string): Promise<Chatbot | undefined> {
    const row = this.statements.get.get(id) as (Row & { version: string }) | undefined;
    if (row === undefined) {
      this.remembered.read(id, undefined);
      return undefined;
    }
    const chatbot = toChatbot(row, sqliteColumns);
    this.remembered.read(id, { chatbot, version: row.version });
    return chatbot;
  }

  /**
   * Saves an answer's chatbot read: a new conversation's create checks the version instead, a follow-up's
   * conversation read returns it (ChatService.start).
   */
  lastRead(id: string): RememberedChatbot | undefined {
    return this.remembered.get(id);
  }

  async listChatbots(): Promise<Chatbot[]> {
    return (this.statements.list.all() as unknown as Row[]).map((row) => toChatbot(row, sqliteColumns));
  }

  /** Also forgets the chatbot's cached answers: they were written under its old prompt, glossary or settings. */
  async putChatbot(partial: ChatbotInput): Promise<Chatbot> {
    const input = withChatbotDefaults(partial);
    const now = Date.now();
    this.remembered.forget(input.id);
    const row = transaction(this.db, () => {
      this.forgetAnswers(input.id);
      this.statements.claimCollection.run(input.collectionId, input.orgId, now);
      return this.statements.put.get(
        input.id,
        input.name,
        input.collectionId,
        input.systemPrompt,
        input.temperature,
        input.maxTokens,
        JSON.stringify(input.glossary),
        input.orgId,
        input.model,
        JSON.stringify(input.providers),
        input.visibility,
        JSON.stringify(input.allowedOrigins),
        JSON.stringify(input.limits),
        JSON.stringify(input.tools),
        now,
        now,
      ) as unknown as Row;
    });
    return toChatbot(row, sqliteColumns);
  }

  async collectionOwner(collectionId: string): Promise<CollectionOwner | undefined> {
    const row = this.statements.collectionOwner.get(collectionId) as { org_id: string | null } | undefined;
    return row === undefined ? undefined : { orgId: row.org_id };
  }

  async deleteChatbot(id: string): Promise<boolean> {
    this.remembered.forget(id);
    return transaction(this.db, () => {
      this.forgetAnswers(id);
      return Number(this.statements.delete.run(id).changes) > 0;
    });
  }
}
