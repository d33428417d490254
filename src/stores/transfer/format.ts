// The export file format (docs/export-import.md): JSON lines, a header, then one record per line by kind, parents
// before children, then an end record. One zod schema per record kind; the types derive from them.

import { z } from 'zod';

export const FORMAT_NAME = 'rivulet-export';
/**
 * Bumped on any change to what a line holds (a field added, removed or changed in meaning, a new kind). Import reads
 * every version up to this one and refuses newer files.
 */
export const FORMAT_VERSION = 1;

export type Backend = 'sqlite' | 'postgres';

/** Record kinds in the order they appear in a file: every kind's parents come before it. */
export const RECORD_KINDS = [
  'collection',
  'chatbot',
  'api-key',
  'token-usage',
  'embedding-space',
  'document',
  'chunk',
  'conversation',
  'message',
] as const;

export type RecordKind = (typeof RECORD_KINDS)[number];

export type RecordCounts = Record<RecordKind, number>;

const count = z.int().min(0);
const time = z.int().min(0);
const id = z.string().min(1);
const json = z.json();
const jsonObject = z.record(z.string(), json);
/** Standard base64 with padding (the secret hash and vectors). */
const base64 = z.base64();

export const headerSchema = z.strictObject({
  format: z.literal(FORMAT_NAME),
  version: z.int().min(1),
  exportedAt: z.iso.datetime(),
  source: z.strictObject({ backend: z.enum(['sqlite', 'postgres']), schema: z.int().min(0) }),
  /** Records of each kind that follow: import's progress total, and checked against what it read. */
  counts: z.strictObject(
    Object.fromEntries(RECORD_KINDS.map((kind) => [kind, count])) as Record<RecordKind, typeof count>,
  ),
});

export type ExportHeader = z.infer<typeof headerSchema>;

/** Just enough of the first line to say which format and version a file is before reading the rest. */
export const versionProbeSchema = z.looseObject({ format: z.string(), version: z.int() });

export const collectionSchema = z.strictObject({
  kind: z.literal('collection'),
  id,
  orgId: z.string().nullable(),
  createdAt: time,
});

export const chatbotSchema = z.strictObject({
  kind: z.literal('chatbot'),
  id,
  name: z.string(),
  collectionId: id,
  systemPrompt: z.string().nullable(),
  temperature: z.number().nullable(),
  maxTokens: z.int().nullable(),
  glossary: z.array(json),
  orgId: z.string().nullable(),
  model: z.string().nullable(),
  providers: z.array(z.string()),
  visibility: z.enum(['private', 'public']),
  allowedOrigins: z.array(z.string()),
  limits: jsonObject,
  /** Absent in files exported before chatbots had tools: no tools. MCP headers and env are exported in full. */
  tools: jsonObject.optional(),
  createdAt: time,
  updatedAt: time,
});

export const apiKeySchema = z.strictObject({
  kind: z.literal('api-key'),
  id,
  name: z.string(),
  orgId: z.string().nullable(),
  admin: z.boolean(),
  /** SHA-256 of the secret, base64: the secret itself is never stored, so never exported. */
  secretHash: base64,
  createdAt: time,
  lastUsedAt: time.nullable(),
  revokedAt: time.nullable(),
});

export const tokenUsageSchema = z.strictObject({
  kind: z.literal('token-usage'),
  day: z.iso.date(),
  scope: z.string().min(1),
  subject: z.string(),
  tokens: count,
});

export const embeddingSpaceSchema = z.strictObject({
  kind: z.literal('embedding-space'),
  /** "provider:model" of every vector in the file. */
  model: z.string().min(1),
  dimensions: z.int().min(1).max(8192),
});

export const documentSchema = z.strictObject({
  kind: z.literal('document'),
  id,
  collectionId: id,
  source: z.string(),
  title: z.string(),
  mediaType: z.string(),
  contentHash: z.string(),
  embeddingModel: z.string().nullable(),
  metadata: jsonObject,
  chunkCount: count,
  bytes: count,
  ownerId: z.string().nullable(),
  createdAt: time,
  updatedAt: time,
});

export const chunkSchema = z.strictObject({
  kind: z.literal('chunk'),
  id,
  documentId: id,
  ordinal: count,
  heading: z.string(),
  text: z.string(),
  /** null when the chunk has none (stored as NULL, not as {}). */
  metadata: jsonObject.nullable(),
  /** The chunk's embedding: base64 of its little-endian float32 array, in the file's embedding space. */
  vector: base64.nullable(),
});

export const conversationSchema = z.strictObject({
  kind: z.literal('conversation'),
  id,
  ownerId: z.string().nullable(),
  chatbotId: id,
  title: z.string().nullable(),
  createdAt: time,
  updatedAt: time,
});

export const messageSchema = z.strictObject({
  kind: z.literal('message'),
  id,
  conversationId: id,
  role: z.enum(['user', 'assistant']),
  content: z.string(),
  createdAt: time,
  status: z.enum(['streaming', 'complete', 'stopped', 'failed', 'interrupted']).nullable(),
  runId: z.string().nullable(),
  finishReason: z.string().nullable(),
  errorCode: z.string().nullable(),
  usage: jsonObject.nullable(),
  timings: jsonObject.nullable(),
  sources: z.array(json).nullable(),
  cached: z.boolean().nullable(),
  metadata: jsonObject.nullable(),
  /** An agent answer's steps (absent in files written before agents). */
  steps: z.array(json).nullable().optional(),
});

export const endSchema = z.strictObject({ kind: z.literal('end') });

/** Each kind's schema, so a line is validated against its own kind's (and an error names the right fields). */
export const RECORD_SCHEMAS = {
  collection: collectionSchema,
  chatbot: chatbotSchema,
  'api-key': apiKeySchema,
  'token-usage': tokenUsageSchema,
  'embedding-space': embeddingSpaceSchema,
  document: documentSchema,
  chunk: chunkSchema,
  conversation: conversationSchema,
  message: messageSchema,
} as const satisfies Record<RecordKind, z.ZodType>;

export type ExportedCollection = z.infer<typeof collectionSchema>;
export type ExportedChatbot = z.infer<typeof chatbotSchema>;
export type ExportedApiKey = z.infer<typeof apiKeySchema>;
export type ExportedTokenUsage = z.infer<typeof tokenUsageSchema>;
export type ExportedEmbeddingSpace = z.infer<typeof embeddingSpaceSchema>;
export type ExportedDocument = z.infer<typeof documentSchema>;
export type ExportedChunk = z.infer<typeof chunkSchema>;
export type ExportedConversation = z.infer<typeof conversationSchema>;
export type ExportedMessage = z.infer<typeof messageSchema>;

/** One data line of a file (every kind but the end record). */
export type ExportRecord = { [K in RecordKind]: z.infer<(typeof RECORD_SCHEMAS)[K]> }[RecordKind];

export type RecordOf<K extends RecordKind> = Extract<ExportRecord, { kind: K }>;

/** Consecutive records of one kind, as import hands them to a backend. */
export type RecordBatch = { [K in RecordKind]: { kind: K; records: RecordOf<K>[] } }[RecordKind];

export function isRecordKind(value: unknown): value is RecordKind {
  return (RECORD_KINDS as readonly unknown[]).includes(value);
}

export function emptyCounts(): RecordCounts {
  return Object.fromEntries(RECORD_KINDS.map((kind) => [kind, 0])) as RecordCounts;
}
