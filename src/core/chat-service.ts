// Starts chat runs: resolves the chatbot and the conversation, creates the run and launches the pipeline without
// awaiting it.

import { cacheScope } from './answer-cache.ts';
import { runChatPipeline, type ChatPipelineDeps } from './chat-pipeline.ts';
import { ChatbotChanged, type Chatbot, type ChatbotStore } from './chatbots.ts';
import { newConversationId, newMessageId } from './conversation-ids.ts';
import type { ConversationForQuestion, MessageMetadata, StoredMessage } from './conversation-store.ts';
import { questionAndAnswer } from './pipeline/phases/history.ts';
import { RivuletError, toRivuletError } from './errors.ts';
import { noopObserver, type RunObserver } from './observer.ts';
import { chatRefusal, type Principal } from './principal.ts';
import { buildGroundedMessages } from './prompt.ts';
import type { ChatMessage } from './provider.ts';
import type { RunHub, RunProducer } from './run-hub.ts';
import { takeStreamSlot, type SlotLease, type StreamSlots } from './stream-slots.ts';
import type { BudgetHold, BudgetSubject, TokenBudgets } from './token-budgets.ts';
import { errorEventInput } from './events.ts';

export interface StartChatInput {
  message: string;
  conversationId?: string | undefined;
  /**
   * Without `conversationId`: the id the new conversation gets (a client's own chat id); generated when absent. Taken
   * meanwhile by a concurrent request, the question goes into that conversation, as if it were `conversationId`.
   */
  newConversationId?: string | undefined;
  chatbotId?: string | undefined;
  temperature?: number | undefined;
  maxTokens?: number | undefined;
  /** Kept with the question (already bounded by the request schema). */
  metadata?: MessageMetadata | undefined;
}

export interface ChatLimits {
  /** Longest question, in characters (MESSAGE_TOO_LONG beyond). */
  maxMessageChars: number;
  /** Messages a conversation may hold before a new question is refused (CONVERSATION_TOO_LONG). */
  maxConversationMessages: number;
  /** Answers one principal may stream at once; 0: no limit (TOO_MANY_STREAMS). */
  streamsPerPrincipal: number;
  /** Tokens one principal may spend per UTC day; 0: no limit (TOKEN_BUDGET_EXCEEDED). */
  tokensPerDayPerPrincipal: number;
  /**
   * Under a token budget, the most an answer without a max of its own (request or chatbot) may write: what its hold
   * reserves for the output.
   */
  budgetAnswerMaxTokens: number;
}

export interface ChatServiceDeps extends ChatPipelineDeps {
  hub: RunHub;
  chatbots: ChatbotStore;
  defaultChatbotId: string;
  limits: ChatLimits;
  /** Where concurrent answers per principal are counted (this process, or every instance through Redis). */
  streamSlots: StreamSlots;
  /** Token budgets (reserved before an answer, settled after); without them no budget applies. */
  budgets?: TokenBudgets | undefined;
}

export class ChatService {
  private readonly deps: ChatServiceDeps;
  /** Pipelines still running, so shutdown and tests can wait for answers to be stored. */
  private readonly inFlight = new Set<Promise<void>>();
  /** Usage charges still being written (after their answer ended): settled() waits for them too. */
  private readonly charges = new Set<Promise<void>>();
  private draining = false;

  constructor(deps: ChatServiceDeps) {
    this.deps = deps;
  }

  /**
   * Checks everything before any run exists, so the caller gets a plain HTTP refusal: the question's length, the
   * chatbot (CHATBOT_NOT_FOUND, or ORIGIN_NOT_ALLOWED for an anonymous visitor of a public chatbot from another
   * site), the conversation (CONVERSATION_NOT_FOUND; it stays with its chatbot; CONVERSATION_TOO_LONG), the
   * principal's concurrent answers (TOO_MANY_STREAMS) and the token budgets of the principal and the chatbot
   * (TOKEN_BUDGET_EXCEEDED). The answer's real usage is charged to both budgets once it is stored.
   *
   * `scope.ownerId` asks in a conversation the principal shares rather than owns (a room's: `room:<roomId>`, checked
   * by the caller): the conversation and the run belong to it, while limits and budgets still count the principal.
   */
  async start(
    input: StartChatInput,
    principal: Principal,
    scope?: { ownerId: string },
  ): Promise<RunProducer> {
    return this.begin(input, principal, scope, true);
  }

