// The chat pipeline: writes one answer's events into a run.
// history -> enhance -> cache -> retrieve -> rerank -> generate -> persist (-> fill the cache); each phase reports
// its duration, sources go out before the first token, and every outcome is stored with its status.

import { randomUUID } from 'node:crypto';
import {
  echoesMatch,
  isPersonalQuestion,
  normalizeQuestion,
  wordsEchoedFromQuestion,
  type AnswerCacheStore,
  type CachedAnswer,
} from './answer-cache.ts';
import type { Chatbot } from './chatbots.ts';
import type {
  AnswerProgress,
  ConversationStore,
  MessageMetadata,
  MessageStatus,
  StoredMessage,
} from './conversation-store.ts';
import { RivuletError, toRivuletError } from './errors.ts';
import type { DoneEvent, FinishReason, PhaseName, Source, Timings, Usage } from './events.ts';
import { matchGlossary } from './glossary.ts';
import { enterLogContext, type Logger } from './logger.ts';
import { noopObserver, type CacheOutcome, type RunObserver } from './observer.ts';
import { buildCondenseMessages, buildGroundedMessages, toSources } from './prompt.ts';
import type { ChatMessage, LanguageModel } from './provider.ts';
import {
  passageCandidates,
  sourceCandidates,
  type Passage,
  type QueryEmbedding,
  type Retriever,
} from './retriever.ts';
import type { RunProducer } from './run-hub.ts';
import { splitForStreaming } from './text-pieces.ts';

export interface ChatInput {
  message: string;
  conversationId: string;
  chatbot: Chatbot;
  /** Who may share this answer through the answer cache (cacheScope of the asker). */
  cacheScope: string;
  temperature?: number;
  maxTokens?: number;
  /** Stored with the question as the client sent it. */
  metadata?: MessageMetadata;
  /**
   * Under a token budget: holds the built prompt plus the answer's output against the budgets and returns the most
   * tokens the answer may write (TOKEN_BUDGET_EXCEEDED when nothing is left).
   */
  fitToBudget?: (prompt: readonly ChatMessage[]) => Promise<number>;
}

export interface ChatPipelineDeps {
  conversations: ConversationStore;
  /** Writes the answer: the configured provider chain, or the extractive answerer when there is none. */
  model: LanguageModel;
  /** Makes the cheap calls (condensing a follow-up, reranking); undefined when no language model is configured. */
  assistant: LanguageModel | undefined;
  retriever: Retriever;
  /** Undefined when the answer cache is off. */
  answerCache: AnswerCacheStore | undefined;
  /** Cosine similarity at or above which a cached answer to another wording is reused. */
  cacheMinSimilarity: number;
  /** Reorders retrieved passages (RERANK=llm); undefined when reranking is off. */
  rerank?: (question: string, passages: readonly Passage[], signal: AbortSignal) => Promise<Passage[]>;
  /** Condense follow-up questions with the history before retrieval. */
  enhance: boolean;
  /** Passages given to the model. */
  topK: number;
  /** Used for chatbots without their own system prompt. */
  systemPrompt: string | undefined;
  /**
   * Counts tokens locally when the provider reported no usage, or when a failover spliced two providers' answers
   * (each reported only its own part). Optional: without it such answers carry `usage: null`.
   */
  estimateUsage?: (messages: readonly ChatMessage[], output: string) => Promise<Usage>;
  /** How many earlier messages go into the prompt. */
  historyLimit: number;
  /**
   * How often the text so far of a streaming answer is saved (RUN_CHECKPOINT_MS), so an answer cut by a crash
   * keeps it; 0 or absent: only when the answer ends.
   */
  checkpointMs?: number;
  logger: Logger;
  /** Metrics: run outcomes, TTFT, token gaps, phases. Optional: nothing is recorded without it. */
  observer?: RunObserver;
}

/** Reasons the hub gives for aborting a run that still deserve a `done` (the user or nobody wanted more). */
function isQuietAbort(reason: unknown): boolean {
  return reason instanceof RivuletError && (reason.code === 'RUN_STOPPED' || reason.code === 'RUN_ABANDONED');
}

/** Reranking looks at more candidates than the prompt will hold. */
const RERANK_POOL_FACTOR = 3;

/**
 * Runs the pipeline to completion. Never throws: every outcome ends the run with `done` or `error`, and the
 * assistant message is stored with its status and whatever text was generated.
 */
