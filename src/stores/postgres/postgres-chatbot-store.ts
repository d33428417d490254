// Chatbots and the owners of their collections in PostgreSQL. Putting or deleting a chatbot forgets its cached
// answers in the same statement, so no reader sees the new settings with the old answers.

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
import { postgresColumns, type PostgresColumnTypes } from '../rows/columns.ts';
import { pgJson, pgText, type Sql } from './database.ts';

type Row = ChatbotRow<PostgresColumnTypes>;

/**
 * A chatbots row's version for `lastRead`: its xmin changes with every write of the row (and updated_at with every
 * put), so a row put again, or deleted and put again, never has the version it had. The conversation store's guarded
 * create compares the same expression.
 */
export const CHATBOT_VERSION_SQL = `chatbots.xmin::text || ':' || chatbots.updated_at::text`;

function textOrNull(value: string | null): string | null {
  return value === null ? null : pgText(value);
}

export class PostgresChatbotStore implements ChatbotStore {
  private readonly sql: Sql;
  /** What getChatbot last read, by id, with the row's version (lastRead). */
  private readonly remembered = new RememberedChatbots();

  constructor(sql: Sql) {
    this.sql = sql;
  }

  async getChatbot(id: string): Promise<Chatbot | undefined> {
    const [row] = await this.sql<(Row & { version: string })[]>`
      SELECT *, ${this.sql.unsafe(CHATBOT_VERSION_SQL)} AS version FROM chatbots WHERE id = ${pgText(id)}`;
    if (row === undefined) {
      this.remembered.read(id, undefined);
      return undefined;
    }
    const chatbot = toChatbot(row, postgresColumns);
    this.remembered.read(id, { chatbot, version: row.version });
    return chatbot;
  }

  /** Saves an answer's chatbot read: a new conversation's create checks the version instead (ChatService.start). */
  lastRead(id: string): RememberedChatbot | undefined {
    return this.remembered.get(id);
  }

  async listChatbots(): Promise<Chatbot[]> {
    const rows = await this.sql<Row[]>`SELECT * FROM chatbots ORDER BY created_at, id`;
    return rows.map((row) => toChatbot(row, postgresColumns));
  }

  /**
   * Also forgets the chatbot's cached answers (they were written under its old prompt, glossary or settings) and
   * claims its collection for its organisation when nobody owns it yet: one statement, so all or nothing.
   */
  async putChatbot(partial: ChatbotInput): Promise<Chatbot> {
    const input = withChatbotDefaults(partial);
    this.remembered.forget(input.id);
    const id = pgText(input.id);
    const collectionId = pgText(input.collectionId);
    const orgId = textOrNull(input.orgId);
    const now = Date.now();
    const [row] = await this.sql<Row[]>`
      WITH forgotten AS (
        DELETE FROM answer_cache WHERE chatbot_id = ${id}
      ),
      claimed AS (
        INSERT INTO collections (id, org_id, created_at) VALUES (${collectionId}, ${orgId}, ${now})
        ON CONFLICT (id) DO NOTHING
      )
      INSERT INTO chatbots (id, name, collection_id, system_prompt, temperature, max_tokens, glossary, org_id,
        model, providers, visibility, allowed_origins, limits, tools, created_at, updated_at)
      VALUES (${id}, ${pgText(input.name)}, ${collectionId}, ${textOrNull(input.systemPrompt)},
        ${input.temperature}, ${input.maxTokens}, ${pgJson(input.glossary)}::text::jsonb, ${orgId},
        ${textOrNull(input.model)}, ${pgJson(input.providers)}::text::jsonb, ${input.visibility},
        ${pgJson(input.allowedOrigins)}::text::jsonb, ${pgJson(input.limits)}::text::jsonb, ${pgJson(input.tools)}::text::jsonb,
        ${now}, ${now})
      ON CONFLICT (id) DO UPDATE SET name = excluded.name, collection_id = excluded.collection_id,
        system_prompt = excluded.system_prompt, temperature = excluded.temperature,
        max_tokens = excluded.max_tokens, glossary = excluded.glossary, org_id = excluded.org_id,
        model = excluded.model, providers = excluded.providers, visibility = excluded.visibility,
        allowed_origins = excluded.allowed_origins, limits = excluded.limits, tools = excluded.tools,
        updated_at = excluded.updated_at
      RETURNING *`;
    if (row === undefined) throw new Error(`chatbot ${input.id} was not stored`);
    return toChatbot(row, postgresColumns);
  }

  async collectionOwner(collectionId: string): Promise<CollectionOwner | undefined> {
    const [row] = await this.sql<{ org_id: string | null }[]>`
      SELECT org_id FROM collections WHERE id = ${pgText(collectionId)}`;
    return row === undefined ? undefined : { orgId: row.org_id };
  }

  async deleteChatbot(id: string): Promise<boolean> {
    this.remembered.forget(id);
    const key = pgText(id);
    const result = await this.sql`
      WITH forgotten AS (
        DELETE FROM answer_cache WHERE chatbot_id = ${key}
      )
      DELETE FROM chatbots WHERE id = ${key}`;
    return result.count > 0;
  }
}
