// The conversation store contract: conversations and their messages, with the status of each answer.

import type { FinishReason, Timings, Usage } from './events.ts';

export type MessageStatus = 'complete' | 'stopped' | 'failed';

export interface Conversation {
  id: string;
  ownerId: string | null;
  createdAt: number;
}

export interface StoredMessage {
  id: string;
  conversationId: string;
  role: 'user' | 'assistant';
  content: string;
  createdAt: number;
  /** Assistant messages only. */
  status?: MessageStatus;
  runId?: string;
  finishReason?: FinishReason;
  errorCode?: string;
  usage?: Usage | null;
  timings?: Timings;
}

export interface ConversationStore {
  createConversation(ownerId: string | null): Promise<Conversation>;
  getConversation(id: string): Promise<Conversation | undefined>;
  /** The newest `limit` messages, oldest first. */
  listMessages(conversationId: string, limit?: number): Promise<StoredMessage[]>;
  appendMessage(message: StoredMessage): Promise<void>;
}