export async function runChatPipeline(
  run: RunProducer,
  input: ChatInput,
  deps: ChatPipelineDeps,
): Promise<void> {
  const startedAt = performance.now();
  const phases: Partial<Record<PhaseName, number>> = {};
  const messageId = `msg_${randomUUID()}`;
  const chatbot = input.chatbot;
  let text = '';
  let tokenCount = 0;
  let ttftMs: number | null = null;
  let lastTokenAt = 0;
  let cacheOutcome: CacheOutcome = 'skipped';
  let usage: Usage | null = null;
  let failedOver = false;
  let cached = false;
  let sources: Source[] = [];
  let prompt: ChatMessage[] = [];
  const settleUsage = async (): Promise<void> => {
    if ((usage !== null && !failedOver) || deps.estimateUsage === undefined || prompt.length === 0) return;
    try {
      usage = await deps.estimateUsage(prompt, text);
    } catch (error) {
      deps.logger.warn({ runId: run.runId, err: error }, 'usage estimate failed');
    }
  };
  let finishReason: FinishReason = 'stop';
  let currentPhase: { name: PhaseName; startedAt: number } | undefined;

  const beginPhase = (name: PhaseName): void => {
    currentPhase = { name, startedAt: performance.now() };
    run.append({ type: 'phase', name, state: 'start' });
  };
  const endPhase = (): void => {
    if (currentPhase === undefined) return;
    const endedAt = performance.now();
    const durationMs = roundMs(endedAt - currentPhase.startedAt);
    phases[currentPhase.name] = durationMs;
    run.append({ type: 'phase', name: currentPhase.name, state: 'end', durationMs });
    trace.phaseEnded?.(
      currentPhase.name,
      performance.timeOrigin + currentPhase.startedAt,
      performance.timeOrigin + endedAt,
    );
    currentPhase = undefined;
  };
  const timings = (): Timings => ({ ttftMs, totalMs: roundMs(performance.now() - startedAt), phases });
  const emitToken = (piece: string): void => {
    if (piece.length === 0) return;
    // Once the hub has ended the run (caps, timeout) nothing more is sent, so nothing more is stored.
    if (run.append({ type: 'token', text: piece }) === -1) return;
    if (ttftMs === null) ttftMs = roundMs(performance.now() - startedAt);
    text += piece;
    tokenCount += 1;
  };

  // The chatbot's own model and provider chain, where it has them.
  const choice = {
    ...(chatbot.model === null ? {} : { model: chatbot.model }),
    ...(chatbot.providers.length === 0 ? {} : { providers: chatbot.providers }),
  };
  const answerer = deps.model.describe?.(choice) ?? {
    provider: deps.model.provider,
    model: deps.model.model,
  };
  run.append({
    type: 'start',
    runId: run.runId,
    conversationId: input.conversationId,
    messageId,
    chatbotId: chatbot.id,
    provider: answerer.provider,
    model: answerer.model,
  });
  const trace = (deps.observer ?? noopObserver).runStarted({
    chatbotId: chatbot.id,
    provider: answerer.provider,
  });

  let status: MessageStatus = 'complete';
  let errorCode: string | undefined;
  let passages: Passage[] = [];
  let question = input.message;
  let queryEmbedding: QueryEmbedding | undefined;
  /**
   * Whether the answer may be stored in the cache: only when nothing private went into generating it. A condensed
   * follow-up is still answered with the conversation's history in the prompt, so its answer may repeat what the
   * asker said earlier (a name, a number): such answers are never cached.
   */
  let cacheable = false;
  /** What the answer rests on besides the question (passages, prompt, glossary): see wordsEchoedFromQuestion. */
  let groundedOn: string[] = [];
  /** When the answer was stored as streaming; undefined until then. */
  let answerCreatedAt: number | undefined;
  /**
   * The `done` event, held until the answer is stored: readers learn the answer ended only once it is saved, and an
   * answer that could not be saved (the database went away) ends with STORE_UNAVAILABLE instead.
   */
  let ending: Omit<DoneEvent, 'seq'> | undefined;
  let checkpointTimer: NodeJS.Timeout | undefined;
  let checkpointing: Promise<void> | undefined;
  /**
   * What the last checkpoint saved: the text's length and the sources (by identity: they are set once), and when.
   */
  let saved = { length: 0, sources, at: Date.now() };
  /**
   * Saves the text so far, at most one save at a time and only when something changed, or when the last save is
   * CHECKPOINT_HEARTBEAT_MS old. Run by a timer, not per token: token delivery never waits for the store, and a
   * stream that stalls still gets its last tokens saved.
   */
  const checkpoint = (): void => {
    if (checkpointing !== undefined) return;
    const unchanged = text.length === saved.length && sources === saved.sources;
    if (unchanged && Date.now() - saved.at < CHECKPOINT_HEARTBEAT_MS) return;
    const next = { length: text.length, sources, at: Date.now() };
    const progress: AnswerProgress =
      sources === saved.sources ? { content: text } : { content: text, sources };
    checkpointing = deps.conversations
      .checkpointMessage(messageId, progress)
      .then(
        () => {
          saved = next;
        },
        (error: unknown) => {
          deps.logger.warn({ runId: run.runId, err: error }, 'checkpointing the answer failed');
        },
      )
      .finally(() => {
        checkpointing = undefined;
      });
  };
  try {
    beginPhase('history');
    const stored = await deps.conversations.listMessages(input.conversationId, deps.historyLimit, run.signal);
    // Provider calls from here on log their debug lines with this run's id.
    enterLogContext({ runId: run.runId });
    const history: ChatMessage[] = stored
      // Another answer of this conversation still streaming has only part of its text: it is not history yet.
      .filter((message) => message.content !== '' && message.status !== 'streaming')
      .map((message) => ({ role: message.role, content: message.content }));
    // The question, and the answer as streaming, in one write. The answer is checkpointed while it streams: if the
    // process dies (SIGKILL, a crash, power loss) the next start finds it and marks it interrupted with its text.
    const createdAt = Date.now();
    await deps.conversations.appendMessages([
      {
        id: `msg_${randomUUID()}`,
        conversationId: input.conversationId,
        role: 'user',
        content: input.message,
        createdAt,
        ...(input.metadata === undefined ? {} : { metadata: input.metadata }),
      },
      {
        id: messageId,
        conversationId: input.conversationId,
        role: 'assistant',
        content: '',
        createdAt,
        status: 'streaming',
        runId: run.runId,
      },
    ]);
    answerCreatedAt = createdAt;
    if ((deps.checkpointMs ?? 0) > 0) {
      checkpointTimer = setInterval(checkpoint, deps.checkpointMs);
      checkpointTimer.unref();
    }
    endPhase();

    // Enhance: a follow-up ("and on Linux?") becomes a standalone question; glossary terms widen the search.
    const glossary = matchGlossary(input.message, chatbot.glossary);
    const condense = deps.enhance && deps.assistant !== undefined && history.length > 0;
    // Whether the question means the same thing outside this conversation: only then may it be answered from the
    // answer cache (shared within the asker's scope). A follow-up is standalone once condensed.
    let standalone = history.length === 0;
    let searchQuery = input.message;
    if (condense || glossary.terms.length > 0) {
      beginPhase('enhance');
      if (condense && deps.assistant !== undefined) {
        const condensed = await condenseQuestion(
          deps.assistant,
          history,
          input.message,
          run.signal,
          deps.logger,
        );
        if (condensed !== undefined) {
          question = condensed;
          standalone = true;
        }
      }
      searchQuery = [question, ...glossary.expansion].join(' ');
      endPhase();
    }

    if (deps.answerCache !== undefined && standalone) {
      beginPhase('cache');
      queryEmbedding = await deps.retriever.embedQuery(question, run.signal);
      const hit = await findCachedAnswer(
        deps,
        chatbot.id,
        input.cacheScope,
        question,
        queryEmbedding,
        run.signal,
      );
      endPhase();
      cacheOutcome = hit === undefined ? 'miss' : 'hit';
      deps.logger.debug?.({ runId: run.runId, entry: hit?.id }, `answer cache ${cacheOutcome}`);
      if (hit !== undefined) {
        cached = true;
        sources = hit.sources;
        run.append({
          type: 'sources',
          sources,
          match: deps.retriever.assessMatch(question, sourceCandidates(sources)),
        });
        for (const piece of splitForStreaming(hit.answer)) emitToken(piece);
        usage = { inputTokens: 0, outputTokens: 0 };
        ending = { type: 'done', finishReason, text, usage, cached, timings: timings() };
        void deps.answerCache.recordHit(hit.id).catch((error: unknown) => {
          deps.logger.warn({ runId: run.runId, err: error }, 'recording a cache hit failed');
        });
      }
    } else if (deps.answerCache !== undefined) {
      deps.logger.debug?.({ runId: run.runId }, 'answer cache skipped: a follow-up not made standalone');
    }

    if (!cached) {
      beginPhase('retrieve');
      // The question itself is embedded (as for the cache); glossary expansions only widen the keyword search.
      queryEmbedding ??= await deps.retriever.embedQuery(question, run.signal);
      const pool = deps.rerank === undefined ? deps.topK : deps.topK * RERANK_POOL_FACTOR;
      passages = await deps.retriever.search(
        chatbot.collectionId,
        searchQuery,
        queryEmbedding,
        pool,
        run.signal,
      );
      endPhase();
      if (deps.rerank !== undefined && passages.length > 1) {
        beginPhase('rerank');
        passages = await deps.rerank(question, passages, run.signal);
        endPhase();
      }
      passages = passages.slice(0, deps.topK);
      sources = toSources(passages);
      run.append({
        type: 'sources',
        sources,
        match: deps.retriever.assessMatch(question, passageCandidates(passages)),
      });

      const systemPrompt = chatbot.systemPrompt ?? deps.systemPrompt;
      const messages = buildGroundedMessages({
        systemPrompt,
        history,
        question: input.message,
        passages,
        glossary: glossary.terms,
      });
      prompt = messages;
      cacheable = history.length === 0;
      groundedOn = [
        ...passages.map((passage) => `${passage.documentTitle}\n${passage.heading}\n${passage.text}`),
        systemPrompt ?? '',
        ...glossary.terms.map((term) => `${term.term} ${term.definition}`),
      ];

      beginPhase('generate');
      const maxTokens =
        (await input.fitToBudget?.(messages)) ?? input.maxTokens ?? chatbot.maxTokens ?? undefined;
      run.signal.throwIfAborted();
      await deps.model.stream(
        {
          messages,
          temperature: input.temperature ?? chatbot.temperature ?? undefined,
          maxTokens,
          ...choice,
          passages,
          // The chatbot's own stall limit, where it has one (LLM_STALL_MS otherwise).
          ...(chatbot.limits.stallTimeoutMs == null ? {} : { stallMs: chatbot.limits.stallTimeoutMs }),
        },
        {
          signal: run.signal,
          onProviderCall: (call) => trace.providerCall?.(call),
          onPart: (part) => {
            switch (part.type) {
              case 'text-delta': {
                const now = performance.now();
                if (lastTokenAt !== 0) trace.tokenGap(now - lastTokenAt);
                lastTokenAt = now;
                emitToken(part.text);
                return;
              }
              case 'usage':
                usage = part.usage;
                return;
              case 'finish':
                finishReason = part.finishReason;
                return;
              case 'failover':
                failedOver = true;
                run.append({ type: 'failover', from: part.from, to: part.to, reason: part.reason });
                return;
              default: {
                const unreachable: never = part;
                throw new Error(`unknown stream part ${String(unreachable)}`);
              }
            }
          },
        },
      );
      endPhase();
      await settleUsage();
      if (usage !== null) run.append({ type: 'usage', ...usage });
      ending = { type: 'done', finishReason, text, usage, cached: false, timings: timings() };
    }
  } catch (caught) {
    endPhase();
    const reason: unknown = run.signal.aborted ? run.signal.reason : caught;
    if (run.signal.aborted && isQuietAbort(reason)) {
      status = 'stopped';
      finishReason = 'aborted';
      // Tokens generated before the stop were paid for: say how many.
      await settleUsage();
      ending = { type: 'done', finishReason, text, usage, cached, timings: timings() };
    } else if (run.signal.aborted && reason instanceof RivuletError && reason.code === 'SHUTTING_DOWN') {
      // Cut by the shutdown deadline: the hub already told the readers (a retryable SHUTTING_DOWN error); the
      // answer is kept as stopped with its partial text, like a user's stop.
      status = 'stopped';
      finishReason = 'aborted';
      errorCode = reason.code;
      await settleUsage();
    } else {
      status = 'failed';
      finishReason = 'error';
      const error = toRivuletError(reason);
      errorCode = error.code;
      // Expected failures (upstream faults, limits) are warnings with their detail; only bugs carry a stack.
      if (error.code === 'INTERNAL') {
        deps.logger.error({ runId: run.runId, code: error.code, err: error.cause ?? error }, 'run failed');
      } else {
        deps.logger.warn({ runId: run.runId, code: error.code, detail: error.detail }, 'run failed');
      }
      // When the hub ended the run itself (timeout, caps, shutdown) its error is already the last event.
      run.append({ type: 'error', code: error.code, message: error.message, retryable: error.retryable });
      // Text that was generated was paid for, prompt included: counted (estimated where the provider did not say)
      // for the stored message and the token budgets. A failure before any text (a refused request) cost nothing.
      if (text !== '') await settleUsage();
    }
  }

  const finalTimings = timings();
  clearInterval(checkpointTimer);
  // A checkpoint in flight lands first (it cannot undo the final store anyway: only streaming answers take one).
  await checkpointing;
  /** False when the answer could not be stored, or its conversation was deleted while it streamed. */
  let stored = false;
  try {
    const answer: StoredMessage = {
      id: messageId,
      conversationId: input.conversationId,
      role: 'assistant',
      content: text,
      createdAt: answerCreatedAt ?? Date.now(),
      status,
      runId: run.runId,
      finishReason,
      errorCode,
      usage,
      timings: finalTimings,
      sources,
      cached,
    };
    // Stored when it started (the usual case): rewritten in place. A conversation deleted meanwhile took it along.
    if (answerCreatedAt !== undefined) stored = await deps.conversations.replaceMessage(answer);
    else {
      await deps.conversations.appendMessage(answer);
      stored = true;
    }
  } catch (error) {
    deps.logger.error({ runId: run.runId, err: error }, 'storing the answer failed');
    if (ending !== undefined && error instanceof RivuletError && error.code === 'STORE_UNAVAILABLE') {
      // The readers have the text, but it is not saved: a reload would not find it. Say so, retryably.
      ending = undefined;
      status = 'failed';
      errorCode = error.code;
      run.append({
        type: 'error',
        code: error.code,
        message: 'The answer could not be saved: the database cannot be reached. Retry shortly.',
        retryable: true,
      });
    }
  }
  if (ending !== undefined) run.append(ending);
  // Why this answer may not fill the cache, or undefined when it may: one list of rules for the decision and its log.
  const notCachedReason =
    deps.answerCache === undefined || cached
      ? 'cache off or a cache hit'
      : status !== 'complete' || finishReason !== 'stop'
        ? 'answer did not complete'
        : !cacheable
          ? 'generated with history'
          : passages.length === 0
            ? 'no passages matched'
            : deps.assistant === undefined
              ? 'no language model (a quoted answer)'
              : !stored
                ? 'answer not stored'
                : undefined;
  if (notCachedReason === undefined && deps.answerCache !== undefined) {
    await fillCache(deps.answerCache, {
      chatbotId: chatbot.id,
      scope: input.cacheScope,
      conversationId: input.conversationId,
      echoedWords: wordsEchoedFromQuestion(question, text, groundedOn),
      question,
      answer: text,
      sources,
      usage,
      passages,
      // A question that says something about its asker is answered from the cache only when asked again word for
      // word: without its embedding no similar question can find it.
      embedding: isPersonalQuestion(question) ? undefined : queryEmbedding,
    }).then(
      () => deps.logger.debug?.({ runId: run.runId }, 'answer cached'),
      (error: unknown) => deps.logger.warn({ runId: run.runId, err: error }, 'caching the answer failed'),
    );
  } else if (deps.answerCache !== undefined && !cached) {
    deps.logger.debug?.({ runId: run.runId, status, finishReason }, `not cached: ${notCachedReason}`);
  }
  trace.finished({
    status,
    errorCode,
    cached,
    cache: cacheOutcome,
    ttftMs: finalTimings.ttftMs,
    totalMs: finalTimings.totalMs,
    outputTokens: usage?.outputTokens ?? tokenCount,
    inputTokens: usage?.inputTokens ?? 0,
    phases: finalTimings.phases,
  });
  // One line per answer with every phase's time (seed 000: "Phase 6 completed in 2.34s").
  deps.logger.info(
    {
      runId: run.runId,
      conversationId: input.conversationId,
      chatbotId: chatbot.id,
      provider: answerer.provider,
      status,
      finishReason,
      errorCode,
      cached,
      sources: sources.length,
      tokens: tokenCount,
      ttftMs: finalTimings.ttftMs,
      totalMs: finalTimings.totalMs,
      phases: finalTimings.phases,
    },
    `answer ${status} in ${(finalTimings.totalMs / 1000).toFixed(2)}s (${formatPhases(finalTimings.phases)})`,
  );
}

