// OpenAI chat completion chunks over SSE (`data: {...}` lines, `data: [DONE]` last) for POST /v1/chat/completions,
// and the same run folded into one `chat.completion` for the non-streaming call. Sources ride in a `rivulet` field,
// which OpenAI clients ignore.

import { statusForCode } from '../../core/errors.ts';
import type { FinishReason, RunEvent, Usage } from '../../core/events.ts';
import type { LogEntry } from '../../core/run-hub.ts';
import { openAiErrorBody } from '../openai/openai-errors.ts';
import type { ChatAnswer } from './aggregate.ts';
import { formatSseComment } from './sse.ts';
import type { StreamEncoder, WireFormat } from './wire-format.ts';

export interface OpenAiCompletionOptions {
  /** The `model` the client asked for: the chatbot's id. */
  model: string;
  /** Seconds since the epoch, as OpenAI's `created`. */
  created: number;
  /** `stream_options.include_usage`: a last chunk with `usage` and no choices, and `usage: null` on the others. */
  includeUsage: boolean;
}

type OpenAiFinishReason = 'stop' | 'length' | 'content_filter' | 'tool_calls';

export interface OpenAiUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

/** The completion id: the run's, so a client can find the run (`/api/runs/:runId/events`) from any chunk. */
export const completionId = (runId: string): string => `chatcmpl-${runId}`;

/** OpenAI has no "stopped": an answer stopped on purpose ends like one that finished. */
export function openAiFinishReason(reason: FinishReason): OpenAiFinishReason {
  switch (reason) {
    case 'length':
      return 'length';
    case 'content-filter':
      return 'content_filter';
    case 'tool-calls':
      return 'tool_calls';
    // The tools were Rivulet's to run and it ran them: nothing is left for the client to call.
    case 'max-steps':
    case 'stop':
    case 'aborted':
    case 'error':
    case 'other':
      return 'stop';
    default: {
      const unreachable: never = reason;
      throw new Error(`unknown finish reason ${String(unreachable)}`);
    }
  }
}

export function openAiUsage(usage: Usage): OpenAiUsage {
  return {
    prompt_tokens: usage.inputTokens,
    completion_tokens: usage.outputTokens,
    total_tokens: usage.inputTokens + usage.outputTokens,
  };
}

/** A cached answer, or one stopped before a provider reported usage. */
const NO_USAGE: Usage = { inputTokens: 0, outputTokens: 0 };

const dataLine = (value: unknown): string => `data: ${JSON.stringify(value)}\n\n`;

