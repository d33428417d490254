// Starts chat runs: resolves the chatbot and the conversation, creates the run and launches the pipeline without
// awaiting it.

import { cacheScope } from './answer-cache.ts';
import { runChatPipeline, type ChatPipelineDeps } from './chat-pipeline.ts';
import type { Chatbot, ChatbotStore } from './chatbots.ts';
import type { MessageMetadata } from './conversation-store.ts';
import { RivuletError } from './errors.ts';
import { noopObserver, type RunObserver } from './observer.ts';
import { chatRefusal, type Principal } from './principal.ts';
import type { RunHub, RunProducer } from './run-hub.ts';
import { msUntilNextDay, usageDay, type TokenUsageStore, type UsageScope } from './token-usage.ts';

export interface StartChatInput {
  message: string;
  conversationId?: string | undefined;
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
}

export interface ChatServiceDeps extends ChatPipelineDeps {
  hub: RunHub;
  chatbots: ChatbotStore;
  defaultChatbotId: string;
  limits: ChatLimits;
  /** Where token budgets are counted; without it no budget applies. */
  tokenUsage?: TokenUsageStore | undefined;
  /** Clock for the budget's day (tests). */
  now?: () => number;
}

export class ChatService {
  private readonly deps: ChatServiceDeps;
  /** Pipelines still running, so shutdown and tests can wait for answers to be stored. */
  private readonly inFlight = new Set<Promise<void>>();
  /** Usage charges still being written (after their answer ended): settled() waits for them too. */
  private readonly charges = new Set<Promise<void>>();
  /** Answers running per principal, for MAX_STREAMS_PER_PRINCIPAL. */
  private readonly streaming = new Map<string, number>();
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
   */
  async start(input: StartChatInput, principal: Principal): Promise<RunProducer> {
    if (this.draining) throw new RivuletError('SHUTTING_DOWN');
    const { limits } = this.deps;
    if (input.message.length > limits.maxMessageChars) {
      throw new RivuletError('MESSAGE_TOO_LONG', {
        message: `The question is too long: at most ${limits.maxMessageChars} characters.`,
      });
    }
    const ownerId = principal.id;
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
      if ((await conversations.countMessages(conversationId)) >= limits.maxConversationMessages) {
        throw new RivuletError('CONVERSATION_TOO_LONG');
      }
    }
    const chatbot = await this.deps.chatbots.getChatbot(chatbotId ?? this.deps.defaultChatbotId);
    const refusal = chatbot === undefined ? 'not-found' : chatRefusal(principal, chatbot);
    if (refusal === 'not-found' || chatbot === undefined) throw new RivuletError('CHATBOT_NOT_FOUND');
    if (refusal === 'origin') throw new RivuletError('ORIGIN_NOT_ALLOWED');
    const limitKey = principal.limitKey ?? ownerId ?? 'local';
    const running = this.streaming.get(limitKey) ?? 0;
    if (limits.streamsPerPrincipal > 0 && running >= limits.streamsPerPrincipal) {
      throw new RivuletError('TOO_MANY_STREAMS', {
        message: `${running} answers are streaming already (at most ${limits.streamsPerPrincipal} at once): wait for one to finish or stop one.`,
      });
    }
    // The slot is taken before the first await: several chats sent at once (one WebSocket frame batch) must not all
    // read the same count and pass.
    this.streaming.set(limitKey, running + 1);
    const release = (): void => {
      const left = (this.streaming.get(limitKey) ?? 1) - 1;
      if (left > 0) this.streaming.set(limitKey, left);
      else this.streaming.delete(limitKey);
    };
    let run: RunProducer;
    let budgets: Awaited<ReturnType<ChatService['checkBudgets']>>;
    try {
      budgets = await this.checkBudgets(principal, limitKey, chatbot);
      conversationId ??= (await conversations.createConversation(ownerId, chatbot.id)).id;
      // The chatbot's own run deadline, where it has one (RUN_MAX_DURATION_MS otherwise).
      const maxDurationMs = chatbot.limits.maxDurationMs ?? undefined;
      run = this.deps.hub.create({
        ownerId,
        ...(maxDurationMs === undefined ? {} : { limits: { maxDurationMs } }),
      });
    } catch (error) {
      release();
      throw error;
    }
    // An answer may not write more than what is left of its budgets (the charge comes after it).
    const cap = budgets.remaining;
    const maxTokens =
      cap === undefined ? input.maxTokens : Math.min(input.maxTokens ?? chatbot.maxTokens ?? cap, cap);
    const pipeline = runChatPipeline(
      run,
      {
        message: input.message,
        conversationId,
        chatbot,
        cacheScope: cacheScope(principal),
        ...(input.temperature === undefined ? {} : { temperature: input.temperature }),
        ...(maxTokens === undefined ? {} : { maxTokens }),
        ...(input.metadata === undefined ? {} : { metadata: input.metadata }),
      },
      budgets.subjects.length === 0 ? this.deps : { ...this.deps, observer: this.charging(budgets.subjects) },
    );
    this.inFlight.add(pipeline);
    void pipeline.finally(() => {
      this.inFlight.delete(pipeline);
      release();
    });
    return run;
  }

  /**
   * The budgets this answer is charged to and the tokens left in the tightest of them; refuses when one is spent
   * for today.
   */
  private async checkBudgets(
    principal: Principal,
    limitKey: string,
    chatbot: Chatbot,
  ): Promise<{ subjects: { scope: UsageScope; subject: string }[]; remaining: number | undefined }> {
    const usage = this.deps.tokenUsage;
    if (usage === undefined) return { subjects: [], remaining: undefined };
    const now = (this.deps.now ?? Date.now)();
    const day = usageDay(now);
    const budgets: { scope: UsageScope; subject: string; limit: number; what: string }[] = [];
    const perPrincipal = this.deps.limits.tokensPerDayPerPrincipal;
    if (perPrincipal > 0 && principal.id !== null) {
      budgets.push({ scope: 'principal', subject: limitKey, limit: perPrincipal, what: 'your' });
    }
    const perChatbot = chatbot.limits.tokensPerDay;
    if (perChatbot !== null) {
      budgets.push({ scope: 'chatbot', subject: chatbot.id, limit: perChatbot, what: 'this chatbot’s' });
    }
    let remaining: number | undefined;
    for (const budget of budgets) {
      const spent = await usage.spent(budget.scope, budget.subject, day);
      if (spent >= budget.limit) {
        throw new RivuletError('TOKEN_BUDGET_EXCEEDED', {
          message: `Today's token budget (${budget.what}, ${budget.limit} tokens) is spent: it renews at midnight UTC.`,
          retryAfterMs: msUntilNextDay(now),
        });
      }
      remaining = Math.min(remaining ?? Infinity, budget.limit - spent);
    }
    return { subjects: budgets.map(({ scope, subject }) => ({ scope, subject })), remaining };
  }

  /** The run's observer plus one that charges the answer's real usage to its budgets once it is stored. */
  private charging(budgets: readonly { scope: UsageScope; subject: string }[]): RunObserver {
    const inner = this.deps.observer ?? noopObserver;
    const usage = this.deps.tokenUsage;
    const logger = this.deps.logger;
    const now = this.deps.now ?? Date.now;
    const charges = this.charges;
    return {
      runStarted(labels) {
        const trace = inner.runStarted(labels);
        return {
          tokenGap: (ms) => trace.tokenGap(ms),
          phaseEnded: (name, startedAt, endedAt) => trace.phaseEnded?.(name, startedAt, endedAt),
          providerCall: (call) => trace.providerCall?.(call),
          finished(outcome) {
            trace.finished(outcome);
            if (outcome.cached || usage === undefined) return;
            const charge = usage
              .charge(budgets, outcome.inputTokens + outcome.outputTokens, usageDay(now()))
              .catch((error: unknown) => logger.warn({ err: error }, 'charging token usage failed'))
              .finally(() => charges.delete(charge));
            charges.add(charge);
          },
        };
      },
    };
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
