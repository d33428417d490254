// The generate phase: the grounded prompt, fitted to the token budget, streamed from the model as tokens.

import { buildGroundedMessages } from '../../prompt.ts';
import type { ChatMessage } from '../../provider.ts';
import type { Passage } from '../../retriever.ts';
import type { PipelineContext } from '../context.ts';
import type { Query } from './enhance.ts';

export interface GroundedPrompt {
  messages: ChatMessage[];
  /** What the answer rests on besides the question (passages, prompt, glossary): see wordsEchoedFromQuestion. */
  groundedOn: string[];
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
  const groundedOn = [
    ...passages.map((passage) => `${passage.documentTitle}\n${passage.heading}\n${passage.text}`),
    systemPrompt ?? '',
    ...query.glossary.terms.map((term) => `${term.term} ${term.definition}`),
  ];
  return { messages, groundedOn };
}

/** Streams the answer to `messages` as token events, then sends the usage and holds the `done` ending. */
export async function generatePhase(
  context: PipelineContext,
  messages: ChatMessage[],
  passages: readonly Passage[],
): Promise<void> {
  const { run, input, deps, recorder, choice } = context;
  const chatbot = input.chatbot;
  recorder.prompt = messages;
  recorder.beginPhase('generate');
  const maxTokens =
    (await input.fitToBudget?.(messages)) ?? input.maxTokens ?? chatbot.maxTokens ?? undefined;
  run.signal.throwIfAborted();
  const trace = recorder.trace;
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
          case 'text-delta':
            recorder.emitProviderToken(part.text);
            return;
          case 'usage':
            recorder.usage = part.usage;
            return;
          case 'finish':
            recorder.finishReason = part.finishReason;
            return;
          case 'failover':
            recorder.failedOver = true;
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
    },
  );
  recorder.endPhase();
  await recorder.settleUsage();
  if (recorder.usage !== null) run.append({ type: 'usage', ...recorder.usage });
  recorder.holdDone();
}