/** Chunks of one run; `[DONE]` follows a finished answer, never an error (the client has thrown by then). */
function createChunkEncoder(runId: string, options: OpenAiCompletionOptions): StreamEncoder {
  const head = {
    id: completionId(runId),
    object: 'chat.completion.chunk',
    created: options.created,
    model: options.model,
  };
  const usageNull = options.includeUsage ? { usage: null } : {};
  const chunk = (delta: object, finishReason: OpenAiFinishReason | null, extra: object = {}): string =>
    dataLine({
      ...head,
      choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
      ...usageNull,
      ...extra,
    });
  let finished = false;
  /** OpenAI numbers a message's tool calls (`tool_calls[].index`); ours are named by id. */
  const toolIndexes = new Map<string, number>();
  const toolIndex = (toolCallId: string): number => {
    let index = toolIndexes.get(toolCallId);
    if (index === undefined) {
      index = toolIndexes.size;
      toolIndexes.set(toolCallId, index);
    }
    return index;
  };

  const encodeEvent = (event: RunEvent): string => {
    switch (event.type) {
      case 'start':
        return chunk({ role: 'assistant', content: '' }, null, {
          rivulet: { runId: event.runId, conversationId: event.conversationId, messageId: event.messageId },
        });
      case 'sources':
        return chunk({}, null, { rivulet: { sources: event.sources, match: event.match } });
      case 'token':
        return chunk({ content: event.text }, null);
      case 'done': {
        finished = true;
        const last = chunk({}, openAiFinishReason(event.finishReason));
        if (!options.includeUsage) return last;
        return last + dataLine({ ...head, choices: [], usage: openAiUsage(event.usage ?? NO_USAGE) });
      }
      case 'error':
        return dataLine(
          openAiErrorBody({ code: event.code, message: event.message, status: statusForCode(event.code) }),
        );
      // An agent's tool calls stream as OpenAI's `tool_calls` deltas (id and name first, then the arguments in
      // pieces). Rivulet runs the tools itself, so the answer still ends with `stop`; each result rides in `rivulet`.
      case 'tool-input-start':
        return chunk(
          {
            tool_calls: [
              {
                index: toolIndex(event.toolCallId),
                id: event.toolCallId,
                type: 'function',
                function: { name: event.name, arguments: '' },
              },
            ],
          },
          null,
        );
      case 'tool-input-delta':
        return chunk(
          { tool_calls: [{ index: toolIndex(event.toolCallId), function: { arguments: event.delta } }] },
          null,
        );
      case 'tool-result':
        return chunk({}, null, {
          rivulet: {
            toolResult: {
              toolCallId: event.toolCallId,
              name: event.name,
              output: event.output,
              ...(event.error === undefined ? {} : { error: event.error }),
            },
          },
        });
      // Progress and provider details have no place in OpenAI's chunks: the run's SSE stream carries them. The
      // whole input of a tool call went out as its deltas.
      case 'phase':
      case 'step':
      case 'queued':
      case 'failover':
      case 'usage':
      case 'tool-call':
        return '';
      default: {
        const unreachable: never = event;
        throw new Error(`unknown event ${JSON.stringify(unreachable)}`);
      }
    }
  };

  return {
    head: '',
    encode(entries: readonly LogEntry[]) {
      let out = '';
      for (const entry of entries) out += encodeEvent(entry.event);
      return out;
    },
    keepAlive: formatSseComment('ping'),
    errorFrame: (error) => dataLine(openAiErrorBody(error)),
    trailer: () => (finished ? 'data: [DONE]\n\n' : ''),
  };
}

/**
 * OpenAI's streaming chat completions: `data:` chunks without ids (OpenAI clients do not resume: a client that wants
 * the rest of an answer reads `X-Run-Id` and resumes through the run's SSE stream).
 */
export function openAiChunkFormat(options: OpenAiCompletionOptions): WireFormat {
  return {
    name: 'openai',
    contentType: 'text/event-stream; charset=utf-8',
    resume: { kind: 'elsewhere' },
    createEncoder: ({ runId }) => createChunkEncoder(runId, options),
    refusalBody: (error) => openAiErrorBody(error),
  };
}

/** The non-streaming answer: the run folded by the aggregate encoder, in OpenAI's `chat.completion` shape. */
export function toChatCompletion(
  answer: ChatAnswer,
  runId: string,
  options: Omit<OpenAiCompletionOptions, 'includeUsage'>,
) {
  const usage = answer.usage ?? NO_USAGE;
  return {
    id: completionId(runId),
    object: 'chat.completion',
    created: options.created,
    model: options.model,
    choices: [
      {
        index: 0,
        message: {
          role: 'assistant',
          content: answer.text,
          refusal: null,
          // The tools Rivulet ran for this answer, as OpenAI writes calls (their results are in `rivulet.toolSteps`).
          ...(answer.toolSteps.length === 0
            ? {}
            : {
                tool_calls: answer.toolSteps.map((call) => ({
                  id: call.toolCallId,
                  type: 'function',
                  function: { name: call.name, arguments: JSON.stringify(call.input ?? {}) },
                })),
              }),
        },
        logprobs: null,
        finish_reason: openAiFinishReason(answer.finishReason ?? 'stop'),
      },
    ],
    usage: openAiUsage(usage),
    rivulet: {
      runId,
      conversationId: answer.conversationId,
      messageId: answer.messageId,
      sources: answer.sources,
      match: answer.match,
      cached: answer.cached,
      ...(answer.toolSteps.length === 0 ? {} : { toolSteps: answer.toolSteps }),
    },
  };
}
