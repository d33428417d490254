// GET /api/conversations, GET /api/conversations/:id/messages, PATCH (rename) and DELETE /api/conversations/:id: a
// principal's history.

import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Conversation } from '../../../core/conversation-store.ts';
import { RivuletError } from '../../../core/errors.ts';
import { idSchema, parseWith } from '../../schemas.ts';
import { principalOf } from '../access.ts';
import type { AppContext } from '../context.ts';

const listQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  /** `nextCursor` of the previous page: "<updatedAt>:<id>". */
  after: z
    .string()
    .regex(/^\d{1,16}:[\w.-]{1,200}$/, 'must be the nextCursor of the previous page')
    .transform((value) => {
      const colon = value.indexOf(':');
      return { updatedAt: Number(value.slice(0, colon)), id: value.slice(colon + 1) };
    })
    .optional(),
});
const messagesQuery = z.strictObject({ limit: z.coerce.number().int().min(1).max(1000).optional() });
const params = z.strictObject({ conversationId: idSchema });
const renameBody = z.strictObject({
  /** One line; shown in the history. */
  title: z
    .string()
    .transform((title) => title.replace(/\s+/gu, ' ').trim())
    .pipe(z.string().min(1, 'must not be empty').max(200)),
});

export function registerConversationRoutes(server: FastifyInstance, context: AppContext): void {
  const { conversations } = context.stores;

  /** Someone else's conversation is "not found", so ids cannot be probed. */
  async function ownedConversation(request: FastifyRequest): Promise<Conversation> {
    const { conversationId } = parseWith(params, request.params, 'path');
    const conversation = await conversations.getConversation(conversationId);
    if (conversation === undefined || conversation.ownerId !== principalOf(request).id) {
      throw new RivuletError('CONVERSATION_NOT_FOUND');
    }
    return conversation;
  }

  server.get('/api/conversations', async (request) => {
    const query = parseWith(listQuery, request.query, 'query');
    const list = await conversations.listConversations(principalOf(request).id, {
      limit: query.limit,
      ...(query.after === undefined ? {} : { after: query.after }),
    });
    const last = list.at(-1);
    return {
      conversations: list,
      // Pass as `after` for the next page; null on the last one.
      nextCursor: list.length === query.limit && last !== undefined ? `${last.updatedAt}:${last.id}` : null,
    };
  });

  server.get('/api/conversations/:conversationId/messages', async (request) => {
    const conversation = await ownedConversation(request);
    const query = parseWith(messagesQuery, request.query, 'query');
    return { conversation, messages: await conversations.listMessages(conversation.id, query.limit) };
  });

  server.patch('/api/conversations/:conversationId', async (request) => {
    const conversation = await ownedConversation(request);
    const { title } = parseWith(renameBody, request.body, 'body');
    if (!(await conversations.renameConversation(conversation.id, title))) {
      throw new RivuletError('CONVERSATION_NOT_FOUND');
    }
    return { ...conversation, title };
  });

  server.delete('/api/conversations/:conversationId', async (request, reply) => {
    const conversation = await ownedConversation(request);
    await conversations.deleteConversation(conversation.id);
    return reply.code(204).send();
  });
}
