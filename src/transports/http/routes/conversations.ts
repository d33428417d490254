// GET /api/conversations, GET /api/conversations/:id/messages, DELETE /api/conversations/:id: a principal's history.

import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Conversation } from '../../../core/conversation-store.ts';
import { RivuletError } from '../../../core/errors.ts';
import { idSchema, parseWith } from '../../schemas.ts';
import type { AppContext } from '../context.ts';

const listQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  before: z.coerce.number().int().min(0).optional(),
});
const messagesQuery = z.strictObject({ limit: z.coerce.number().int().min(1).max(1000).optional() });
const params = z.strictObject({ conversationId: idSchema });

export function registerConversationRoutes(server: FastifyInstance, context: AppContext): void {
  const { conversations } = context.stores;

  /** Someone else's conversation is "not found", so ids cannot be probed. */
  async function ownedConversation(request: FastifyRequest): Promise<Conversation> {
    const { conversationId } = parseWith(params, request.params, 'path');
    const conversation = await conversations.getConversation(conversationId);
    if (conversation === undefined || conversation.ownerId !== context.principalOf(request)) {
      throw new RivuletError('CONVERSATION_NOT_FOUND');
    }
    return conversation;
  }

  server.get('/api/conversations', async (request) => {
    const query = parseWith(listQuery, request.query, 'query');
    const list = await conversations.listConversations(context.principalOf(request), query);
    const last = list.at(-1);
    return {
      conversations: list,
      // Pass as `before` for the next page; null on the last one.
      nextBefore: list.length === query.limit && last !== undefined ? last.updatedAt : null,
    };
  });

  server.get('/api/conversations/:conversationId/messages', async (request) => {
    const conversation = await ownedConversation(request);
    const query = parseWith(messagesQuery, request.query, 'query');
    return { conversation, messages: await conversations.listMessages(conversation.id, query.limit) };
  });

  server.delete('/api/conversations/:conversationId', async (request, reply) => {
    const conversation = await ownedConversation(request);
    await conversations.deleteConversation(conversation.id);
    return reply.code(204).send();
  });
}