  /**
   * start(). `remembered`: a new conversation may start from the chatbot as this process last read it (the chatbot
   * store's lastRead), saving the read (PostgreSQL's round trip, SQLite's statement): its create stores only while the
   * chatbot's row is still that version, and when it no longer is, the start is made again from a fresh read. A
   * follow-up uses it when the read of its conversation found the row at that version. A refusal is never made on a
   * remembered chatbot: the chatbot is read first.
   */
  private async begin(
    input: StartChatInput,
    principal: Principal,
    scope: { ownerId: string } | undefined,
    remembered: boolean,
  ): Promise<RunProducer> {
    if (this.draining) throw new RivuletError('SHUTTING_DOWN');
    const { limits } = this.deps;
    if (input.message.length > limits.maxMessageChars) {
      throw new RivuletError('MESSAGE_TOO_LONG', {
        message: `The question is too long: at most ${limits.maxMessageChars} characters.`,
      });
    }
    const ownerId = scope?.ownerId ?? principal.id;
    const conversations = this.deps.conversations;
    let chatbotId = input.chatbotId;
    let conversationId = input.conversationId;
    /** A follow-up's history and lexical generation, read with its conversation. */
    let followUp: ConversationForQuestion | undefined;
    if (conversationId !== undefined) {
      // The history and the generation come with the conversation (one statement, not three round trips), read even
      // for a question refused below: a refusal is the rare case.
      const found = await conversations.getConversationForQuestion(conversationId, {
        turns: this.deps.historyLimit,
        generation: true,
        chatbotVersion: remembered && this.deps.chatbots.lastRead !== undefined,
      });
      followUp = found;
      if (found === undefined || found.conversation.ownerId !== ownerId) {
        throw new RivuletError('CONVERSATION_NOT_FOUND');
      }
      const { conversation, messageCount } = found;
      if (chatbotId !== undefined && chatbotId !== conversation.chatbotId) {
        throw new RivuletError('VALIDATION_FAILED', {
          message: `Invalid request: conversationId belongs to chatbot "${conversation.chatbotId}", not "${chatbotId}".`,
        });
      }
      chatbotId = conversation.chatbotId;
      if (messageCount >= limits.maxConversationMessages) {
        throw new RivuletError('CONVERSATION_TOO_LONG');
      }
    }
    const wanted = chatbotId ?? this.deps.defaultChatbotId;
    const recalled = remembered ? this.deps.chatbots.lastRead?.(wanted) : undefined;
    const usable =
      recalled !== undefined && chatRefusal(principal, recalled.chatbot) === undefined ? recalled : undefined;
    // A new conversation is stored only while the chatbot's row is still the remembered version (checked in its
    // write). A follow-up's read of its conversation read the row's version after the question arrived: when it is
    // the remembered one, the remembered chatbot is the row as it is, and is not read again.
    const version = conversationId === undefined ? usable?.version : undefined;
    const current =
      conversationId !== undefined && usable !== undefined && followUp?.chatbotVersion === usable.version;
    const chatbot =
      version !== undefined || current ? usable?.chatbot : await this.deps.chatbots.getChatbot(wanted);
    const refusal = chatbot === undefined ? 'not-found' : chatRefusal(principal, chatbot);
    if (refusal === 'not-found' || chatbot === undefined) throw new RivuletError('CHATBOT_NOT_FOUND');
    if (refusal === 'origin') throw new RivuletError('ORIGIN_NOT_ALLOWED');
    const limitKey = principal.limitKey ?? principal.id ?? 'local';
    const slot: SlotLease | undefined =
      limits.streamsPerPrincipal > 0
        ? await takeStreamSlot(this.deps.streamSlots, limitKey, limits.streamsPerPrincipal, this.deps.logger)
        : undefined;
    const outputMax = input.maxTokens ?? chatbot.maxTokens ?? undefined;
    let run: RunProducer;
    let hold: BudgetHold | undefined;
    /** Set when this answer starts a conversation: stored with its question and the answer (as streaming). */
    let created: { messageId: string; createdAt: number } | undefined;
    /** The new conversation's id when another request took it meanwhile (two first messages of one chat at once). */
    let taken: string | undefined;
    /** The remembered chatbot was changed or deleted meanwhile: nothing was stored, the start is made again. */
    let changed = false;
    /** The chatbot's collection's lexical generation as the create read it, where the store could. */
    let lexicalGeneration: number | undefined =
      followUp?.lexical?.collectionId === chatbot.collectionId ? followUp.lexical.generation : undefined;
    try {
      try {
        hold = await this.reserve(principal, limitKey, chatbot, input.message, outputMax);
      } catch (error) {
        // Refused on the remembered chatbot's budget, which another process may have raised or lifted since: a
        // refusal is never made on a remembered chatbot, so the start is made again from a fresh read.
        if (version !== undefined && error instanceof RivuletError) changed = true;
        throw error;
      }
      // The chatbot's own run deadline, where it has one (RUN_MAX_DURATION_MS otherwise).
      const maxDurationMs = chatbot.limits.maxDurationMs ?? undefined;
      run = this.deps.hub.create({
        ownerId,
        ...(maxDurationMs === undefined ? {} : { limits: { maxDurationMs } }),
      });
      if (conversationId === undefined) {
        // Created with its first messages in one write, before the run is returned: the client learns the
        // conversation's id (the start event) only once it exists, so a follow-up always finds it.
        const id = input.newConversationId ?? newConversationId();
        const first = { messageId: newMessageId(), createdAt: Date.now() };
        const messages = questionAndAnswer({
          conversationId: id,
          question: input.message,
          metadata: input.metadata,
          messageId: first.messageId,
          runId: run.runId,
          createdAt: first.createdAt,
        });
        try {
          await conversations.createConversation(
            ownerId,
            chatbot.id,
            id,
            messages,
            version === undefined
              ? undefined
              : {
                  ifChatbotVersion: version,
                  readGeneration: {
                    collectionId: chatbot.collectionId,
                    read: (generation) => (lexicalGeneration = generation),
                  },
                },
          );
        } catch (error) {
          if (error instanceof ChatbotChanged) {
            // Nobody will read this run: it ends at once.
            run.append(errorEventInput(new RivuletError('RUN_STOPPED')));
            changed = true;
            throw error;
          }
          const outcome = await this.afterFailedCreate(id, messages, error, run.runId);
          if (outcome !== 'stored') {
            // Nobody will read this run: it ends at once, as the error the caller gets.
            run.append(errorEventInput(toRivuletError(error)));
            if (outcome === 'taken') taken = id;
            throw error;
          }
        }
        conversationId = id;
        created = first;
      }
    } catch (error) {
      slot?.release();
      await hold?.settle(0);
      // Another request created the conversation meanwhile: the question goes into it, checked as any conversationId.
      if (taken !== undefined) {
        return this.start(
          { ...input, conversationId: taken, newConversationId: undefined },
          principal,
          scope,
        );
      }
      if (changed) return this.begin(input, principal, scope, false);
      throw error;
    }
    // Under a budget an answer writes at most its output maximum, and no more than its budgets had left.
    const budgetOutput = outputMax ?? limits.budgetAnswerMaxTokens;
    const maxTokens = hold === undefined ? outputMax : Math.min(budgetOutput, hold.left);
    const pipeline = runChatPipeline(
      run,
      {
        message: input.message,
        conversationId,
        ...(created === undefined ? {} : { newConversation: created }),
        ...(lexicalGeneration === undefined ? {} : { lexicalGeneration }),
        ...(followUp?.turns === undefined ? {} : { turns: followUp.turns }),
        chatbot,
        cacheScope: cacheScope(principal),
        requester: limitKey,
        ...(input.temperature === undefined ? {} : { temperature: input.temperature }),
        ...(maxTokens === undefined ? {} : { maxTokens }),
        ...(input.metadata === undefined ? {} : { metadata: input.metadata }),
        ...(hold === undefined ? {} : { fitToBudget: this.fitting(hold, budgetOutput) }),
      },
      hold === undefined ? this.deps : { ...this.deps, observer: this.charging(hold) },
    );
    this.inFlight.add(pipeline);
    void pipeline.finally(() => {
      this.inFlight.delete(pipeline);
      slot?.release();
      // Normally settled with the answer's usage already (charging); this releases a hold the answer never used.
      if (hold !== undefined) this.track(hold.settle(0));
    });
    return run;
  }

