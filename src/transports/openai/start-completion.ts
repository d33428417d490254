// Starts the run of a completion request through the one ChatService: the client's earlier turns become a new
// conversation owned by the caller, so the pipeline reads them as history like any other conversation's.

import type { ChatService } from '../../core/chat-service.ts';
import type { ChatbotStore } from '../../core/chatbots.ts';
import { newMessageId } from '../../core/conversation-ids.ts';
import type { ConversationStore } from '../../core/conversation-store.ts';
import { RivuletError } from '../../core/errors.ts';
import { chatRefusal, type Principal } from '../../core/principal.ts';
import type { RunProducer } from '../../core/run-hub.ts';
import type { CompletionRequest } from './chat-request.ts';

export interface CompletionDeps {
  chat: ChatService;
  chatbots: ChatbotStore;
  conversations: ConversationStore;
}

/**
 * Every request starts a new conversation (OpenAI clients send the whole exchange each time): its earlier turns are
 * stored first, then the question and the answer as usual. A refusal (a limit, a question too long, shutdown)
 * deletes that conversation again, so nothing is left of a request that never ran. `max_tokens` stays within the
 * chatbot's own `maxTokens`.
 */
export async function startCompletion(
  deps: CompletionDeps,
  request: CompletionRequest,
  principal: Principal,
): Promise<RunProducer> {
  const chatbot = await deps.chatbots.getChatbot(request.chatbotId);
  const refusal = chatbot === undefined ? 'not-found' : chatRefusal(principal, chatbot);
  if (refusal === 'origin') throw new RivuletError('ORIGIN_NOT_ALLOWED');
  if (refusal === 'not-found' || chatbot === undefined) {
    throw new RivuletError('CHATBOT_NOT_FOUND', {
      message: `The model "${request.chatbotId}" names no chatbot you may use (GET /v1/models lists them).`,
    });
  }
  const limit = chatbot.maxTokens ?? undefined;
  const maxTokens =
    request.maxTokens === undefined || limit === undefined
      ? (request.maxTokens ?? undefined)
      : Math.min(request.maxTokens, limit);
  const input = {
    message: request.question,
    chatbotId: chatbot.id,
    ...(request.temperature === undefined ? {} : { temperature: request.temperature }),
    ...(maxTokens === undefined ? {} : { maxTokens }),
  };
  if (request.history.length === 0) return deps.chat.start(input, principal);

  const conversation = await deps.conversations.createConversation(principal.id, chatbot.id);
  try {
    const createdAt = Date.now();
    for (const turn of request.history) {
      await deps.conversations.appendMessage({
        id: newMessageId(),
        conversationId: conversation.id,
        role: turn.role,
        content: turn.content,
        createdAt,
        ...(turn.role === 'assistant' ? { status: 'complete' as const } : {}),
      });
    }
    return await deps.chat.start({ ...input, conversationId: conversation.id }, principal);
  } catch (error) {
    await deps.conversations.deleteConversation(conversation.id);
    throw error;
  }
}
