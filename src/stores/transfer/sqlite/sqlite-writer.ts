// Records written into the SQLite file inside the transaction SqliteTransfer.transaction holds. The lexical index is
// built by the SQLite store's own LexicalIndex as chunks go in; vectors go into sqlite-vec's chunk_vectors table,
// created as the document store creates it.

import type { DatabaseSync, SQLInputValue, StatementSync } from 'node:sqlite';
import { DEFAULT_CHATBOT_ID, noTools } from '../../../core/chatbots.ts';
import { toJson } from '../../sqlite/json-columns.ts';
import { LexicalIndex } from '../../sqlite/lexical.ts';
import { createVectorTable, SPACE_KEY } from '../../sqlite/sqlite-document-store.ts';
import type {
  ExportedChatbot,
  ExportedChunk,
  ExportedDocument,
  ExportedEmbeddingSpace,
  ExportedMessage,
  RecordBatch,
} from '../format.ts';
import type { TargetContents, TargetWriter } from '../transfer-backend.ts';
import { TransferError } from '../transfer-error.ts';

export class SqliteWriter implements TargetWriter {
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
    | 'message'
    | 'messageSources',
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
          org_id, model, providers, visibility, allowed_origins, limits, tools, created_at, updated_at)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
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
          error_code, usage, timings, cached, metadata, steps)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
      // A message's sources are kept apart (migration 11).
      messageSources: db.prepare('INSERT INTO message_sources (seq, sources) VALUES (?, ?)'),
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
      JSON.stringify(record.tools ?? noTools()),
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
      toJson(record.metadata),
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
    const { lastInsertRowid } = this.statements.message.run(
      record.id,
      record.conversationId,
      record.role,
      record.content,
      record.createdAt,
      record.status,
      record.runId,
      record.finishReason,
      record.errorCode,
      toJson(record.usage),
      toJson(record.timings),
      record.cached === null ? null : record.cached ? 1 : 0,
      toJson(record.metadata),
      toJson(record.steps ?? null),
    );
    const sources = toJson(record.sources);
    if (sources !== null) this.statements.messageSources.run(lastInsertRowid, sources);
  }
}