  /**
   * What became of a new conversation whose createConversation rejected. `stored`: the write went through all the same
   * (PostgreSQL committed it, then the connection was lost with the reply), this run's answer is there and goes on.
   * `taken`: another request created a conversation with this id meanwhile. `failed`: nothing was stored, or the store
   * cannot be read to tell; then the answer, were it stored, is marked failed as the pipeline marks a failed answer,
   * so that it does not stay `streaming` for a run that has ended.
   */
  private async afterFailedCreate(
    conversationId: string,
    messages: readonly StoredMessage[],
    error: unknown,
    runId: string,
  ): Promise<'stored' | 'taken' | 'failed'> {
    const { conversations, logger } = this.deps;
    try {
      if ((await conversations.findMessageByRun(runId))?.conversationId === conversationId) {
        logger.warn(
          { runId, conversationId, err: error },
          'the new conversation was stored despite an error',
        );
        return 'stored';
      }
      return (await conversations.getConversation(conversationId)) === undefined ? 'failed' : 'taken';
    } catch {
      const answer = messages.find((message) => message.runId === runId);
      if (answer !== undefined) {
        const code = toRivuletError(error).code;
        const failed: StoredMessage = { ...answer, status: 'failed', finishReason: 'error', errorCode: code };
        await conversations.replaceMessage(failed).catch(() => false);
      }
      return 'failed';
    }
  }

