// Export and import for the embedded SQLite file: its tables read as records in one read transaction, and records
// written in one write transaction. The lexical index is built by the SQLite store's own LexicalIndex as chunks go
// in; vectors go into sqlite-vec's chunk_vectors table.

import type { DatabaseSync, SQLInputValue, StatementSync } from 'node:sqlite';
import { DEFAULT_CHATBOT_ID } from '../../core/chatbots.ts';
import { MIGRATIONS } from '../sqlite/migrations.ts';
import { openDatabase } from '../sqlite/database.ts';
import { LexicalIndex } from '../sqlite/lexical.ts';
import { createVectorTable, SPACE_KEY } from '../sqlite/sqlite-document-store.ts';
import {
  emptyCounts,
  type ExportRecord,
  type ExportedChatbot,
  type ExportedChunk,
  type ExportedDocument,
  type ExportedEmbeddingSpace,
  type ExportedMessage,
  type RecordBatch,
  type RecordCounts,
} from './format.ts';
import type {
  SourceSnapshot,
  TargetContents,
  TargetWriter,
  TransferSource,
  TransferTarget,
} from './transfer-backend.ts';
import { TransferError } from './transfer-error.ts';

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
export function openSqliteTransfer(path: string): SqliteTransfer {
  const { db, vectors, vectorError } = openDatabase(path);
  // An import is one long transaction: with SQLite's default 2 MB page cache, the index and vector pages it keeps
  // rewriting spill to disk and back (twice as slow at 20k chunks). 64 MB bounds it as well, for this one connection.
  db.exec('PRAGMA cache_size = -65536');
  return new SqliteTransfer(db, {
    available: vectors,
    ...(vectorError === undefined ? {} : { error: vectorError }),
  });
}

export class SqliteTransfer implements TransferSource, TransferTarget {
  readonly backend = 'sqlite';
  readonly vectors: { available: boolean; error?: string };
  private readonly db: DatabaseSync;

  constructor(db: DatabaseSync, vectors: { available: boolean; error?: string }) {
    this.db = db;
    this.vectors = vectors;
  }

  async snapshot<T>(work: (snapshot: SourceSnapshot) => Promise<T>): Promise<T> {
    // A read transaction: in WAL mode it sees the database as of its first read, whatever a server writes meanwhile.
    this.db.exec('BEGIN');
    try {
      this.db.prepare('SELECT count(*) FROM meta').get();
      return await work(new SqliteSnapshot(this.db, this.vectors.available));
    } finally {
      this.db.exec('COMMIT');
    }
  }

  async transaction<T>(work: (writer: TargetWriter) => Promise<T>): Promise<T> {
    this.db.exec('BEGIN IMMEDIATE');
    try {
      const result = await work(new SqliteWriter(this.db, this.vectors.available));
      this.db.exec('COMMIT');
      return result;
    } catch (error) {
      this.db.exec('ROLLBACK');
      throw error;
    }
  }

  close(): Promise<void> {
    if (this.db.isOpen) this.db.close();
    return Promise.resolve();
  }
}

class SqliteSnapshot implements SourceSnapshot {
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

class SqliteWriter implements TargetWriter {
  private readonly db: DatabaseSync;
  private readonly vectorsAvailable: boolean;
  private readonly lexical: LexicalIndex;
  private readonly statements: Record<
    | 'collection'
    | 'chatbot'
    | 'apiKey'
    | 'tokenUsage'
    | 'document'
    | 'documentOf'
    | 'chunk'
    | 'conversation'
    | 'message',
    StatementSync
  >;
  /** The file's embedding space once its record is read; `skip`: the target stores no vectors. */
  private space: { dimensions: number; insert: StatementSync } | 'skip' | undefined;
  private skippedVectors = 0;
  /** The document the last chunk belonged to: chunks come grouped by document. */
  private lastDocument: { id: string; collectionId: string; title: string } | undefined;