/** "history 0.4ms, retrieve 3.1ms, generate 812.0ms" */
function formatPhases(phases: Partial<Record<PhaseName, number>>): string {
  return Object.entries(phases)
    .map(([name, ms]) => `${name} ${ms.toFixed(1)}ms`)
    .join(', ');
}

/**
 * A streaming answer is saved at least this often, changed or not: instances sharing a store (PostgreSQL) take an
 * answer unsaved for a minute for one whose process died (see ConversationStore.interruptStreamingMessages).
 */
export const CHECKPOINT_HEARTBEAT_MS = 20_000;

/** The longest condensed question, in tokens: one question, not an answer. */
const CONDENSE_MAX_TOKENS = 200;
/**
 * How long condensing a follow-up may take before the question is searched as asked. The answer waits for it behind
 * "Understanding your question...", and a model that answers at length instead of rewriting (or a slow one) would
 * otherwise hold every follow-up for seconds; a rewrite takes well under a second on any usable model.
 */
export const CONDENSE_TIMEOUT_MS = 5_000;

/** The follow-up as a standalone question; undefined when the model failed, took too long or its reply is unusable. */
async function condenseQuestion(
  model: LanguageModel,
  history: readonly ChatMessage[],
  question: string,
  signal: AbortSignal,
  logger: Logger,
): Promise<string | undefined> {
  const timeout = AbortSignal.timeout(CONDENSE_TIMEOUT_MS);
  try {
    const result = await model.generate(
      {
        messages: buildCondenseMessages(history, question),
        temperature: 0,
        maxTokens: CONDENSE_MAX_TOKENS,
      },
      { signal: AbortSignal.any([signal, timeout]) },
    );
    const condensed = result.text.trim().replace(/^["“]|["”]$/gu, '');
    // A reply that is empty, cut at the token limit or rambles is no better than the question as asked.
    if (condensed === '' || result.finishReason === 'length') return undefined;
    return condensed.length > Math.max(400, question.length * 4) ? undefined : condensed;
  } catch (error) {
    if (signal.aborted) throw signal.reason;
    if (timeout.aborted) {
      logger.warn(
        { provider: model.provider, timeoutMs: CONDENSE_TIMEOUT_MS },
        'query enhancement timed out; searching the question as asked',
      );
      return undefined;
    }
    logger.warn(
      { err: error, provider: model.provider },
      'query enhancement failed; searching the question as asked',
    );
    return undefined;
  }
}

