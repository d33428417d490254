// Starts chat runs: resolves the conversation, creates the run and launches the pipeline without awaiting it.

import { runChatPipeline, type ChatPipelineDeps } from './chat-pipeline.ts';
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
  defaultChatbotId: string;
}

export class ChatService {
  private readonly deps: ChatServiceDeps;
  /** Pipelines still running, so shutdown and tests can wait for answers to be stored. */
  private readonly inFlight = new Set<Promise<void>>();

  constructor(deps: ChatServiceDeps) {
    this.deps = deps;
  }

  /** Throws CONVERSATION_NOT_FOUND before any run exists, so the caller can answer with a plain 404. */
  async start(input: StartChatInput, ownerId: string | null): Promise<RunProducer> {
    const conversations = this.deps.conversations;
    let conversationId = input.conversationId;
    if (conversationId === undefined) {
      conversationId = (await conversations.createConversation(ownerId)).id;
    } else {
      const conversation = await conversations.getConversation(conversationId);
      if (conversation === undefined || conversation.ownerId !== ownerId) {
        throw new RivuletError('CONVERSATION_NOT_FOUND');
      }
    }
    const run = this.deps.hub.create({ ownerId });
    const pipeline = runChatPipeline(
      run,
      {
        message: input.message,
        conversationId,
        chatbotId: input.chatbotId ?? this.deps.defaultChatbotId,
        temperature: input.temperature,
        maxTokens: input.maxTokens,
      },
      this.deps,
    );
    this.inFlight.add(pipeline);
    void pipeline.finally(() => this.inFlight.delete(pipeline));
    return run;
  }

  /** Resolves when every pipeline started so far has stored its answer. */
  async settled(): Promise<void> {
    await Promise.all([...this.inFlight]);
  }
}
