// conversations and messages rows and the Conversation and StoredMessage they hold, for every backend.

import type { Conversation, StoredMessage, Turn } from '../../core/conversation-store.ts';
import type { ColumnCodec, ColumnTypes } from './columns.ts';

export interface ConversationRow {
  id: string;
  owner_id: string | null;
  chatbot_id: string;
  title: string | null;
  created_at: number;
  updated_at: number;
}

/** Columns status ... metadata are NULL where a StoredMessage leaves the field out. */
export interface MessageRow<C extends ColumnTypes> {
  id: string;
  conversation_id: string;
  role: 'user' | 'assistant';
  content: string;
  created_at: number;
  status: NonNullable<StoredMessage['status']> | null;
  run_id: string | null;
  finish_reason: NonNullable<StoredMessage['finishReason']> | null;
  error_code: string | null;
  usage: C['json'] | null;
  timings: C['json'] | null;
  sources: C['json'] | null;
  cached: C['flag'] | null;
  metadata: C['json'] | null;
  steps: C['json'] | null;
}

export function toConversation(row: ConversationRow): Conversation {
  return {
    id: row.id,
    ownerId: row.owner_id,
    chatbotId: row.chatbot_id,
    title: row.title,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/** The columns of a Turn (listTurns). */
export type TurnRow = Pick<MessageRow<ColumnTypes>, 'role' | 'content' | 'status'>;

/** A history row as the prompt reads it: status only when it has one. */
export function toTurn(row: TurnRow): Turn {
  return row.status === null
    ? { role: row.role, content: row.content }
    : { role: row.role, content: row.content, status: row.status };
}

/** On the answer's hot path (listMessages): one object per row, fields set only when present. */
export function toMessage<C extends ColumnTypes>(row: MessageRow<C>, columns: ColumnCodec<C>): StoredMessage {
  const message: StoredMessage = {
    id: row.id,
    conversationId: row.conversation_id,
    role: row.role,
    content: row.content,
    createdAt: row.created_at,
  };
  if (row.status !== null) message.status = row.status;
  if (row.run_id !== null) message.runId = row.run_id;
  if (row.finish_reason !== null) message.finishReason = row.finish_reason;
  if (row.error_code !== null) message.errorCode = row.error_code;
  if (row.usage !== null) message.usage = columns.json(row.usage);
  if (row.timings !== null) message.timings = columns.json(row.timings);
  if (row.sources !== null) message.sources = columns.json(row.sources);
  if (row.cached !== null) message.cached = columns.flag(row.cached);
  if (row.metadata !== null) message.metadata = columns.json(row.metadata);
  if (row.steps !== null) message.steps = columns.json(row.steps);
  return message;
}

/**
 * The sources each streaming answer's row holds, as this process's store wrote them: by the answer's id, the array its
 * last checkpoint with sources stored (remembered once that write committed). An answer's sources change only by being
 * replaced with another array (an agent's search that finds passages makes a new one; ConversationStore asks that
 * arrays passed to it are not changed afterwards), so a final store passing the array its row got from the last
 * checkpoint can keep the row's sources instead of writing them again: about 3.5 KB of JSON with the sample corpus, on
 * SQLite a final store's CPU goes from about 38 to 29 µs, on PostgreSQL the JSON sent, parsed into jsonb and stored
 * again. The stores keep them only while the row is still `streaming`: an instance that took the owner for dead ends
 * the answer with the sources it read, which the owner's final store then writes over as before. Anything else is
 * written as before too: other sources, none, or sources no checkpoint of this process stored (a checkpoint that found
 * the answer already ended stores nothing). An entry lives from the answer's first checkpoint with sources to its final
 * store, which takes it whatever it writes.
 */
export class CheckpointedSources {
  readonly #byMessage = new Map<string, StoredMessage['sources']>();

  /** After a checkpoint that stored `sources` in the row of message `id` has committed. */
  remember(id: string, sources: StoredMessage['sources']): void {
    this.#byMessage.set(id, sources);
  }

  /**
   * Takes the message's entry: whether its row got `message.sources` (the same array) from this process's last
   * checkpoint. The caller still checks that the row is streaming.
   */
  takeHeld(message: StoredMessage): boolean {
    const stored = this.#byMessage.get(message.id);
    this.#byMessage.delete(message.id);
    return stored !== undefined && stored === message.sources;
  }
}
