// PostgreSQL read as export records, in file order, through cursors inside the REPEATABLE READ transaction
// PostgresTransfer.snapshot holds.

import type { PendingQuery, TransactionSql } from 'postgres';
import type { ApiKeyRow } from '../../rows/api-keys.ts';
import type { ChatbotRow } from '../../rows/chatbots.ts';
import type { CollectionRow } from '../../rows/collections.ts';
import { postgresColumns, type PostgresColumnTypes } from '../../rows/columns.ts';
import type { ConversationRow, MessageRow } from '../../rows/conversations.ts';
import type { ChunkRow, DocumentRow } from '../../rows/documents.ts';
import type { TokenUsageRow } from '../../rows/token-usage.ts';
import {
  emptyCounts,
  type ExportRecord,
  type ExportedChunk,
  type ExportedEmbeddingSpace,
  type RecordCounts,
} from '../format.ts';
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
import { readSpaceRecord, vectorReader } from './postgres-chunks.ts';

type Columns = PostgresColumnTypes;

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
    const columns = postgresColumns;
    yield* this.each(
      tx<CollectionRow[]>`SELECT id, org_id, created_at FROM collections ORDER BY id COLLATE "C"`,
      collectionRecord,
    );
    yield* this.each(tx<ChatbotRow<Columns>[]>`SELECT * FROM chatbots ORDER BY id COLLATE "C"`, (row) =>
      chatbotRecord(row, columns),
    );
    yield* this.each(tx<ApiKeyRow<Columns>[]>`SELECT * FROM api_keys ORDER BY id COLLATE "C"`, (row) =>
      apiKeyRecord(row, columns),
    );
    // COLLATE "C": byte order, as SQLite sorts, whatever the database's collation.
    yield* this.each(
      tx<TokenUsageRow[]>`
        SELECT * FROM token_usage ORDER BY day COLLATE "C", scope COLLATE "C", subject COLLATE "C"`,
      tokenUsageRecord,
    );
    const space = await readSpaceRecord(tx);
    if (space !== undefined) yield space;
    yield* this.each(tx<DocumentRow<Columns>[]>`SELECT * FROM documents ORDER BY id COLLATE "C"`, (row) =>
      documentRecord(row, columns),
    );
    yield* this.chunks(space);
    yield* this.each(
      tx<ConversationRow[]>`SELECT * FROM conversations ORDER BY id COLLATE "C"`,
      conversationRecord,
    );
    yield* this.each(tx<MessageRow<Columns>[]>`SELECT * FROM messages ORDER BY seq`, (row) =>
      messageRecord(row, columns),
    );
  }

  /** A query's rows as records, fetched through a cursor. */
  private async *each<Row extends object, R>(
    query: PendingQuery<Row[]>,
    toRecord: (row: Row) => R,
  ): AsyncGenerator<R> {
    for await (const rows of query.cursor(CURSOR_ROWS)) {
      for (const row of rows) yield toRecord(row);
    }
  }

  /** Chunks by rowid (their insertion order, which import keeps), each with its vector when it has one. */
  private async *chunks(space: ExportedEmbeddingSpace | undefined): AsyncGenerator<ExportedChunk> {
    const vectors = await vectorReader(this.tx, space, this.vectorsEnabled);
    for await (const rows of this.tx<ChunkRow<Columns>[]>`
      SELECT rowid, id, document_id, ordinal, heading, text, metadata FROM chunks ORDER BY rowid`.cursor(
      CURSOR_ROWS,
    )) {
      const found = await vectors(rows.map((row) => row.rowid));
      for (const row of rows) {
        yield chunkRecord(row, found.get(row.rowid) ?? null, postgresColumns);
      }
    }
  }
}
