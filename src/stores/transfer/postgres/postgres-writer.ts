// Records written into PostgreSQL inside the transaction PostgresTransfer.transaction holds: each batch one INSERT from
// a JSON array (jsonb_to_recordset), so a batch is one round trip and one parameter whatever its size.

import type { TransactionSql } from 'postgres';
import { DEFAULT_CHATBOT_ID, noTools } from '../../../core/chatbots.ts';
import { pgJson } from '../../postgres/database.ts';
import type { ExportRecord, RecordBatch, RecordOf } from '../format.ts';
import type { TargetContents, TargetWriter } from '../transfer-backend.ts';
import { PostgresChunkSink } from './postgres-chunks.ts';

export class PostgresWriter implements TargetWriter {
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
            model, providers, visibility, allowed_origins, limits, tools, created_at, updated_at)
          SELECT id, name, "collectionId", "systemPrompt", temperature, "maxTokens", glossary, "orgId", model,
            providers, visibility, "allowedOrigins", limits, coalesce(tools, ${pgJson(noTools())}::text::jsonb),
            "createdAt", "updatedAt"
          FROM jsonb_to_recordset(${rowsJson(batch.records)}::text::jsonb) AS r(id text, name text,
            "collectionId" text, "systemPrompt" text, temperature double precision, "maxTokens" int, glossary jsonb,
            "orgId" text, model text, providers jsonb, visibility text, "allowedOrigins" jsonb, limits jsonb,
            tools jsonb, "createdAt" bigint, "updatedAt" bigint, n int)
          ORDER BY n
          ON CONFLICT (id) DO UPDATE SET name = excluded.name, collection_id = excluded.collection_id,
            system_prompt = excluded.system_prompt, temperature = excluded.temperature,
            max_tokens = excluded.max_tokens, glossary = excluded.glossary, org_id = excluded.org_id,
            model = excluded.model, providers = excluded.providers, visibility = excluded.visibility,
            allowed_origins = excluded.allowed_origins, limits = excluded.limits, tools = excluded.tools,
            created_at = excluded.created_at,
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
            error_code, usage, timings, sources, cached, metadata, steps)
          SELECT id, "conversationId", role, content, "createdAt", status, "runId", "finishReason", "errorCode",
            usage, timings, sources, cached, metadata, steps
          FROM jsonb_to_recordset(${rowsJson(batch.records)}::text::jsonb) AS r(id text, "conversationId" text,
            role text, content text, "createdAt" bigint, status text, "runId" text, "finishReason" text,
            "errorCode" text, usage jsonb, timings jsonb, sources jsonb, cached boolean, metadata jsonb, steps jsonb,
            n int)
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
