// Request schemas shared by HTTP and WebSocket, and the one place validation failures become coded errors.

import { z } from 'zod';
import type { MessageMetadata } from '../core/conversation-store.ts';
import { RivuletError } from '../core/errors.ts';

/** Ids in paths and bodies: conv_..., run_..., doc_..., chatbot names. */
export const idSchema = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[\w.-]+$/, 'only letters, digits, "_", "-" and "."');
const id = idSchema;

/** Bounds on a chat request's `metadata` (see docs/protocol.md). */
export const METADATA_LIMITS = { maxKeys: 32, maxKeyChars: 64, maxBytes: 8 * 1024, maxDepth: 16 } as const;

/**
 * What a client may send with a question and get back with the conversation: a JSON object of at most 32 keys (1 to
 * 64 characters each), 8 KB serialized and 16 levels deep. The value is kept as it arrived (it came from JSON, so it
 * holds nothing but JSON values).
 */
export const metadataSchema = z
  .custom<MessageMetadata>(
    (value) => typeof value === 'object' && value !== null && !Array.isArray(value),
    'must be an object',
  )
  .superRefine((value, context) => {
    const keys = Object.keys(value);
    if (keys.length > METADATA_LIMITS.maxKeys) {
      context.addIssue({
        code: 'custom',
        message: `at most ${METADATA_LIMITS.maxKeys} keys (got ${keys.length})`,
      });
      return;
    }
    const badKey = keys.find((key) => key.length === 0 || key.length > METADATA_LIMITS.maxKeyChars);
    if (badKey !== undefined) {
      context.addIssue({
        code: 'custom',
        message: `keys must be 1 to ${METADATA_LIMITS.maxKeyChars} characters (got one of ${badKey.length})`,
      });
      return;
    }
    const bytes = Buffer.byteLength(JSON.stringify(value));
    if (bytes > METADATA_LIMITS.maxBytes) {
      context.addIssue({
        code: 'custom',
        message: `at most ${METADATA_LIMITS.maxBytes} bytes of JSON (got ${bytes})`,
      });
      return;
    }
    if (jsonDepth(value) > METADATA_LIMITS.maxDepth) {
      context.addIssue({ code: 'custom', message: `at most ${METADATA_LIMITS.maxDepth} levels deep` });
    }
  });

/** How deeply a JSON value nests objects and arrays (iterative: no recursion on hostile input). */
function jsonDepth(root: unknown): number {
  let deepest = 0;
  const stack: [unknown, number][] = [[root, 1]];
  while (stack.length > 0) {
    const [value, depth] = stack.pop()!;
    if (typeof value !== 'object' || value === null) continue;
    deepest = Math.max(deepest, depth);
    for (const child of Object.values(value)) stack.push([child, depth + 1]);
  }
  return deepest;
}

/** The length of `message` is the chat service's to check: a question too long is a 413 MESSAGE_TOO_LONG. */
export function chatRequestSchema() {
  return z.strictObject({
    message: z.string().refine((value) => value.trim().length > 0, 'must not be empty'),
    conversationId: id.optional(),
    chatbotId: id.optional(),
    temperature: z.number().min(0).max(2).optional(),
    maxTokens: z.number().int().min(1).max(1_000_000).optional(),
    metadata: metadataSchema.optional(),
  });
}

export const runParamsSchema = z.strictObject({ runId: id });

export const runEventsQuerySchema = z.strictObject({ lastEventId: z.string().max(300).optional() });

/** `GET /api/runs/:runId/poll`: `after` an event seq (-1: from the start), `wait` in milliseconds (capped by the route). */
export const runPollQuerySchema = z.strictObject({
  after: z
    .string()
    .regex(/^(-1|\d{1,15})$/, 'must be an event seq (a whole number, or -1 for the start)')
    .transform(Number)
    .optional(),
  wait: z
    .string()
    .regex(/^\d{1,9}$/, 'must be a whole number of milliseconds')
    .transform(Number)
    .optional(),
});

export function wsClientMessageSchema() {
  const requestId = z.string().min(1).max(200).optional();
  return z.discriminatedUnion('type', [
    chatRequestSchema().extend({ type: z.literal('chat'), requestId }),
    /** Signs the socket in (browsers cannot send headers with a WebSocket): a token, or a public chatbot's session. */
    z.strictObject({
      type: z.literal('auth'),
      token: z.string().min(1).max(8192).optional(),
      sessionId: z.string().min(1).max(200).optional(),
      requestId,
    }),
    z.strictObject({
      type: z.literal('resume'),
      runId: id,
      lastSeq: z.number().int().min(-1).optional(),
      requestId,
    }),
    z.strictObject({ type: z.literal('stop'), runId: id, requestId }),
    /** Joins a room; `lastSeqs` resumes its running answers after the seq this client has of each. */
    z.strictObject({
      type: z.literal('room-join'),
      roomId: id,
      lastSeqs: z
        .record(id, z.number().int().min(-1))
        .refine((value) => Object.keys(value).length <= 32, 'at most 32 runs')
        .optional(),
      requestId,
    }),
    z.strictObject({ type: z.literal('room-leave'), roomId: id, requestId }),
    /** Asks in a room this socket joined: every member sees the question and the answer. */
    chatRequestSchema()
      .omit({ conversationId: true, chatbotId: true })
      .extend({ type: z.literal('room-ask'), roomId: id, requestId }),
  ]);
}

