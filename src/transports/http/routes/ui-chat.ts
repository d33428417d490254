// The AI SDK's `useChat` against Rivulet: POST /api/chat/ui (the UI message stream), GET /api/chat/ui/:chatId/stream
// (the chat's active answer replayed from its start, 204 when there is none) and POST /api/chat/ui/:chatId/stop.

import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { RivuletError } from '../../../core/errors.ts';
import type { RunInfo } from '../../../core/run-hub.ts';
import {
  UI_MESSAGE_STREAM_HEADER,
  UI_MESSAGE_STREAM_VERSION,
  uiMessageStreamFormat,
} from '../../encoders/ui-message-stream.ts';
import { idSchema, metadataSchema, parseWith } from '../../schemas.ts';
import { principalOf } from '../access.ts';
import type { AppContext } from '../context.ts';
import { streamCompressionFor, streamRunToResponse } from '../stream-response.ts';

/** A chat id names the Rivulet conversation itself; `.` and `..` would be path segments in the reconnect URL. */
const chatIdSchema = idSchema.refine((value) => !/^\.+$/.test(value), 'must not be only dots');

/** A UI message as `useChat` sends it: only the text parts of the last user message are read. */
const uiMessageSchema = z.looseObject({
  role: z.enum(['system', 'user', 'assistant']),
  parts: z.array(z.looseObject({ type: z.string(), text: z.unknown().optional() })).max(1000),
});

/**
 * The body `DefaultChatTransport` posts: `id` (the chat), `messages`, `trigger`, `messageId`, plus whatever the app
 * put in `body` (read: chatbotId, temperature, maxTokens, metadata; anything else is ignored, as an app's own fields
 * may ride along).
 */
const uiChatRequestSchema = z.looseObject({
  id: chatIdSchema,
  messages: z.array(uiMessageSchema).min(1).max(10_000),
  trigger: z.enum(['submit-message', 'regenerate-message']).optional(),
  messageId: z.string().max(200).nullish(),
  chatbotId: idSchema.optional(),
  temperature: z.number().min(0).max(2).optional(),
  maxTokens: z.number().int().min(1).max(1_000_000).optional(),
  metadata: metadataSchema.optional(),
});

const chatParamsSchema = z.strictObject({ chatId: chatIdSchema });

/** The question: the text parts of the last message, which must be the user's (a regenerate resends it). */
function questionOf(messages: z.infer<typeof uiMessageSchema>[]): string {
  const last = messages.at(-1);
  const text =
    last?.role === 'user'
      ? last.parts
          .filter((part) => part.type === 'text' && typeof part.text === 'string')
          .map((part) => String(part.text))
          .join('\n')
      : '';
  if (text.trim() === '') {
    throw new RivuletError('VALIDATION_FAILED', {
      message: 'Invalid request: messages: the last message must be the user’s, with text.',
    });
  }
  return text;
}

export function registerUiChatRoutes(server: FastifyInstance, context: AppContext): void {
  const conversations = context.stores.conversations;
  const streamHeaders = (request: FastifyRequest, runId: string): Record<string, string> => ({
    [UI_MESSAGE_STREAM_HEADER]: UI_MESSAGE_STREAM_VERSION,
    'x-run-id': runId,
    'x-request-id': request.id,
  });

  /**
   * The chat's answer still being written, if any: the run of its newest stored answer, while the hub runs it.
   * Someone else's chat is CONVERSATION_NOT_FOUND, as `POST` refuses it; an unknown chat has no answer.
   */
  const activeRun = async (request: FastifyRequest): Promise<RunInfo | undefined> => {
    const { chatId } = parseWith(chatParamsSchema, request.params, 'path');
    const owner = principalOf(request).id;
    const conversation = await conversations.getConversation(chatId);
    if (conversation === undefined) return undefined;
    if (conversation.ownerId !== owner) throw new RivuletError('CONVERSATION_NOT_FOUND');
    const latest = (await conversations.listMessages(chatId, 2)).findLast(
      (message) => message.role === 'assistant' && message.runId !== undefined,
    );
    if (latest?.runId === undefined) return undefined;
    const info = await context.hub.info(latest.runId);
    return info !== undefined && info.ownerId === owner && info.state === 'running' ? info : undefined;
  };

  server.post('/api/chat/ui', async (request, reply) => {
    const body = parseWith(uiChatRequestSchema, request.body);
    const principal = principalOf(request);
    const input = {
      message: questionOf(body.messages),
      chatbotId: body.chatbotId,
      temperature: body.temperature,
      maxTokens: body.maxTokens,
      metadata: body.metadata,
    };
    const existing = await conversations.getConversation(body.id);
    // An existing chat id is checked like any conversationId (someone else's is CONVERSATION_NOT_FOUND); a new one
    // becomes the new conversation's id (two first messages of one chat at once: the second goes into the first's).
    const run = await context.chat.start(
      existing === undefined
        ? { ...input, newConversationId: body.id }
        : { ...input, conversationId: body.id },
      principal,
    );
    request.log.info({ runId: run.runId, conversationId: body.id }, 'run started');
    reply.hijack();
    const streamed = await streamRunToResponse(reply.raw, {
      hub: context.hub,
      runId: run.runId,
      afterSeq: -1,
      format: uiMessageStreamFormat,
      timing: context.config.sse,
      compression: streamCompressionFor(context, request),
      headers: { ...reply.getHeaders(), ...streamHeaders(request, run.runId) },
    });
    // Refused a reader (TOO_MANY_READERS): nobody would read this answer, so it is not generated.
    if (!streamed) await context.hub.stop(run.runId);
  });

  server.get('/api/chat/ui/:chatId/stream', async (request, reply) => {
    const info = await activeRun(request);
    // No answer being written: `reconnectToStream` returns null and `useChat` stays ready.
    if (info === undefined) return reply.code(204).send();
    request.log.debug({ runId: info.runId, lastSeq: info.lastSeq }, 'chat answer replayed');
    reply.hijack();
    // From the start: the format has no positions, and DefaultChatTransport rebuilds the message from a replay.
    await streamRunToResponse(reply.raw, {
      hub: context.hub,
      runId: info.runId,
      afterSeq: -1,
      format: uiMessageStreamFormat,
      timing: context.config.sse,
      compression: streamCompressionFor(context, request),
      headers: { ...reply.getHeaders(), ...streamHeaders(request, info.runId) },
    });
    return reply;
  });

  server.post(
    '/api/chat/ui/:chatId/stop',
    {
      // A stop button's `fetch` may send `Content-Type: application/json` with no body: nothing to parse.
      onRequest: (request, _reply, done) => {
        const length = request.headers['content-length'];
        if (length === undefined || length === '0') delete request.headers['content-type'];
        done();
      },
    },
    async (request) => {
      // `useChat`'s own stop() only drops the connection, which resume must survive: this is the explicit stop.
      const info = await activeRun(request);
      const stopped = info === undefined ? false : await context.hub.stop(info.runId);
      return { runId: info?.runId ?? null, stopped };
    },
  );
}
