// Chatbots in SQLite.

import type { DatabaseSync, StatementSync } from 'node:sqlite';
import {
  withChatbotDefaults,
  type Chatbot,
  type ChatbotInput,
  type ChatbotStore,
  type CollectionOwner,
} from '../../core/chatbots.ts';
import { toChatbot, type ChatbotRow } from '../rows/chatbots.ts';
import { sqliteColumns, type SqliteColumnTypes } from '../rows/columns.ts';
import { transaction } from './database.ts';

type Row = ChatbotRow<SqliteColumnTypes>;

/** Chatbots kept between reads at most (the oldest read is dropped first). */
const KEPT_MAX = 1_000;

export class SqliteChatbotStore implements ChatbotStore {
  private readonly db: DatabaseSync;
  private readonly statements: Record<
    'get' | 'list' | 'put' | 'delete' | 'claimCollection' | 'collectionOwner' | 'dataVersion',
    StatementSync
  >;
  /**
   * Chatbots as last read, by id, while the file's `data_version` is still `keptAt`: every answer reads its chatbot,
   * and reading and converting the row (JSON columns included) cost about 40 us a time in the server. SQLite changes
   * the version when another connection commits (the CLI, another process on the file); this connection's own puts
   * and deletes forget the chatbot themselves. Callers treat a chatbot as read-only (they are shared).
   */
  private readonly kept = new Map<string, Chatbot>();
  private keptAt: unknown;
  /** Drops a chatbot's cached answers; called inside this store's transactions. */
  private readonly forgetAnswers: (chatbotId: string) => void;

  constructor(db: DatabaseSync, options: { forgetAnswers: (chatbotId: string) => void }) {
    this.db = db;
    this.forgetAnswers = options.forgetAnswers;
    this.statements = {
      get: db.prepare('SELECT * FROM chatbots WHERE id = ?'),
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
      dataVersion: db.prepare('PRAGMA data_version'),
    };
  }

  async getChatbot(id: string): Promise<Chatbot | undefined> {
    const version = (this.statements.dataVersion.get() as { data_version: unknown }).data_version;
    if (version === this.keptAt) {
      const kept = this.kept.get(id);
      if (kept !== undefined) return kept;
    } else {
      this.kept.clear();
      this.keptAt = version;
    }
    const row = this.statements.get.get(id) as Row | undefined;
    if (row === undefined) return undefined;
    const chatbot = toChatbot(row, sqliteColumns);
    if (this.kept.size >= KEPT_MAX) {
      const oldest = this.kept.keys().next();
      if (oldest.done !== true) this.kept.delete(oldest.value);
    }
    this.kept.set(id, chatbot);
    return chatbot;
  }

  async listChatbots(): Promise<Chatbot[]> {
    return (this.statements.list.all() as unknown as Row[]).map((row) => toChatbot(row, sqliteColumns));
  }

  /** Also forgets the chatbot's cached answers: they were written under its old prompt, glossary or settings. */
  async putChatbot(partial: ChatbotInput): Promise<Chatbot> {
    const input = withChatbotDefaults(partial);
    const now = Date.now();
    this.kept.delete(input.id);
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
    this.kept.delete(id);
    return transaction(this.db, () => {
      this.forgetAnswers(id);
      return Number(this.statements.delete.run(id).changes) > 0;
    });
  }
}
