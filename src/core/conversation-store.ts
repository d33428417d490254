// The conversation store contract: conversations and their messages, with the status of each answer.

import type { FinishReason, Source, Timings, Usage } from './events.ts';

/**
 * An answer is stored as `streaming` when it starts and checkpointed while it streams; it ends `complete`, `stopped`
 * or `failed`. One a killed process left `streaming` is marked `interrupted` at the next start, with its text so far.
 */
export type MessageStatus = 'streaming' | 'complete' | 'stopped' | 'failed' | 'interrupted';

/** What a checkpoint saves of an answer that is still streaming. */
export interface AnswerProgress {
  /** The text so far. */
  content: string;
  /** The sources, once known (left as they are when absent). */
  sources?: Source[];
}

/** One answer's checkpoint: its message id and what is saved. */
export interface MessageCheckpoint extends AnswerProgress {
  id: string;
}

/** A value JSON can carry. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/**
 * What a client sent with its question (`metadata` of a chat request: a page, a locale, its own ids), kept with the
 * question as given. Bounded by the request schema: at most 32 keys of at most 64 characters, 8 KB of JSON.
 */
export type MessageMetadata = Record<string, JsonValue>;

export interface Conversation {
  id: string;
  ownerId: string | null;
  chatbotId: string;
  /** The first question, shortened; null until the first message is stored. */
  title: string | null;
  createdAt: number;
  /** When the last message was stored. */
  updatedAt: number;
}

/** A message as an answer's history reads it (ConversationStore.listTurns). */
export type Turn = Pick<StoredMessage, 'role' | 'content' | 'status'>;

/** What a new question in an existing conversation needs to know first (getConversationForQuestion). */
export interface ConversationForQuestion {
  conversation: Conversation;
  messageCount: number;
  /** With `options.turns`: listTurns(id, turns), read with the conversation (one statement on PostgreSQL). */
  turns?: Turn[];
  /**
   * With `options.generation`, from a store that reads it in the same statement (PostgreSQL): the lexical generation
   * of the collection of the conversation's chatbot (undefined: the collection has no index), and that collection's
   * id. Read after the question arrived, so with every write to the collection committed before it (see
   * CreateConversationOptions.readGeneration).
   */
  lexical?: { collectionId: string; generation: number | undefined };
  /**
   * With `options.chatbotVersion`: the version of the conversation's chatbot's row as this read found it (what
   * ChatbotStore.lastRead gives with a chatbot); undefined when the chatbot is gone. On SQLite it holds the whole row,
   * the tools' secrets included: compare it, never log or send it.
   */
  chatbotVersion?: string;
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
  /** The passages the answer was grounded on, in citation order ([1] is sources[0]). */
  sources?: Source[];
  /** True when the answer was replayed from the answer cache. */
  cached?: boolean;
  /** User messages only: the request's `metadata`, when it had one. */
  metadata?: MessageMetadata;
  /** Agent answers only (a chatbot with tools): each step's text and the tool calls it made, with their results. */
  steps?: StoredStep[];
}

/** One step of an agent answer as stored: its text, how its model call ended, its tool calls with their results. */
export interface StoredStep {
  step: number;
  text: string;
  finishReason: FinishReason;
  toolCalls: {
    toolCallId: string;
    name: string;
    input: unknown;
    output?: unknown;
    error?: { code: string; message: string };
    durationMs?: number;
  }[];
}

/** A position in a conversation list: the last conversation seen. */
export interface ConversationCursor {
  updatedAt: number;
  id: string;
}

export interface CreateConversationOptions {
  /**
   * Store only if the chatbot's row is still this version (a `lastRead` of the same stores' chatbot store gave it),
   * checked in the same write; otherwise reject with ChatbotChanged, nothing stored. Only stores whose chatbot store
   * has `lastRead` are given one.
   */
  ifChatbotVersion?: string;
  /**
   * A store that can read it in the same write (PostgreSQL) gives `read` the lexical generation of `collectionId`
   * as of that write (RankedChunks: undefined when the collection has no index). The write starts after the question
   * arrived, so the generation it read has every write to the collection committed before the question: the answer's
   * search may take it as current (DocumentStore.rankText's `atGeneration`) instead of reading it again. Stores that
   * cannot leave `read` uncalled.
   */
  readGeneration?: { collectionId: string; read(generation: number | undefined): void };
}