export type WsClientMessage = z.infer<ReturnType<typeof wsClientMessageSchema>>;

/** Parses or throws VALIDATION_FAILED naming each offending field (`where` names the part: body, query, path). */
export function parseWith<T>(schema: z.ZodType<T>, value: unknown, where = 'body'): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const problems = result.error.issues
    .slice(0, 5)
    .map(
      (issue) =>
        `${issue.path.length > 0 ? `${where === 'body' ? '' : `${where}.`}${issue.path.join('.')}` : where}: ${issue.message}`,
    );
  throw new RivuletError('VALIDATION_FAILED', { message: `Invalid request: ${problems.join('; ')}` });
}

/** An origin as browsers send it: scheme://host[:port], nothing after. */
const originSchema = z
  .string()
  .max(300)
  .refine((value) => {
    try {
      return new URL(value).origin === value;
    } catch {
      return false;
    }
  }, 'must be an origin like https://shop.example');

const glossaryTermSchema = z.strictObject({
  term: z.string().min(1).max(200),
  definition: z.string().min(1).max(2000),
  synonyms: z.array(z.string().min(1).max(200)).max(50).optional(),
});

const secretValues = z
  .record(
    z.string().regex(/^[A-Za-z0-9_.-]{1,100}$/, 'must be a name of letters, digits, _ . -'),
    z.string().max(8_000),
  )
  .refine((record) => Object.keys(record).length <= 50, 'at most 50 entries');

const mcpServerBase = {
  name: z
    .string()
    .regex(
      /^[a-zA-Z0-9-]{1,32}$/,
      'must be 1 to 32 letters, digits or -: it prefixes the tool names (name__tool)',
    ),
  timeoutMs: z.number().int().min(100).max(600_000).nullable().default(null),
  maxResultChars: z.number().int().min(100).max(1_000_000).nullable().default(null),
};

/** An MCP server a chatbot's answers may call (stdio runs a command on the server: instance admins only). */
const mcpServerSchema = z.discriminatedUnion('transport', [
  z.strictObject({
    ...mcpServerBase,
    transport: z.literal('stdio'),
    command: z.string().min(1).max(1_000),
    args: z.array(z.string().max(4_000)).max(100).default([]),
    env: secretValues.default({}),
  }),
  z.strictObject({
    ...mcpServerBase,
    transport: z.literal('http'),
    url: z
      .string()
      .max(2_000)
      .refine(
        (value) => URL.canParse(value) && /^https?:$/.test(new URL(value).protocol),
        'must be an http(s) URL',
      ),
    headers: secretValues.default({}),
  }),
]);

/** A chatbot's tools; each field optional (left out: unchanged). */
const chatbotToolsSchema = z
  .strictObject({
    searchDocuments: z.boolean().optional(),
    maxSteps: z.number().int().min(1).max(20).optional(),
    mcpServers: z.array(mcpServerSchema).max(10).optional(),
    allowedTools: z
      .array(z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/))
      .max(500)
      .nullable()
      .optional(),
  })
  .refine(
    (tools) =>
      new Set((tools.mcpServers ?? []).map((server) => server.name)).size === (tools.mcpServers ?? []).length,
    { message: 'MCP server names must be unique', path: ['mcpServers'] },
  );

/** A chatbot's settings as the admin API and `rivulet chatbots` take them; every field optional (PATCH). */
export const chatbotSettingsSchema = z.strictObject({
  name: z.string().min(1).max(200).optional(),
  orgId: idSchema.nullable().optional(),
  collectionId: idSchema.optional(),
  model: z.string().min(1).max(200).nullable().optional(),
  providers: z
    .array(z.string().regex(/^[a-z-]+(:.{1,200})?$/, 'must be a provider kind or kind:model'))
    .max(10)
    .optional(),
  systemPrompt: z.string().max(20_000).nullable().optional(),
  temperature: z.number().min(0).max(2).nullable().optional(),
  maxTokens: z.number().int().min(1).max(1_000_000).nullable().optional(),
  glossary: z.array(glossaryTermSchema).max(500).optional(),
  visibility: z.enum(['private', 'public']).optional(),
  allowedOrigins: z.array(originSchema).max(100).optional(),
  /** Each limit optional (left out: unchanged); null clears it (the configured default applies). */
  limits: z
    .strictObject({
      tokensPerDay: z.number().int().min(1).nullable().optional(),
      /** RUN_MAX_DURATION_MS for this chatbot's answers: 100 ms to 24 h. */
      maxDurationMs: z.number().int().min(100).max(86_400_000).nullable().optional(),
      /** LLM_STALL_MS for this chatbot's model calls: 100 ms to 10 min. */
      stallTimeoutMs: z.number().int().min(100).max(600_000).nullable().optional(),
    })
    .optional(),
  /** Agent tools ([agents.md](../../docs/agents.md)); each field optional, mcpServers replaced as a whole. */
  tools: chatbotToolsSchema.optional(),
});

export type ChatbotSettings = z.infer<typeof chatbotSettingsSchema>;

export const newChatbotSchema = chatbotSettingsSchema.extend({ id: idSchema });

export const newApiKeySchema = z.strictObject({
  name: z.string().min(1).max(200),
  orgId: idSchema.nullable().optional(),
  admin: z.boolean().optional(),
});