  /**
   * Holds the answer's maximum against the principal's and the chatbot's budgets (refused with TOKEN_BUDGET_EXCEEDED
   * when one is spent for today): its output and its prompt without history or passages for now (resized to the
   * whole prompt once it is built, before the provider is called).
   */
  private async reserve(
    principal: Principal,
    limitKey: string,
    chatbot: Chatbot,
    question: string,
    outputMax: number | undefined,
  ): Promise<BudgetHold | undefined> {
    const budgets = this.deps.budgets;
    if (budgets === undefined) return undefined;
    const subjects: BudgetSubject[] = [];
    const perPrincipal = this.deps.limits.tokensPerDayPerPrincipal;
    if (perPrincipal > 0 && principal.id !== null) {
      subjects.push({ scope: 'principal', subject: limitKey, limit: perPrincipal, what: 'your' });
    }
    const perChatbot = chatbot.limits.tokensPerDay;
    if (perChatbot !== null) {
      subjects.push({ scope: 'chatbot', subject: chatbot.id, limit: perChatbot, what: 'this chatbot’s' });
    }
    if (subjects.length === 0) return undefined;
    const output = outputMax ?? this.deps.limits.budgetAnswerMaxTokens;
    const prompt = buildGroundedMessages({
      systemPrompt: chatbot.systemPrompt ?? this.deps.systemPrompt,
      history: [],
      question,
      passages: [],
      glossary: [],
    });
    return budgets.reserve(subjects, (await this.promptTokens(prompt)) + output);
  }

  /** Once the prompt is built: hold it and the output, and write at most what the budgets had left. */
  private fitting(hold: BudgetHold, output: number): (prompt: readonly ChatMessage[]) => Promise<number> {
    return async (prompt) => Math.min(output, await hold.resize((await this.promptTokens(prompt)) + output));
  }

  /** The prompt's tokens as the usage estimator counts them (characters when there is none). */
  private async promptTokens(prompt: readonly ChatMessage[]): Promise<number> {
    const estimate = this.deps.estimateUsage;
    if (estimate === undefined) return prompt.reduce((sum, message) => sum + message.content.length, 0);
    return (await estimate(prompt, '')).inputTokens;
  }

  /** The run's observer plus one that settles the answer's hold with its real usage once it is stored. */
  private charging(hold: BudgetHold): RunObserver {
    const inner = this.deps.observer ?? noopObserver;
    const track = (charge: Promise<void>): void => this.track(charge);
    return {
      runStarted(labels) {
        const trace = inner.runStarted(labels);
        return {
          tokenGap: (ms) => trace.tokenGap(ms),
          phaseEnded: (name, startedAt, endedAt) => trace.phaseEnded?.(name, startedAt, endedAt),
          providerCall: (call) => trace.providerCall?.(call),
          finished(outcome) {
            trace.finished(outcome);
            track(hold.settle(outcome.cached ? 0 : outcome.inputTokens + outcome.outputTokens));
          },
        };
      },
    };
  }

  /** settled() waits for this charge. */
  private track(charge: Promise<void>): void {
    const tracked = charge.finally(() => this.charges.delete(tracked));
    this.charges.add(tracked);
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
    await Promise.all([...this.charges]);
  }
}
