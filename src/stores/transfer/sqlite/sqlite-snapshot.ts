// The SQLite file read as export records, in file order, inside the read transaction SqliteTransfer.snapshot holds.

import type { DatabaseSync } from 'node:sqlite';
import { MIGRATIONS } from '../../sqlite/migrations.ts';
import { SPACE_KEY } from '../../sqlite/sqlite-document-store.ts';
import { MESSAGE_ROWS } from '../../sqlite/sqlite-conversation-store.ts';
import type { ApiKeyRow } from '../../rows/api-keys.ts';
import type { ChatbotRow } from '../../rows/chatbots.ts';
import type { CollectionRow } from '../../rows/collections.ts';
import { sqliteColumns, type SqliteColumnTypes } from '../../rows/columns.ts';
import type { ConversationRow, MessageRow } from '../../rows/conversations.ts';
import type { ChunkRow, DocumentRow } from '../../rows/documents.ts';
import type { TokenUsageRow } from '../../rows/token-usage.ts';
import { emptyCounts, type ExportRecord, type ExportedEmbeddingSpace, type RecordCounts } from '../format.ts';
import {
  apiKeyRecord,
  chatbotRecord,
  chunkRecord,
  collectionRecord,
  conversationRecord,
  documentRecord,
  messageRecord,
  tokenUsageRecord,
} from '../row-records.ts';
import type { SourceSnapshot } from '../transfer-backend.ts';
import { TransferError } from '../transfer-error.ts';

type Columns = SqliteColumnTypes;

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
      yield collectionRecord(row);
    }
    for (const row of this.rows<ChatbotRow<Columns>>('SELECT * FROM chatbots ORDER BY id')) {
      yield chatbotRecord(row, sqliteColumns);
    }
    for (const row of this.rows<ApiKeyRow<Columns>>('SELECT * FROM api_keys ORDER BY id')) {
      yield apiKeyRecord(row, sqliteColumns);
    }
    for (const row of this.rows<TokenUsageRow>('SELECT * FROM token_usage ORDER BY day, scope, subject')) {
      yield tokenUsageRecord(row);
    }
    const space = this.space();
    if (space !== undefined) yield space;
    for (const row of this.rows<DocumentRow<Columns>>('SELECT * FROM documents ORDER BY id')) {
      yield documentRecord(row, sqliteColumns);
    }
    const vector = this.vectorReader(space);
    // By rowid: import inserts them in this order, so rowids (BM25's tie order) keep their order.
    for (const row of this.rows<ChunkRow<Columns>>(
      'SELECT rowid, id, document_id, ordinal, heading, text, metadata FROM chunks ORDER BY rowid',
    )) {
      yield chunkRecord(row, vector(row.rowid), sqliteColumns);
    }
    for (const row of this.rows<ConversationRow>('SELECT * FROM conversations ORDER BY id')) {
      yield conversationRecord(row);
    }
    // By seq, the order messages are listed in: import appends them in it.
    for (const row of this.rows<MessageRow<Columns>>(`${MESSAGE_ROWS} ORDER BY seq`)) {
      yield messageRecord(row, sqliteColumns);
    }
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
