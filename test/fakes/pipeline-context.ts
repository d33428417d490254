// A pipeline context for unit tests of its phases: a fake run, in-memory conversations, a fixed retriever and a
// scripted model. Every dependency can be replaced.

import type { AnswerCacheStore } from '../../src/core/answer-cache.ts';
import { newChatbot, type Chatbot } from '../../src/core/chatbots.ts';
import type { ConversationStore, StoredMessage, Turn } from '../../src/core/conversation-store.ts';
import type { Logger } from '../../src/core/logger.ts';
import { noopObserver } from '../../src/core/observer.ts';
import type { ChatInput, ChatPipelineDeps, PipelineContext } from '../../src/core/pipeline/context.ts';
import { RunRecorder } from '../../src/core/pipeline/recorder.ts';
import type { LanguageModel, StreamPart } from '../../src/core/provider.ts';
import type { Passage, Retriever } from '../../src/core/retriever.ts';
import { fakeRunProducer, type FakeRunProducer } from './run-producer.ts';

export interface LogLine {
  level: 'debug' | 'info' | 'warn' | 'error';
  fields: Record<string, unknown>;
  message: string;
}

export function recordingLogger(lines: LogLine[] = []): Logger & { lines: LogLine[] } {
  return {
    lines,
    debug: (fields, message) => lines.push({ level: 'debug', fields, message }),
    info: (fields, message) => lines.push({ level: 'info', fields, message }),
    warn: (fields, message) => lines.push({ level: 'warn', fields, message }),
    error: (fields, message) => lines.push({ level: 'error', fields, message }),
  };
}

/** Messages kept in an array; only what the pipeline calls is implemented. */
export class FakeConversations implements ConversationStore {
  readonly messages: StoredMessage[] = [];
  readonly checkpoints: { id: string; content: string; sources: boolean }[] = [];
  /** Thrown by replaceMessage when set. */
  replaceError: Error | undefined;

  listMessages(conversationId: string): Promise<StoredMessage[]> {
    return Promise.resolve(this.messages.filter((message) => message.conversationId === conversationId));
  }
  async listTurns(conversationId: string, limit: number): Promise<Turn[]> {
    const messages = await this.listMessages(conversationId);
    return (limit > 0 ? messages.slice(-limit) : []).map(({ role, content, status }) => ({
      role,
      content,
      ...(status === undefined ? {} : { status }),
    }));
  }
  appendMessage(message: StoredMessage): Promise<void> {
    this.messages.push(message);
    return Promise.resolve();
  }
  appendMessages(messages: readonly StoredMessage[]): Promise<void> {
    this.messages.push(...messages);
    return Promise.resolve();
  }
  replaceMessage(message: StoredMessage): Promise<boolean> {
    if (this.replaceError !== undefined) return Promise.reject(this.replaceError);
    const index = this.messages.findIndex((stored) => stored.id === message.id);
    if (index === -1) return Promise.resolve(false);
    this.messages[index] = message;
    return Promise.resolve(true);
  }
  checkpointMessage(id: string, progress: { content: string; sources?: unknown }): Promise<void> {
    return this.checkpointMessages([{ id, ...progress }]);
  }
  checkpointMessages(
    checkpoints: readonly { id: string; content: string; sources?: unknown }[],
  ): Promise<void> {
    for (const { id, content, sources } of checkpoints) {
      this.checkpoints.push({ id, content, sources: sources !== undefined });
    }
    return Promise.resolve();
  }
  createConversation = unused;
  getConversation = unused;
  listConversations = unused;
  getConversationForQuestion = unused;
  findMessageByRun = unused;
  interruptStreamingMessages = unused;
  deleteConversation = unused;
  renameConversation = unused;
}

function unused(): never {
  throw new Error('not used by the pipeline');
}

export function passage(id: string, text: string): Passage {
  return {
    chunkId: `chunk_${id}`,
    documentId: `doc_${id}`,
    documentTitle: `Document ${id}`,
    source: `${id}.md`,
    heading: 'Heading',
    text,
    contentHash: `hash_${id}`,
    score: 1,
  };
}

export interface FakeRetriever extends Retriever {
  searches: { query: string; limit: number }[];
}

export function fakeRetriever(passages: Passage[]): FakeRetriever {
  const searches: { query: string; limit: number }[] = [];
  return {
    searches,
    embedQuery: () =>
      Promise.resolve({ space: { model: 'test', dimensions: 2 }, vector: new Float32Array([1, 0]) }),
    search: (_collection, query, _embedding, limit) => {
      searches.push({ query, limit });
      return Promise.resolve(passages.slice(0, limit));
    },
    assessMatch: () => ({ quality: 'strong', topScore: 1, matchedTerms: 1, queryTerms: 1 }),
  };
}

/** A model that streams `parts` for every answer and replies `condensed` to a condense request. */
export function scriptedModel(parts: StreamPart[], condensed = 'standalone question'): LanguageModel {
  return {
    provider: 'fake',
    model: 'fake-model',
    stream: (_request, options) => {
      for (const part of parts) {
        options.signal.throwIfAborted();
        options.onPart(part);
      }
      return Promise.resolve();
    },
    generate: () => Promise.resolve({ text: condensed, usage: null, finishReason: 'stop' }),
  };
}

export function testChatbot(overrides: Partial<Chatbot> = {}): Chatbot {
  return { ...newChatbot('docs'), createdAt: 0, updatedAt: 0, ...overrides };
}

export interface TestContext extends PipelineContext {
  run: FakeRunProducer;
  logger: Logger & { lines: LogLine[] };
  conversations: FakeConversations;
}

export function testContext(
  options: { input?: Partial<ChatInput>; deps?: Partial<ChatPipelineDeps>; cache?: AnswerCacheStore } = {},
): TestContext {
  const run = fakeRunProducer();
  const logger = recordingLogger();
  const conversations = new FakeConversations();
  const deps: ChatPipelineDeps = {
    conversations,
    model: scriptedModel([{ type: 'text-delta', text: 'Hello' }]),
    assistant: undefined,
    retriever: fakeRetriever([passage('a', 'alpha')]),
    answerCache: options.cache,
    cacheMinSimilarity: 0.9,
    enhance: true,
    topK: 2,
    systemPrompt: undefined,
    historyLimit: 10,
    logger,
    ...options.deps,
  };
  const input: ChatInput = {
    message: 'What is alpha?',
    conversationId: 'conv_1',
    chatbot: testChatbot(),
    cacheScope: 'scope',
    ...options.input,
  };
  const recorder = new RunRecorder({
    run,
    trace: noopObserver.runStarted({ chatbotId: input.chatbot.id, provider: 'fake' }),
    estimateUsage: deps.estimateUsage,
    logger,
  });
  return { run, input, deps, recorder, messageId: 'msg_answer', choice: {}, logger, conversations };
}
