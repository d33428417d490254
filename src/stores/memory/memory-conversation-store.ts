// In-memory conversation store, the default until the SQLite store lands.

import { randomUUID } from 'node:crypto';
import type { Conversation, ConversationStore, StoredMessage } from '../../core/conversation-store.ts';

export class MemoryConversationStore implements ConversationStore {
  private readonly conversations = new Map<
    string,
    { conversation: Conversation; messages: StoredMessage[] }
  >();

  createConversation(ownerId: string | null): Promise<Conversation> {
    const conversation: Conversation = { id: `conv_${randomUUID()}`, ownerId, createdAt: Date.now() };
    this.conversations.set(conversation.id, { conversation, messages: [] });
    return Promise.resolve(conversation);
  }

  getConversation(id: string): Promise<Conversation | undefined> {
    return Promise.resolve(this.conversations.get(id)?.conversation);
  }

  listMessages(conversationId: string, limit = Number.POSITIVE_INFINITY): Promise<StoredMessage[]> {
    const messages = this.conversations.get(conversationId)?.messages ?? [];
    return Promise.resolve(
      limit >= messages.length ? [...messages] : messages.slice(messages.length - limit),
    );
  }

  appendMessage(message: StoredMessage): Promise<void> {
    const entry = this.conversations.get(message.conversationId);
    if (entry === undefined)
      return Promise.reject(new Error(`unknown conversation ${message.conversationId}`));
    entry.messages.push(message);
    return Promise.resolve();
  }
}
