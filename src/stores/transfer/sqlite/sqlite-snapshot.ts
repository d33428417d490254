// The SQLite file read as export records, in file order, inside the read transaction SqliteTransfer.snapshot holds.

import type { DatabaseSync } from 'node:sqlite';
import { MIGRATIONS } from '../../sqlite/migrations.ts';
import { SPACE_KEY } from '../../sqlite/sqlite-document-store.ts';
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
import { TransferError } from '../transfer-error.ts';

// Rows as node:sqlite returns them (STRICT tables: each column holds its declared type; JSON columns are TEXT).
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
  glossary: string;
  org_id: string | null;
  model: string | null;
  providers: string;
  visibility: string;
  allowed_origins: string;
  limits: string;
  created_at: number;
  updated_at: number;
}

interface ApiKeyRow {
  id: string;
  name: string;
  org_id: string | null;
  admin: number;
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
  metadata: string;
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
  metadata: string | null;
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
  usage: string | null;
  timings: string | null;
  sources: string | null;
  cached: number | null;
  metadata: string | null;
}

/** Opens (creating and migrating if need be) the SQLite file at `path` for export or import. */

export class SqliteSnapshot implements SourceSnapshot {
  readonly schemaVersion: number;
  private readonly db: DatabaseSync;
  private readonly vectorsLoaded: boolean;

  constructor(db: DatabaseSync, vectorsLoaded: boolean) {
    this.db = db;
    this.vectorsLoaded = vectorsLoaded;
    this.schemaVersion = (db.prepare('PRAGMA user_version').get() as { user_version: number }).user_version;
    if (this.schemaVersion !== MIGRATIONS.length) {
      throw new TransferError(
        'refused',
        `The database is at schema version ${this.schemaVersion}, this Rivulet's is ${MIGRATIONS.length}.`,
      );
    }
  }

  counts(): RecordCounts {
    const count = (sql: string): number => (this.db.prepare(sql).get() as { n: number }).n;
    return {
      ...emptyCounts(),
      collection: count('SELECT count(*) AS n FROM collections'),
      chatbot: count('SELECT count(*) AS n FROM chatbots'),
      'api-key': count('SELECT count(*) AS n FROM api_keys'),
      'token-usage': count('SELECT count(*) AS n FROM token_usage'),
      'embedding-space': this.space() === undefined ? 0 : 1,
      document: count('SELECT count(*) AS n FROM documents'),
      chunk: count('SELECT count(*) AS n FROM chunks'),
      conversation: count('SELECT count(*) AS n FROM conversations'),
      message: count('SELECT count(*) AS n FROM messages'),
    };
  }

