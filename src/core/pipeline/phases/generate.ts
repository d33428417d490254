// The generate phase: the grounded prompt, fitted to the token budget, streamed from the model as tokens.

import { buildGroundedMessages } from '../../prompt.ts';
import { toRivuletError } from '../../errors.ts';
import { EXTRACTIVE_PROVIDER } from '../../events.ts';
import type { ChatMessage, GenerateRequest, StreamOptions } from '../../provider.ts';
import type { Passage } from '../../retriever.ts';
import type { PipelineContext } from '../context.ts';
import type { Query } from './enhance.ts';

export interface GroundedPrompt {
  messages: ChatMessage[];
  /**
   * What the answer rests on besides the question (passages, prompt, glossary): see wordsEchoedFromQuestion. Built
   * only when a finished answer fills the cache: a stream held for minutes would otherwise keep a string per passage.
   */
  groundedOn: () => string[];
}

/** Instructions, glossary, the numbered passages, the history and the question as asked. */
export function groundedPrompt(
  context: PipelineContext,
  history: readonly ChatMessage[],
  query: Query,
  passages: readonly Passage[],
): GroundedPrompt {
  const { input, deps } = context;
  const systemPrompt = input.chatbot.systemPrompt ?? deps.systemPrompt;
  const messages = buildGroundedMessages({
    systemPrompt,
    history,
    question: input.message,
    passages,
    glossary: query.glossary.terms,
  });
  const groundedOn = (): string[] => [
    ...passages.map((passage) => `${passage.documentTitle}\n${passage.heading}\n${passage.text}`),
    systemPrompt ?? '',
    ...query.glossary.terms.map((term) => `${term.term} ${term.definition}`),
  ];
  return { messages, groundedOn };
}

/** What the answer is generated from: its prompt, and the passages the prompt cites (see generatePhase). */
export interface AnswerPrompt {
  readonly messages: ChatMessage[];
  /** For an answerer that quotes them (the extractive one, or the fallback); emptied once the answer has text. */
  passages: readonly Passage[];
}

/**
 * Streams the answer to the prompt's messages as token events, then sends the usage and holds the `done` ending.
 * The passages are let go at the first token (the prompt and the request stop holding them): only an answerer that
 * has not started, or the extractive fallback before any text, reads them, and a stream may be held for minutes.
 */
export async function generatePhase(context: PipelineContext, prompt: AnswerPrompt): Promise<void> {
  const { run, input, deps, recorder, choice } = context;
  const chatbot = input.chatbot;
  const messages = prompt.messages;
  recorder.prompt = messages;
  recorder.beginPhase('generate');
  const maxTokens =
    (await input.fitToBudget?.(messages)) ?? input.maxTokens ?? chatbot.maxTokens ?? undefined;
  run.signal.throwIfAborted();
  const trace = recorder.trace;
  const request: GenerateRequest = {
    messages,
    temperature: input.temperature ?? chatbot.temperature ?? undefined,
    maxTokens,
    ...choice,
    passages: prompt.passages,
    // The chatbot's own stall limit, where it has one (LLM_STALL_MS otherwise).
    ...(chatbot.limits.stallTimeoutMs == null ? {} : { stallMs: chatbot.limits.stallTimeoutMs }),
  };
  // The provider that failed last (a chain's failover moves it on), for an admin's hint if the chain fails.
  let provider = deps.model.provider;
  const options: StreamOptions = {
    signal: run.signal,
    requester: input.requester,
    onProviderCall: (call) => trace.providerCall?.(call),
    // The answer's text is the recorder's: a chain continuing after a failure reads it from there.
    textSoFar: () => recorder.text,
    onPart: (part) => {
      switch (part.type) {
        case 'text-delta':
          recorder.emitProviderToken(part.text);
          if (request.passages !== undefined && recorder.text !== '') {
            // Not `delete`, which turns the request into a dictionary (448 bytes more per held stream).
            request.passages = undefined;
            prompt.passages = [];
          }
          return;
        case 'usage':
          recorder.usage = part.usage;
          return;
        case 'finish':
          recorder.finishReason = part.finishReason;
          return;
        case 'queued':
          run.append(part);
          return;
        case 'failover':
          recorder.failedOver = true;
          provider = part.to;
          run.append({ type: 'failover', from: part.from, to: part.to, reason: part.reason });
          return;
        case 'tool-input-start':
        case 'tool-input-delta':
        case 'tool-call':
          // No tools are offered to the model yet (the agent loop handles these).
          return;
        default: {
          const unreachable: never = part;
          throw new Error(`unknown stream part ${String(unreachable)}`);
        }
      }
    },
  };
  try {
    await deps.model.stream(request, options);
  } catch (caught) {
    const fallback = deps.fallback;
    // Only a provider failure before any text: a stop is not a failure, and half an answer is not spliced with
    // quotes. Without passages there is nothing to quote, so the coded error stands.
    if (fallback === undefined || run.signal.aborted || recorder.text !== '' || prompt.passages.length === 0)
      throw caught;
    const error = toRivuletError(caught);
    if (!error.code.startsWith('UPSTREAM_')) throw error;
    fallback.providerFailed({ runId: run.runId, provider, error });
    deps.logger.warn(
      { runId: run.runId, provider, code: error.code, detail: error.detail },
      'provider chain failed: answering with the retrieved passages',
    );
    recorder.failedOver = true;
    // Readers learn that and why (the code), never the detail: that goes to the log and to admins.
    run.append({ type: 'failover', from: provider, to: EXTRACTIVE_PROVIDER, reason: error.code });
    await fallback.model.stream(request, options);
  }
  recorder.endPhase();
  await recorder.settleUsage();
  if (recorder.usage !== null) run.append({ type: 'usage', ...recorder.usage });
  recorder.holdDone();
}
