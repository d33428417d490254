// Starts chat runs: resolves the chatbot and the conversation, creates the run and launches the pipeline without
// awaiting it.

import { runChatPipeline, type ChatPipelineDeps } from './chat-pipeline.ts';
import type { ChatbotStore } from './chatbots.ts';
import { RivuletError } from './errors.ts';
import type { RunHub, RunProducer } from './run-hub.ts';

export interface StartChatInput {
  message: string;
  conversationId?: string | undefined;
  chatbotId?: string | undefined;
  temperature?: number | undefined;
  maxTokens?: number | undefined;
}

export interface ChatServiceDeps extends ChatPipelineDeps {
  hub: RunHub;
  chatbots: ChatbotStore;
  defaultChatbotId: string;
}

export class ChatService {
  private readonly deps: ChatServiceDeps;
  /** Pipelines still running, so shutdown and tests can wait for answers to be stored. */
  private readonly inFlight = new Set<Promise<void>>();
  private draining = false;

  constructor(deps: ChatServiceDeps) {
    this.deps = deps;
  }

  /**
   * Throws CHATBOT_NOT_FOUND or CONVERSATION_NOT_FOUND before any run exists, so the caller can answer with a
   * plain 404. A conversation stays with the chatbot it started with.
   */
  async start(input: StartChatInput, ownerId: string | null): Promise<RunProducer> {
    if (this.draining) throw new RivuletError('SHUTTING_DOWN');
    const conversations = this.deps.conversations;
    let chatbotId = input.chatbotId;
    let conversationId = input.conversationId;
    if (conversationId !== undefined) {
      const conversation = await conversations.getConversation(conversationId);
      if (conversation === undefined || conversation.ownerId !== ownerId) {
        throw new RivuletError('CONVERSATION_NOT_FOUND');
      }
      if (chatbotId !== undefined && chatbotId !== conversation.chatbotId) {
        throw new RivuletError('VALIDATION_FAILED', {
          message: `Invalid request: conversationId belongs to chatbot "${conversation.chatbotId}", not "${chatbotId}".`,
        });
      }
      chatbotId = conversation.chatbotId;
    }
    const chatbot = await this.deps.chatbots.getChatbot(chatbotId ?? this.deps.defaultChatbotId);
    if (chatbot === undefined) throw new RivuletError('CHATBOT_NOT_FOUND');
    conversationId ??= (await conversations.createConversation(ownerId, chatbot.id)).id;
    const run = this.deps.hub.create({ ownerId });
    const pipeline = runChatPipeline(
      run,
      {
        message: input.message,
        conversationId,
        chatbot,
        ...(input.temperature === undefined ? {} : { temperature: input.temperature }),
        ...(input.maxTokens === undefined ? {} : { maxTokens: input.maxTokens }),
      },
      this.deps,
    );
    this.inFlight.add(pipeline);
    void pipeline.finally(() => this.inFlight.delete(pipeline));
    return run;
  }

  /** Graceful shutdown: from now on new answers are refused with SHUTTING_DOWN; running ones go on. */
  beginDrain(): void {
    this.draining = true;
  }

  get isDraining(): boolean {
    return this.draining;
  }

  /** Answers still being generated or stored. */
  get inFlightCount(): number {
    return this.inFlight.size;
  }

  /** Resolves when every pipeline started so far has stored its answer. */
  async settled(): Promise<void> {
    await Promise.all([...this.inFlight]);
  }
}
