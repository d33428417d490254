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