async function findCachedAnswer(
  deps: ChatPipelineDeps,
  chatbotId: string,
  scope: string,
  question: string,
  embedding: QueryEmbedding | undefined,
  signal: AbortSignal,
): Promise<CachedAnswer | undefined> {
  const cache = deps.answerCache;
  if (cache === undefined) return undefined;
  const exact = await cache.findExact(chatbotId, scope, normalizeQuestion(question), signal);
  if (exact !== undefined || embedding === undefined) return exact;
  const similar = await cache.findSimilar(
    chatbotId,
    scope,
    embedding.space,
    embedding.vector,
    deps.cacheMinSimilarity,
    signal,
  );
  // A similar question is served the answer only if it also says what the answer took from the first asker's.
  return similar !== undefined && echoesMatch(similar.entry, question) ? similar.entry : undefined;
}

async function fillCache(
  cache: AnswerCacheStore,
  entry: {
    chatbotId: string;
    scope: string;
    conversationId: string;
    echoedWords: string[];
    question: string;
    answer: string;
    sources: Source[];
    usage: Usage | null;
    passages: readonly Passage[];
    embedding: QueryEmbedding | undefined;
  },
): Promise<void> {
  await cache.put({
    chatbotId: entry.chatbotId,
    scope: entry.scope,
    conversationId: entry.conversationId,
    echoedWords: entry.echoedWords,
    normalizedQuestion: normalizeQuestion(entry.question),
    question: entry.question,
    answer: entry.answer,
    sources: entry.sources,
    usage: entry.usage,
    documentVersions: Object.fromEntries(
      entry.passages.map((passage) => [passage.documentId, passage.contentHash]),
    ),
    ...(entry.embedding === undefined ? {} : { embedding: entry.embedding }),
  });
}

function roundMs(value: number): number {
  return Math.round(value * 10) / 10;
}
