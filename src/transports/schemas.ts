// Request schemas shared by HTTP and WebSocket, and the one place validation failures become coded errors.

import { z } from 'zod';
import { RivuletError } from '../core/errors.ts';

/** Ids in paths and bodies: conv_..., run_..., doc_..., chatbot names. */
export const idSchema = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[\w.-]+$/, 'only letters, digits, "_", "-" and "."');
const id = idSchema;

/** The length of `message` is the chat service's to check: a question too long is a 413 MESSAGE_TOO_LONG. */
export function chatRequestSchema() {
  return z.strictObject({
    message: z.string().refine((value) => value.trim().length > 0, 'must not be empty'),
    conversationId: id.optional(),
    chatbotId: id.optional(),
    temperature: z.number().min(0).max(2).optional(),
    maxTokens: z.number().int().min(1).max(1_000_000).optional(),
  });
}

export const runParamsSchema = z.strictObject({ runId: id });

export const runEventsQuerySchema = z.strictObject({ lastEventId: z.string().max(300).optional() });

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
  limits: z.strictObject({ tokensPerDay: z.number().int().min(1).nullable() }).optional(),
});

export type ChatbotSettings = z.infer<typeof chatbotSettingsSchema>;

export const newChatbotSchema = chatbotSettingsSchema.extend({ id: idSchema });

export const newApiKeySchema = z.strictObject({
  name: z.string().min(1).max(200),
  orgId: idSchema.nullable().optional(),
  admin: z.boolean().optional(),
});
