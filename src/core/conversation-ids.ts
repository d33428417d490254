// New conversations' ids and rows (apart from conversation-store.ts, which the web client's types include: no
// node:crypto there).

import { appendedTo, type Conversation, type StoredMessage } from './conversation-store.ts';
import { timeOrderedUuid } from './ids.ts';

/** A generated conversation id; later ones sort later (see timeOrderedUuid). */
export function newConversationId(): string {
  return `conv_${timeOrderedUuid()}`;
}

/** A generated message id; later ones sort later (see timeOrderedUuid). */
export function newMessageId(): string {
  return `msg_${timeOrderedUuid()}`;
}

/**
 * The conversation `createConversation` makes now, under `chosenId` (generated when undefined), with its first
 * `messages` (those of appendedTo) already in it: updated when the newest was created, titled by the first question.
 */
export function newConversation(
  chosenId: string | undefined,
  ownerId: string | null,
  chatbotId: string,
  messages: readonly StoredMessage[],
): Conversation {
  const id = chosenId ?? newConversationId();
  const now = Date.now();
  const appended = appendedTo(messages);
  if (appended.conversationId !== undefined && appended.conversationId !== id) {
    throw new Error('createConversation: the first messages must belong to the new conversation');
  }
  return {
    id,
    ownerId,
    chatbotId,
    title: appended.title,
    createdAt: now,
    updatedAt: Math.max(now, appended.updatedAt),
  };
}
