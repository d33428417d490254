// Export and import for PostgreSQL (DATABASE_URL): tables read through cursors in one REPEATABLE READ snapshot, and
// records written in one transaction, each batch as one INSERT from a JSON array (jsonb_to_recordset), so a batch is
// one round trip and one parameter whatever its size.

import type { TransactionSql } from 'postgres';
import { DEFAULT_CHATBOT_ID } from '../../core/chatbots.ts';
import { connect, enableVectors, migrate, pgJson, storeError, type Sql } from '../postgres/database.ts';
import {
  emptyCounts,
  type ExportRecord,
  type ExportedChatbot,
  type ExportedChunk,
  type ExportedDocument,
  type ExportedMessage,
  type ExportedEmbeddingSpace,
  type RecordBatch,
  type RecordCounts,
  type RecordOf,
} from './format.ts';
import { PostgresChunkSink, readSpaceRecord, vectorReader } from './postgres-chunks.ts';
import type {
  SourceSnapshot,
  TargetContents,
  TargetWriter,
  TransferSource,
  TransferTarget,
} from './transfer-backend.ts';

// Rows as the driver returns them: BIGINT as number (database.ts), JSONB parsed, BYTEA as Buffer, BOOLEAN as boolean.
interface CollectionRow {
  id: string;
  org_id: string | null;
  created_at: number;
}

interface ChatbotRow {
  id: string;
  name: string;
  collection_id: string;
  system_prompt: string | null;
  temperature: number | null;
  max_tokens: number | null;
  glossary: ExportedChatbot['glossary'];
  org_id: string | null;
  model: string | null;
  providers: string[];
  visibility: string;
  allowed_origins: string[];
  limits: ExportedChatbot['limits'];
  created_at: number;
  updated_at: number;
}

interface ApiKeyRow {
  id: string;
  name: string;
  org_id: string | null;
  admin: boolean;
  secret_hash: Uint8Array;
  created_at: number;
  last_used_at: number | null;
  revoked_at: number | null;
}

interface TokenUsageRow {
  day: string;
  scope: string;
  subject: string;
  tokens: number;
}

interface DocumentRow {
  id: string;
  collection_id: string;
  source: string;
  title: string;
  media_type: string;
  content_hash: string;
  embedding_model: string | null;
  metadata: ExportedDocument['metadata'];
  chunk_count: number;
  bytes: number;
  owner_id: string | null;
  created_at: number;
  updated_at: number;
}

interface ChunkRow {
  rowid: number;
  id: string;
  document_id: string;
  ordinal: number;
  heading: string;
  text: string;
  metadata: ExportedChunk['metadata'];
}

interface ConversationRow {
  id: string;
  owner_id: string | null;
  chatbot_id: string;
  title: string | null;
  created_at: number;
  updated_at: number;
}

interface MessageRow {
  id: string;
  conversation_id: string;
  role: string;
  content: string;
  created_at: number;
  status: ExportedMessage['status'];
  run_id: string | null;
  finish_reason: string | null;
  error_code: string | null;
  usage: ExportedMessage['usage'];
  timings: ExportedMessage['timings'];
  sources: ExportedMessage['sources'];
  cached: boolean | null;
  metadata: ExportedMessage['metadata'];
}

/** Rows fetched per cursor round trip while exporting. */
const CURSOR_ROWS = 500;

/** Connects, migrates the database to the code's schema and enables pgvector when the server has it. */
export async function openPostgresTransfer(url: string): Promise<PostgresTransfer> {
  // One connection: export and import each run in one transaction. A long export holds its cursors for minutes, but
  // each fetch is one query, well under the timeout.
  const sql = connect(url, { max: 1, queryTimeoutSeconds: 600 });
  try {
    await migrate(sql);
    return new PostgresTransfer(sql, await enableVectors(sql));
  } catch (error) {
    await sql.end({ timeout: 1 }).catch(() => {});
    throw storeError(error);
  }
}

export class PostgresTransfer implements TransferSource, TransferTarget {
  readonly backend = 'postgres';
  readonly vectors: { available: boolean; error?: string };
  private readonly sql: Sql;

  constructor(sql: Sql, vectors: { available: boolean; error?: string }) {
    this.sql = sql;
    this.vectors = vectors;
  }

  async snapshot<T>(work: (snapshot: SourceSnapshot) => Promise<T>): Promise<T> {
    const result = await this.sql.begin('ISOLATION LEVEL REPEATABLE READ READ ONLY', async (tx) => {
      const [row] = await tx<{ version: number }[]>`SELECT max(version) AS version FROM rivulet_migrations`;
      const snapshot = new PostgresSnapshot(tx, row?.version ?? 0, this.vectors.available);
      return [await work(snapshot)] as const;
    });
    return result[0];
  }

