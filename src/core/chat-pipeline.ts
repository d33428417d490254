// The chat pipeline: writes one answer's events into a run (history -> generate -> persist).
// Retrieval phases join here when the RAG pipeline lands; each phase reports its duration.

import { randomUUID } from 'node:crypto';
import type { ConversationStore, MessageStatus } from './conversation-store.ts';
import { RivuletError, toRivuletError } from './errors.ts';
import type { FinishReason, PhaseName, Timings, Usage } from './events.ts';
import type { Logger } from './logger.ts';
import type { ChatMessage, LanguageModel } from './provider.ts';
import type { RunProducer } from './run-hub.ts';

export interface ChatInput {
  message: string;
  conversationId: string;
  chatbotId: string;
  temperature?: number;
  maxTokens?: number;
}

export interface ChatPipelineDeps {
  conversations: ConversationStore;
  /** Undefined when no provider is configured: the run ends with PROVIDER_NOT_CONFIGURED. */
  model: LanguageModel | undefined;
  systemPrompt: string | undefined;
  /**
   * Counts tokens locally when the provider reported no usage, or when a failover spliced two providers' answers
   * (each reported only its own part). Optional: without it such answers carry `usage: null`.
   */
  estimateUsage?: (messages: readonly ChatMessage[], output: string) => Promise<Usage>;
  /** How many earlier messages go into the prompt. */
  historyLimit: number;
  logger: Logger;
}

/** Reasons the hub gives for aborting a run that still deserve a `done` (the user or nobody wanted more). */
function isQuietAbort(reason: unknown): boolean {
  return reason instanceof RivuletError && (reason.code === 'RUN_STOPPED' || reason.code === 'RUN_ABANDONED');
}

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
  let text = '';
  let tokenCount = 0;
  let ttftMs: number | null = null;
  let usage: Usage | null = null;
  let failedOver = false;
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
    const durationMs = roundMs(performance.now() - currentPhase.startedAt);
    phases[currentPhase.name] = durationMs;
    run.append({ type: 'phase', name: currentPhase.name, state: 'end', durationMs });
    currentPhase = undefined;
  };
  const timings = (): Timings => ({ ttftMs, totalMs: roundMs(performance.now() - startedAt), phases });

  run.append({
    type: 'start',
    runId: run.runId,
    conversationId: input.conversationId,
    messageId,
    chatbotId: input.chatbotId,
    provider: deps.model?.provider ?? 'none',
    model: deps.model?.model ?? 'none',
  });

  let status: MessageStatus = 'complete';
  let errorCode: string | undefined;
  try {
    beginPhase('history');
    const history = await deps.conversations.listMessages(input.conversationId, deps.historyLimit);
    await deps.conversations.appendMessage({
      id: `msg_${randomUUID()}`,
      conversationId: input.conversationId,
      role: 'user',
      content: input.message,
      createdAt: Date.now(),
    });
    endPhase();

    const model = deps.model;
    if (model === undefined) throw new RivuletError('PROVIDER_NOT_CONFIGURED');
    const messages: ChatMessage[] = [];
    if (deps.systemPrompt !== undefined) messages.push({ role: 'system', content: deps.systemPrompt });
    // Empty answers (failed before the first token) carry nothing and some servers reject empty assistant turns.
    for (const message of history) {
      if (message.content !== '') messages.push({ role: message.role, content: message.content });
    }
    messages.push({ role: 'user', content: input.message });
    prompt = messages;

    beginPhase('generate');
    run.signal.throwIfAborted();
    await model.stream(
      { messages, temperature: input.temperature, maxTokens: input.maxTokens },
      {
        signal: run.signal,
        onPart: (part) => {
          switch (part.type) {
            case 'text-delta':
              if (part.text.length === 0) return;
              // Once the hub has ended the run (caps, timeout) nothing more is sent, so nothing more is stored.
              if (run.append({ type: 'token', text: part.text }) === -1) return;
              if (ttftMs === null) ttftMs = roundMs(performance.now() - startedAt);
              text += part.text;
              tokenCount += 1;
              return;
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
    if (usage !== null) run.append({ type: 'usage', ...(usage as Usage) });
    run.append({ type: 'done', finishReason, text, usage, cached: false, timings: timings() });
  } catch (caught) {
    endPhase();
    const reason: unknown = run.signal.aborted ? run.signal.reason : caught;
    if (run.signal.aborted && isQuietAbort(reason)) {
      status = 'stopped';
      finishReason = 'aborted';
      // Tokens generated before the stop were paid for: say how many.
      await settleUsage();
      run.append({ type: 'done', finishReason, text, usage, cached: false, timings: timings() });
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
    }
  }

  const finalTimings = timings();
  try {
    await deps.conversations.appendMessage({
      id: messageId,
      conversationId: input.conversationId,
      role: 'assistant',
      content: text,
      createdAt: Date.now(),
      status,
      runId: run.runId,
      finishReason,
      errorCode,
      usage,
      timings: finalTimings,
    });
  } catch (error) {
    deps.logger.error({ runId: run.runId, err: error }, 'storing the answer failed');
  }
  deps.logger.info(
    {
      runId: run.runId,
      conversationId: input.conversationId,
      chatbotId: input.chatbotId,
      provider: deps.model?.provider ?? 'none',
      status,
      finishReason,
      errorCode,
      tokens: tokenCount,
      ttftMs: finalTimings.ttftMs,
      totalMs: finalTimings.totalMs,
      phases: finalTimings.phases,
    },
    `answer ${status} in ${(finalTimings.totalMs / 1000).toFixed(2)}s`,
  );
}

function roundMs(value: number): number {
  return Math.round(value * 10) / 10;
}