  *records(): Generator<ExportRecord> {
    for (const row of this.rows<CollectionRow>(
      'SELECT id, org_id, created_at FROM collections ORDER BY id',
    )) {
      yield { kind: 'collection', id: row.id, orgId: row.org_id, createdAt: row.created_at };
    }
    for (const row of this.rows<ChatbotRow>('SELECT * FROM chatbots ORDER BY id')) yield toChatbot(row);
    for (const row of this.rows<ApiKeyRow>('SELECT * FROM api_keys ORDER BY id')) {
      yield {
        kind: 'api-key',
        id: row.id,
        name: row.name,
        orgId: row.org_id,
        admin: row.admin === 1,
        secretHash: Buffer.from(row.secret_hash).toString('base64'),
        createdAt: row.created_at,
        lastUsedAt: row.last_used_at,
        revokedAt: row.revoked_at,
      };
    }
    for (const row of this.rows<TokenUsageRow>('SELECT * FROM token_usage ORDER BY day, scope, subject')) {
      yield { kind: 'token-usage', day: row.day, scope: row.scope, subject: row.subject, tokens: row.tokens };
    }
    const space = this.space();
    if (space !== undefined) yield space;
    for (const row of this.rows<DocumentRow>('SELECT * FROM documents ORDER BY id')) yield toDocument(row);
    const vector = this.vectorReader(space);
    // By rowid: import inserts them in this order, so rowids (BM25's tie order) keep their order.
    for (const row of this.rows<ChunkRow>(
      'SELECT rowid, id, document_id, ordinal, heading, text, metadata FROM chunks ORDER BY rowid',
    )) {
      yield toChunk(row, vector(row.rowid));
    }
    for (const row of this.rows<ConversationRow>('SELECT * FROM conversations ORDER BY id')) {
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
    // By seq, the order messages are listed in: import appends them in it.
    for (const row of this.rows<MessageRow>('SELECT * FROM messages ORDER BY seq')) yield toMessage(row);
  }

  private rows<Row>(sql: string): Iterable<Row> {
    return this.db.prepare(sql).iterate() as Iterable<Row>;
  }

  private space(): ExportedEmbeddingSpace | undefined {
    const row = this.db.prepare('SELECT value FROM meta WHERE key = ?').get(SPACE_KEY) as
      { value: string } | undefined;
    if (row === undefined) return undefined;
    const { model, dimensions } = JSON.parse(row.value) as { model: string; dimensions: number };
    return { kind: 'embedding-space', model, dimensions };
  }

  /** A lookup of a chunk's vector (base64 of sqlite-vec's little-endian float32 BLOB), or null without one. */
  private vectorReader(space: ExportedEmbeddingSpace | undefined): (rowid: number) => string | null {
    const table = this.db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'chunk_vectors'").get();
    if (space === undefined || table === undefined) return () => null;
    if (!this.vectorsLoaded) {
      throw new TransferError(
        'refused',
        'This database holds vectors, but the sqlite-vec extension does not load on this machine, so they cannot be ' +
          'read. Export on a machine where Rivulet has vector search.',
      );
    }
    const lookup = this.db.prepare('SELECT embedding FROM chunk_vectors WHERE rowid = ?');
    return (rowid) => {
      const row = lookup.get(BigInt(rowid)) as { embedding: Uint8Array } | undefined;
      return row === undefined ? null : Buffer.from(row.embedding).toString('base64');
    };
  }
}

function toChatbot(row: ChatbotRow): ExportedChatbot {
  return {
    kind: 'chatbot',
    id: row.id,
    name: row.name,
    collectionId: row.collection_id,
    systemPrompt: row.system_prompt,
    temperature: row.temperature,
    maxTokens: row.max_tokens,
    glossary: parse(row.glossary),
    orgId: row.org_id,
    model: row.model,
    providers: parse(row.providers),
    visibility: row.visibility === 'public' ? 'public' : 'private',
    allowedOrigins: parse(row.allowed_origins),
    limits: parse(row.limits),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

function toDocument(row: DocumentRow): ExportedDocument {
  return {
    kind: 'document',
    id: row.id,
    collectionId: row.collection_id,
    source: row.source,
    title: row.title,
    mediaType: row.media_type,
    contentHash: row.content_hash,
    embeddingModel: row.embedding_model,
    metadata: parse(row.metadata),
    chunkCount: row.chunk_count,
    bytes: row.bytes,
    ownerId: row.owner_id,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

function toChunk(row: ChunkRow, vector: string | null): ExportedChunk {
  return {
    kind: 'chunk',
    id: row.id,
    documentId: row.document_id,
    ordinal: row.ordinal,
    heading: row.heading,
    text: row.text,
    metadata: parseNullable(row.metadata),
    vector,
  };
}

function toMessage(row: MessageRow): ExportedMessage {
  return {
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
    usage: parseNullable(row.usage),
    timings: parseNullable(row.timings),
    sources: parseNullable(row.sources),
    cached: row.cached === null ? null : row.cached === 1,
    metadata: parseNullable(row.metadata),
  };
}

/** A JSON column's value, typed as the record field it goes into (the file's schema checks it on import). */
function parse<T>(text: string): T {
  return JSON.parse(text) as T;
}

function parseNullable<T>(text: string | null): T | null {
  return text === null ? null : parse<T>(text);
}