  async transaction<T>(work: (writer: TargetWriter) => Promise<T>): Promise<T> {
    const result = await this.sql.begin(
      async (tx) => [await work(new PostgresWriter(tx, this.vectors))] as const,
    );
    return result[0];
  }

  async close(): Promise<void> {
    await this.sql.end({ timeout: 5 });
  }
}

class PostgresSnapshot implements SourceSnapshot {
  readonly schemaVersion: number;
  private readonly tx: TransactionSql;
  private readonly vectorsEnabled: boolean;

  constructor(tx: TransactionSql, schemaVersion: number, vectorsEnabled: boolean) {
    this.tx = tx;
    this.schemaVersion = schemaVersion;
    this.vectorsEnabled = vectorsEnabled;
  }

  async counts(): Promise<RecordCounts> {
    const [row] = await this.tx<Record<string, number>[]>`
      SELECT
        (SELECT count(*) FROM collections)::int AS collection,
        (SELECT count(*) FROM chatbots)::int AS chatbot,
        (SELECT count(*) FROM api_keys)::int AS api_key,
        (SELECT count(*) FROM token_usage)::int AS token_usage,
        (SELECT count(*) FROM documents)::int AS document,
        (SELECT count(*) FROM chunks)::int AS chunk,
        (SELECT count(*) FROM conversations)::int AS conversation,
        (SELECT count(*) FROM messages)::int AS message`;
    const space = await readSpaceRecord(this.tx);
    return {
      ...emptyCounts(),
      collection: row?.collection ?? 0,
      chatbot: row?.chatbot ?? 0,
      'api-key': row?.api_key ?? 0,
      'token-usage': row?.token_usage ?? 0,
      'embedding-space': space === undefined ? 0 : 1,
      document: row?.document ?? 0,
      chunk: row?.chunk ?? 0,
      conversation: row?.conversation ?? 0,
      message: row?.message ?? 0,
    };
  }

  async *records(): AsyncGenerator<ExportRecord> {
    const tx = this.tx;
    for await (const rows of tx<
      CollectionRow[]
    >`SELECT id, org_id, created_at FROM collections ORDER BY id COLLATE "C"`.cursor(CURSOR_ROWS)) {
      for (const row of rows) {
        yield { kind: 'collection', id: row.id, orgId: row.org_id, createdAt: row.created_at };
      }
    }
    for await (const rows of tx<ChatbotRow[]>`SELECT * FROM chatbots ORDER BY id COLLATE "C"`.cursor(
      CURSOR_ROWS,
    )) {
      for (const row of rows) {
        yield {
          kind: 'chatbot',
          id: row.id,
          name: row.name,
          collectionId: row.collection_id,
          systemPrompt: row.system_prompt,
          temperature: row.temperature,
          maxTokens: row.max_tokens,
          glossary: row.glossary,
          orgId: row.org_id,
          model: row.model,
          providers: row.providers,
          visibility: row.visibility === 'public' ? 'public' : 'private',
          allowedOrigins: row.allowed_origins,
          limits: row.limits,
          createdAt: row.created_at,
          updatedAt: row.updated_at,
        };
      }
    }
    for await (const rows of tx<ApiKeyRow[]>`SELECT * FROM api_keys ORDER BY id COLLATE "C"`.cursor(
      CURSOR_ROWS,
    )) {
      for (const row of rows) {
        yield {
          kind: 'api-key',
          id: row.id,
          name: row.name,
          orgId: row.org_id,
          admin: row.admin,
          secretHash: Buffer.from(row.secret_hash).toString('base64'),
          createdAt: row.created_at,
          lastUsedAt: row.last_used_at,
          revokedAt: row.revoked_at,
        };
      }
    }
    // COLLATE "C": byte order, as SQLite sorts, whatever the database's collation.
    for await (const rows of tx<TokenUsageRow[]>`
      SELECT * FROM token_usage ORDER BY day COLLATE "C", scope COLLATE "C", subject COLLATE "C"`.cursor(
      CURSOR_ROWS,
    )) {
      for (const row of rows) {
        yield {
          kind: 'token-usage',
          day: row.day,
          scope: row.scope,
          subject: row.subject,
          tokens: row.tokens,
        };
      }
    }
    const space = await readSpaceRecord(tx);
    if (space !== undefined) yield space;
    for await (const rows of tx<DocumentRow[]>`SELECT * FROM documents ORDER BY id COLLATE "C"`.cursor(
      CURSOR_ROWS,
    )) {
      for (const row of rows) {
        yield {
          kind: 'document',
          id: row.id,
          collectionId: row.collection_id,
          source: row.source,
          title: row.title,
          mediaType: row.media_type,
          contentHash: row.content_hash,
          embeddingModel: row.embedding_model,
          metadata: row.metadata,
          chunkCount: row.chunk_count,
          bytes: row.bytes,
          ownerId: row.owner_id,
          createdAt: row.created_at,
          updatedAt: row.updated_at,
        };
      }
    }
    yield* this.chunks(space);
    for await (const rows of tx<
      ConversationRow[]
    >`SELECT * FROM conversations ORDER BY id COLLATE "C"`.cursor(CURSOR_ROWS)) {
      for (const row of rows) {
        yield {
          kind: 'conversation',
          id: row.id,
          ownerId: row.owner_id,
          chatbotId: row.chatbot_id,
          title: row.title,
          createdAt: row.created_at,
          updatedAt: row.updated_at,
        };
      }
    }
    for await (const rows of tx<MessageRow[]>`SELECT * FROM messages ORDER BY seq`.cursor(CURSOR_ROWS)) {
      for (const row of rows) {
        yield {
          kind: 'message',
          id: row.id,
          conversationId: row.conversation_id,
          role: row.role === 'assistant' ? 'assistant' : 'user',
          content: row.content,
          createdAt: row.created_at,
          status: row.status,
          runId: row.run_id,
          finishReason: row.finish_reason,
          errorCode: row.error_code,
          usage: row.usage,
          timings: row.timings,
          sources: row.sources,
          cached: row.cached,
          metadata: row.metadata,
        };
      }
    }
  }