  constructor(db: DatabaseSync, vectorsAvailable: boolean) {
    this.db = db;
    this.vectorsAvailable = vectorsAvailable;
    this.lexical = new LexicalIndex(db);
    this.statements = {
      // An installation that once had chatbots or documents keeps their collections' rows: the file's win.
      collection: db.prepare(`
        INSERT INTO collections (id, org_id, created_at) VALUES (?, ?, ?)
        ON CONFLICT (id) DO UPDATE SET org_id = excluded.org_id, created_at = excluded.created_at`),
      // Only the auto-created default chatbot can be there already (contents() refuses others): the file's replaces it.
      chatbot: db.prepare(`
        INSERT OR REPLACE INTO chatbots (id, name, collection_id, system_prompt, temperature, max_tokens, glossary,
          org_id, model, providers, visibility, allowed_origins, limits, created_at, updated_at)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
      apiKey: db.prepare(`
        INSERT INTO api_keys (id, name, org_id, admin, secret_hash, created_at, last_used_at, revoked_at)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
      tokenUsage: db.prepare('INSERT INTO token_usage (day, scope, subject, tokens) VALUES (?, ?, ?, ?)'),
      document: db.prepare(`
        INSERT INTO documents (id, collection_id, source, title, media_type, content_hash, embedding_model, metadata,
          chunk_count, bytes, owner_id, created_at, updated_at)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
      documentOf: db.prepare('SELECT collection_id, title FROM documents WHERE id = ?'),
      chunk: db.prepare(`
        INSERT INTO chunks (id, document_id, collection_id, ordinal, heading, text, metadata)
        VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING rowid`),
      conversation: db.prepare(`
        INSERT INTO conversations (id, owner_id, chatbot_id, title, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)`),
      message: db.prepare(`
        INSERT INTO messages (id, conversation_id, role, content, created_at, status, run_id, finish_reason,
          error_code, usage, timings, sources, cached, metadata)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
    };
  }

  contents(): TargetContents {
    const count = (sql: string, ...params: SQLInputValue[]): number =>
      (this.db.prepare(sql).get(...params) as { n: number }).n;
    return {
      documents: count('SELECT count(*) AS n FROM documents'),
      chatbots: count('SELECT count(*) AS n FROM chatbots WHERE id <> ?', DEFAULT_CHATBOT_ID),
      conversations: count('SELECT count(*) AS n FROM conversations'),
      apiKeys: count('SELECT count(*) AS n FROM api_keys'),
      tokenUsage: count('SELECT count(*) AS n FROM token_usage'),
    };
  }

  write(batch: RecordBatch): void {
    switch (batch.kind) {
      case 'collection':
        for (const record of batch.records) {
          this.statements.collection.run(record.id, record.orgId, record.createdAt);
        }
        return;
      case 'chatbot':
        for (const record of batch.records) this.writeChatbot(record);
        return;
      case 'api-key':
        for (const record of batch.records) {
          this.statements.apiKey.run(
            record.id,
            record.name,
            record.orgId,
            record.admin ? 1 : 0,
            Buffer.from(record.secretHash, 'base64'),
            record.createdAt,
            record.lastUsedAt,
            record.revokedAt,
          );
        }
        return;
      case 'token-usage':
        for (const record of batch.records) {
          this.statements.tokenUsage.run(record.day, record.scope, record.subject, record.tokens);
        }
        return;
      case 'embedding-space':
        for (const record of batch.records) this.claimSpace(record);
        return;
      case 'document':
        for (const record of batch.records) this.writeDocument(record);
        return;
      case 'chunk':
        for (const record of batch.records) this.writeChunk(record);
        return;
      case 'conversation':
        for (const record of batch.records) {
          this.statements.conversation.run(
            record.id,
            record.ownerId,
            record.chatbotId,
            record.title,
            record.createdAt,
            record.updatedAt,
          );
        }
        return;
      case 'message':
        for (const record of batch.records) this.writeMessage(record);
        return;
      default: {
        const never: never = batch;
        throw new Error(`unknown record kind ${(never as { kind: string }).kind}`);
      }
    }
  }

  finish(): { warnings: string[] } {
    if (this.skippedVectors === 0) return { warnings: [] };
    return {
      warnings: [
        `${this.skippedVectors} chunk vectors were not imported: vector search is unavailable here ` +
          '(the sqlite-vec extension does not load). Search is by keywords only until documents are ingested again ' +
          'with vectors.',
      ],
    };
  }

  private writeChatbot(record: ExportedChatbot): void {
    this.statements.chatbot.run(
      record.id,
      record.name,
      record.collectionId,
      record.systemPrompt,
      record.temperature,
      record.maxTokens,
      JSON.stringify(record.glossary),
      record.orgId,
      record.model,
      JSON.stringify(record.providers),
      record.visibility,
      JSON.stringify(record.allowedOrigins),
      JSON.stringify(record.limits),
      record.createdAt,
      record.updatedAt,
    );
  }

  /** The store's own layout: the vec0 table and the space recorded in meta (replacing a leftover empty one). */
  private claimSpace(record: ExportedEmbeddingSpace): void {
    if (!this.vectorsAvailable) {
      this.space = 'skip';
      return;
    }
    this.db.exec('DROP TABLE IF EXISTS chunk_vectors');
    this.db.prepare('DELETE FROM meta WHERE key = ?').run(SPACE_KEY);
    createVectorTable(this.db, record.dimensions);
    this.db
      .prepare('INSERT INTO meta (key, value) VALUES (?, ?)')
      .run(SPACE_KEY, JSON.stringify({ model: record.model, dimensions: record.dimensions }));
    this.space = {
      dimensions: record.dimensions,
      insert: this.db.prepare('INSERT INTO chunk_vectors (rowid, collection_id, embedding) VALUES (?, ?, ?)'),
    };
  }

  private writeDocument(record: ExportedDocument): void {
    this.statements.document.run(
      record.id,
      record.collectionId,
      record.source,
      record.title,
      record.mediaType,
      record.contentHash,
      // Without its vectors a document must re-ingest as changed once vectors are available, as the store does.
      this.space === 'skip' ? null : record.embeddingModel,
      JSON.stringify(record.metadata),
      record.chunkCount,
      record.bytes,
      record.ownerId,
      record.createdAt,
      record.updatedAt,
    );
  }

  private writeChunk(record: ExportedChunk): void {
    const document = this.documentOf(record);
    const { rowid } = this.statements.chunk.get(
      record.id,
      record.documentId,
      document.collectionId,
      record.ordinal,
      record.heading,
      record.text,
      record.metadata === null ? null : JSON.stringify(record.metadata),
    ) as { rowid: number };
    this.lexical.add({ rowid, title: document.title, heading: record.heading, text: record.text });
    if (record.vector === null) return;
    if (this.space === undefined) {
      throw new TransferError(
        'inconsistent',
        `chunk ${record.id} has a vector, but no embedding-space record came before it`,
      );
    }
    if (this.space === 'skip') {
      this.skippedVectors += 1;
      return;
    }
    const bytes = Buffer.from(record.vector, 'base64');
    if (bytes.length !== this.space.dimensions * 4) {
      throw new TransferError(
        'inconsistent',
        `chunk ${record.id}: its vector holds ${bytes.length / 4} numbers, the embedding space ${this.space.dimensions}`,
      );
    }
    this.space.insert.run(BigInt(rowid), document.collectionId, bytes);
  }

  private documentOf(record: ExportedChunk): { id: string; collectionId: string; title: string } {
    if (this.lastDocument?.id === record.documentId) return this.lastDocument;
    const row = this.statements.documentOf.get(record.documentId) as
      { collection_id: string; title: string } | undefined;
    if (row === undefined) {
      throw new TransferError(
        'inconsistent',
        `chunk ${record.id} belongs to document ${record.documentId}, which no document record before it names`,
      );
    }
    this.lastDocument = { id: record.documentId, collectionId: row.collection_id, title: row.title };
    return this.lastDocument;
  }

  private writeMessage(record: ExportedMessage): void {
    this.statements.message.run(
      record.id,
      record.conversationId,
      record.role,
      record.content,
      record.createdAt,
      record.status,
      record.runId,
      record.finishReason,
      record.errorCode,
      json(record.usage),
      json(record.timings),
      json(record.sources),
      record.cached === null ? null : record.cached ? 1 : 0,
      json(record.metadata),
    );
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

/** JSON columns: null stays SQL NULL. */
function json(value: unknown): string | null {
  return value === null ? null : JSON.stringify(value);
}
