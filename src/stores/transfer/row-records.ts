// Export records read from table rows, for both backends. Where a record is the domain object with its kind, it is
// mapped by the stores' own functions (src/stores/rows/); only what the file holds differently is written here.

import { toApiKey, type ApiKeyRow } from '../rows/api-keys.ts';
import { toChatbot, type ChatbotRow } from '../rows/chatbots.ts';
import type { CollectionRow } from '../rows/collections.ts';
import type { ColumnCodec, ColumnTypes } from '../rows/columns.ts';
import { toConversation, type ConversationRow, type MessageRow } from '../rows/conversations.ts';
import { toDocument, type ChunkRow, type DocumentRow } from '../rows/documents.ts';
import type { TokenUsageRow } from '../rows/token-usage.ts';
import type {
  ExportedApiKey,
  ExportedChatbot,
  ExportedChunk,
  ExportedCollection,
  ExportedConversation,
  ExportedDocument,
  ExportedMessage,
  ExportedTokenUsage,
  RecordKind,
  RecordOf,
} from './format.ts';

export function collectionRecord(row: CollectionRow): ExportedCollection {
  return { kind: 'collection', id: row.id, orgId: row.org_id, createdAt: row.created_at };
}

export function chatbotRecord<C extends ColumnTypes>(
  row: ChatbotRow<C>,
  columns: ColumnCodec<C>,
): ExportedChatbot {
  return asRecord('chatbot', toChatbot(row, columns));
}

/** The key with its secret's hash (base64), which the store never hands out. */
export function apiKeyRecord<C extends ColumnTypes>(
  row: ApiKeyRow<C>,
  columns: ColumnCodec<C>,
): ExportedApiKey {
  return asRecord('api-key', {
    ...toApiKey(row, columns),
    secretHash: Buffer.from(row.secret_hash).toString('base64'),
  });
}

export function tokenUsageRecord(row: TokenUsageRow): ExportedTokenUsage {
  return { kind: 'token-usage', day: row.day, scope: row.scope, subject: row.subject, tokens: row.tokens };
}

export function documentRecord<C extends ColumnTypes>(
  row: DocumentRow<C>,
  columns: ColumnCodec<C>,
): ExportedDocument {
  return asRecord('document', toDocument(row, columns));
}

/** Unlike a ChunkRecord, metadata stays null when the chunk has none; `vector` is base64 of its float32 array. */
export function chunkRecord<C extends ColumnTypes>(
  row: ChunkRow<C>,
  vector: string | null,
  columns: ColumnCodec<C>,
): ExportedChunk {
  return {
    kind: 'chunk',
    id: row.id,
    documentId: row.document_id,
    ordinal: row.ordinal,
    heading: row.heading,
    text: row.text,
    metadata: jsonOrNull(row.metadata, columns),
    vector,
  };
}

export function conversationRecord(row: ConversationRow): ExportedConversation {
  return asRecord('conversation', toConversation(row));
}

/** Unlike a StoredMessage, every field is there: null where the message has none. */
export function messageRecord<C extends ColumnTypes>(
  row: MessageRow<C>,
  columns: ColumnCodec<C>,
): ExportedMessage {
  return {
    kind: 'message',
    id: row.id,
    conversationId: row.conversation_id,
    role: row.role,
    content: row.content,
    createdAt: row.created_at,
    status: row.status,
    runId: row.run_id,
    finishReason: row.finish_reason,
    errorCode: row.error_code,
    usage: jsonOrNull(row.usage, columns),
    timings: jsonOrNull(row.timings, columns),
    sources: jsonOrNull(row.sources, columns),
    cached: row.cached === null ? null : columns.flag(row.cached),
    metadata: jsonOrNull(row.metadata, columns),
    steps: jsonOrNull(row.steps, columns),
  };
}

/** A nullable JSON column's value, typed as the record field it goes into (import's schema checks it). */
function jsonOrNull<C extends ColumnTypes, T>(value: C['json'] | null, columns: ColumnCodec<C>): T | null {
  return value === null ? null : columns.json<T>(value);
}

type RecordFields<K extends RecordKind> = Exclude<keyof RecordOf<K>, 'kind'>;

/**
 * A domain object as the record of its kind. The types check that it has exactly the record's fields; their values are
 * the same, though typed apart where the file's schema says JSON and the domain type says what that JSON holds.
 */
function asRecord<K extends RecordKind, T extends Record<RecordFields<K>, unknown>>(
  kind: K,
  fields: T & Record<Exclude<keyof T, RecordFields<K>>, never>,
): RecordOf<K> {
  return { kind, ...fields } as unknown as RecordOf<K>;
}