  /** Chunks by rowid (their insertion order, which import keeps), each with its vector when it has one. */
  private async *chunks(space: ExportedEmbeddingSpace | undefined): AsyncGenerator<ExportedChunk> {
    const vectors = await vectorReader(this.tx, space, this.vectorsEnabled);
    for await (const rows of this.tx<ChunkRow[]>`
      SELECT rowid, id, document_id, ordinal, heading, text, metadata FROM chunks ORDER BY rowid`.cursor(
      CURSOR_ROWS,
    )) {
      const found = await vectors(rows.map((row) => row.rowid));
      for (const row of rows) {
        yield {
          kind: 'chunk',
          id: row.id,
          documentId: row.document_id,
          ordinal: row.ordinal,
          heading: row.heading,
          text: row.text,
          metadata: row.metadata,
          vector: found.get(row.rowid) ?? null,
        };
      }
    }
  }
}

class PostgresWriter implements TargetWriter {
  private readonly tx: TransactionSql;
  private readonly chunkSink: PostgresChunkSink;

  constructor(tx: TransactionSql, vectors: { available: boolean }) {
    this.tx = tx;
    this.chunkSink = new PostgresChunkSink(tx, vectors.available);
  }

  async contents(): Promise<TargetContents> {
    const [row] = await this.tx<TargetContents[]>`
      SELECT
        (SELECT count(*) FROM documents)::int AS documents,
        (SELECT count(*) FROM chatbots WHERE id <> ${DEFAULT_CHATBOT_ID})::int AS chatbots,
        (SELECT count(*) FROM conversations)::int AS conversations,
        (SELECT count(*) FROM api_keys)::int AS "apiKeys",
        (SELECT count(*) FROM token_usage)::int AS "tokenUsage"`;
    if (row === undefined) throw new Error('contents: no row');
    return row;
  }