export interface ConversationStore {
  /**
   * `id` chooses the conversation's id (a client's own chat id, `POST /api/chat/ui`); without it one is generated. An id
   * already taken rejects (the caller reads the existing conversation instead). `messages` (of this conversation, so
   * `id` must be given with them) are stored in the same write, all or none, as appendMessages would store them next:
   * a new answer's question and its streaming placeholder cost one write instead of two.
   */
  createConversation(
    ownerId: string | null,
    chatbotId: string,
    id?: string,
    messages?: readonly StoredMessage[],
    options?: CreateConversationOptions,
  ): Promise<Conversation>;
  getConversation(id: string): Promise<Conversation | undefined>;
  /**
   * The owner's conversations, most recently updated first (ties by id). `after` is the last conversation of the
   * previous page: the page continues strictly after it, so none is skipped or repeated.
   */
  listConversations(
    ownerId: string | null,
    options?: { limit?: number; after?: ConversationCursor },
  ): Promise<Conversation[]>;
  /**
   * The newest `limit` messages, oldest first. `signal` gives up on the read (a run waiting for its history was
   * cancelled); the call then rejects with the signal's reason.
   */
  listMessages(conversationId: string, limit?: number, signal?: AbortSignal): Promise<StoredMessage[]>;
  /**
   * listMessages for an answer's prompt: the newest `limit` messages, oldest first, with only what the history uses
   * (role, content, status). The rest of an answer's row (its sources above all, 3 to 4 KB of JSON) is most of what
   * a full read fetches and parses: a follow-up in a conversation of 20 messages read its history in 120 to 210 µs
   * on SQLite (in-process), 32 with this read; PostgreSQL's client 138 against 55.
   */
  listTurns(conversationId: string, limit: number, signal?: AbortSignal): Promise<Turn[]>;
  /**
   * The conversation and how many messages it holds, in one read (one statement, one round trip on PostgreSQL): what
   * a new question in an existing conversation checks; with `options.turns` its newest turns for the prompt, with
   * `options.generation` the lexical generation, with `options.chatbotVersion` its chatbot's version (see
   * ConversationForQuestion). Undefined when there is no such conversation.
   */
  getConversationForQuestion(
    id: string,
    options?: { turns?: number; generation?: boolean; chatbotVersion?: boolean },
  ): Promise<ConversationForQuestion | undefined>;
  /** Stores a message and bumps the conversation's updatedAt (and sets its title from the first user message). */
  appendMessage(message: StoredMessage): Promise<void>;
  /**
   * Stores messages of one conversation in this order, all or none, in one write: what appendMessage does for each,
   * at the cost of one. An answer's question and its `streaming` placeholder are stored this way.
   */
  appendMessages(messages: readonly StoredMessage[]): Promise<void>;
  /**
   * Rewrites a stored message in place (same id, same place in its conversation) with every field of `message`, and
   * bumps the conversation's updatedAt: an answer stored as `streaming` when it started gets its final text and
   * status. False when there is no such message (its conversation was deleted meanwhile). A `sources` array this
   * store's last checkpoint of the still-streaming answer stored may be kept as stored rather than written again, so
   * an array passed to checkpointMessages or here is never changed afterwards (a new array replaces it).
   */
  replaceMessage(message: StoredMessage): Promise<boolean>;
  /**
   * Saves the text so far (and the sources, once known) of an answer that is still `streaming`. An answer that has
   * ended is left alone, so a checkpoint that lands late never undoes the final store. Same as checkpointMessages with
   * one (the pipeline saves through checkpointMessages, in batches).
   */
  checkpointMessage(id: string, progress: AnswerProgress): Promise<void>;
  /**
   * checkpointMessage for several answers, all or none, in one write (one transaction on SQLite, one statement on
   * PostgreSQL): what the checkpoint scheduler saves of every streaming answer each RUN_CHECKPOINT_MS.
   */
  checkpointMessages(checkpoints: readonly MessageCheckpoint[]): Promise<void>;
  /** The answer a run streamed (the message stored with that runId), if any. */
  findMessageByRun(runId: string): Promise<StoredMessage | undefined>;
  /**
   * Marks answers still `streaming` as `interrupted` (finishReason `aborted`, errorCode `RUN_INTERRUPTED`), keeping
   * their text: called at start, before any answer runs, for the answers a killed process left mid-way. Returns how
   * many. Every answer whose last save (checkpoint, or its start) is over STREAMING_STALE_AFTER_MS old is marked; a
   * store that several processes share (PostgreSQL; the SQLite file under `rivulet serve --workers N`) leaves
   * younger ones, which may be another live process's answers, while one only this process uses marks them all.
   */
  interruptStreamingMessages(): Promise<number>;
  /**
   * Removes the conversation, its messages and the answers its questions put in the answer cache; false when it did
   * not exist.
   */
  deleteConversation(id: string): Promise<boolean>;
  /** Gives the conversation a title of its owner's choosing (its order is kept); false when there is no such one. */
  renameConversation(id: string, title: string): Promise<boolean>;
}

/**
 * An answer still `streaming` whose last save (checkpoint, or its start before the first) is older than this was left
 * by a process that died: a live process sharing the store checkpoints its answers every RUN_CHECKPOINT_MS (at most
 * 30 s there) and at least every 20 s even when nothing changed (CHECKPOINT_HEARTBEAT_MS).
 */
export const STREAMING_STALE_AFTER_MS = 60_000;

/** The title a conversation gets from its first question: one line, at most 80 characters. */
export function conversationTitle(question: string): string {
  const line = question.replace(/\s+/gu, ' ').trim();
  if (line.length <= 80) return line;
  const cut = line.slice(0, 79);
  const space = cut.lastIndexOf(' ');
  return `${space > 40 ? cut.slice(0, space) : cut}…`;
}

/**
 * What appending `messages` does to their conversation: its id (undefined for none), the latest createdAt and the
 * title the first question gives. Messages of several conversations are refused.
 */
export function appendedTo(messages: readonly StoredMessage[]): {
  conversationId: string | undefined;
  updatedAt: number;
  title: string | null;
} {
  const conversationId = messages[0]?.conversationId;
  let updatedAt = 0;
  let title: string | null = null;
  for (const message of messages) {
    if (message.conversationId !== conversationId) {
      throw new Error('appendMessages: every message must belong to the same conversation');
    }
    updatedAt = Math.max(updatedAt, message.createdAt);
    if (title === null && message.role === 'user') title = conversationTitle(message.content);
  }
  return { conversationId, updatedAt, title };
}
