// PostgreSQL read as export records, in file order, through cursors inside the REPEATABLE READ transaction
// PostgresTransfer.snapshot holds.

import type { TransactionSql } from 'postgres';
import {
  emptyCounts,
  type ExportRecord,
  type ExportedChatbot,
  type ExportedChunk,
  type ExportedDocument,
  type ExportedEmbeddingSpace,
  type ExportedMessage,
  type RecordCounts,
} from '../format.ts';
import type { SourceSnapshot } from '../transfer-backend.ts';
import { readSpaceRecord, vectorReader } from './postgres-chunks.ts';

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

export class PostgresSnapshot implements SourceSnapshot {
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