  async write(batch: RecordBatch): Promise<void> {
    const tx = this.tx;
    switch (batch.kind) {
      case 'collection':
        // An installation that once had chatbots or documents keeps their collections' rows: the file's win.
        await tx`
          INSERT INTO collections (id, org_id, created_at)
          SELECT id, "orgId", "createdAt"
          FROM jsonb_to_recordset(${rowsJson(batch.records)}::text::jsonb)
            AS r(id text, "orgId" text, "createdAt" bigint, n int)
          ORDER BY n
          ON CONFLICT (id) DO UPDATE SET org_id = excluded.org_id, created_at = excluded.created_at`;
        return;
      case 'chatbot':
        // Only the auto-created default chatbot can be there already (contents() refuses others): the file's replaces it.
        await tx`
          INSERT INTO chatbots (id, name, collection_id, system_prompt, temperature, max_tokens, glossary, org_id,
            model, providers, visibility, allowed_origins, limits, created_at, updated_at)
          SELECT id, name, "collectionId", "systemPrompt", temperature, "maxTokens", glossary, "orgId", model,
            providers, visibility, "allowedOrigins", limits, "createdAt", "updatedAt"
          FROM jsonb_to_recordset(${rowsJson(batch.records)}::text::jsonb) AS r(id text, name text,
            "collectionId" text, "systemPrompt" text, temperature double precision, "maxTokens" int, glossary jsonb,
            "orgId" text, model text, providers jsonb, visibility text, "allowedOrigins" jsonb, limits jsonb,
            "createdAt" bigint, "updatedAt" bigint, n int)
          ORDER BY n
          ON CONFLICT (id) DO UPDATE SET name = excluded.name, collection_id = excluded.collection_id,
            system_prompt = excluded.system_prompt, temperature = excluded.temperature,
            max_tokens = excluded.max_tokens, glossary = excluded.glossary, org_id = excluded.org_id,
            model = excluded.model, providers = excluded.providers, visibility = excluded.visibility,
            allowed_origins = excluded.allowed_origins, limits = excluded.limits, created_at = excluded.created_at,
            updated_at = excluded.updated_at`;
        return;
      case 'api-key':
        await tx`
          INSERT INTO api_keys (id, name, org_id, admin, secret_hash, created_at, last_used_at, revoked_at)
          SELECT id, name, "orgId", admin, decode("secretHash", 'base64'), "createdAt", "lastUsedAt", "revokedAt"
          FROM jsonb_to_recordset(${rowsJson(batch.records)}::text::jsonb) AS r(id text, name text, "orgId" text,
            admin boolean, "secretHash" text, "createdAt" bigint, "lastUsedAt" bigint, "revokedAt" bigint, n int)
          ORDER BY n`;
        return;
      case 'token-usage':
        await tx`
          INSERT INTO token_usage (day, scope, subject, tokens)
          SELECT day, scope, subject, tokens
          FROM jsonb_to_recordset(${rowsJson(batch.records)}::text::jsonb)
            AS r(day text, scope text, subject text, tokens bigint, n int)
          ORDER BY n`;
        return;
      case 'embedding-space':
        for (const record of batch.records) await this.chunkSink.claimSpace(record);
        return;
      case 'document':
        await tx`
          INSERT INTO documents (id, collection_id, source, title, media_type, content_hash, embedding_model,
            metadata, chunk_count, bytes, owner_id, created_at, updated_at)
          SELECT id, "collectionId", source, title, "mediaType", "contentHash",
            -- Without its vectors a document must re-ingest as changed once vectors are available, as the store does.
            CASE WHEN ${this.chunkSink.skipsVectors()} THEN NULL ELSE "embeddingModel" END,
            metadata, "chunkCount", bytes, "ownerId", "createdAt", "updatedAt"
          FROM jsonb_to_recordset(${rowsJson(batch.records)}::text::jsonb) AS r(id text, "collectionId" text,
            source text, title text, "mediaType" text, "contentHash" text, "embeddingModel" text, metadata jsonb,
            "chunkCount" int, bytes bigint, "ownerId" text, "createdAt" bigint, "updatedAt" bigint, n int)
          ORDER BY n`;
        return;
      case 'chunk':
        await this.chunkSink.write(batch.records);
        return;
      case 'conversation':
        await tx`
          INSERT INTO conversations (id, owner_id, chatbot_id, title, created_at, updated_at)
          SELECT id, "ownerId", "chatbotId", title, "createdAt", "updatedAt"
          FROM jsonb_to_recordset(${rowsJson(batch.records)}::text::jsonb) AS r(id text, "ownerId" text,
            "chatbotId" text, title text, "createdAt" bigint, "updatedAt" bigint, n int)
          ORDER BY n`;
        return;
      case 'message':
        // In file order, so seq (the order messages are listed in) keeps it.
        await tx`
          INSERT INTO messages (id, conversation_id, role, content, created_at, status, run_id, finish_reason,
            error_code, usage, timings, sources, cached, metadata)
          SELECT id, "conversationId", role, content, "createdAt", status, "runId", "finishReason", "errorCode",
            usage, timings, sources, cached, metadata
          FROM jsonb_to_recordset(${rowsJson(batch.records)}::text::jsonb) AS r(id text, "conversationId" text,
            role text, content text, "createdAt" bigint, status text, "runId" text, "finishReason" text,
            "errorCode" text, usage jsonb, timings jsonb, sources jsonb, cached boolean, metadata jsonb, n int)
          ORDER BY n`;
        return;
      default: {
        const never: never = batch;
        throw new Error(`unknown record kind ${(never as { kind: string }).kind}`);
      }
    }
  }

  finish(): { warnings: string[] } {
    return this.chunkSink.finish();
  }
}

/**
 * A batch as one JSON array for jsonb_to_recordset, each record numbered (`n`) so rows go in in file order, and NUL
 * characters stored as U+FFFD as everywhere in the PostgreSQL stores (text and jsonb cannot hold them).
 */
export function rowsJson(records: readonly RecordOf<ExportRecord['kind']>[]): string {
  return pgJson(records.map((record, n) => ({ ...record, n })));
}
