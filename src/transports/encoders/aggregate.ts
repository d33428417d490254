// JSON aggregate: folds a run's events into the one answer the non-streaming endpoint returns.

import type {
  FinishReason,
  RunEvent,
  Source,
  SourceMatch,
  Timings,
  ToolError,
  Usage,
} from '../../core/events.ts';

/** One tool call of an agent answer: its input, then its output or coded error. */
export interface ToolStep {
  toolCallId: string;
  name: string;
  input: unknown;
  /** The agent step that made the call (1-based). */
  step?: number;
  output?: unknown;
  error?: ToolError;
  durationMs?: number;
}

export interface ChatAnswer {
  runId: string | null;
  conversationId: string | null;
  messageId: string | null;
  chatbotId: string | null;
  provider: string | null;
  model: string | null;
  text: string;
  sources: Source[];
  /** How well the sources matched the question (the `sources` event's); null until they are known. */
  match: SourceMatch | null;
  toolSteps: ToolStep[];
  failovers: { from: string; to: string; reason: string }[];
  usage: Usage | null;
  finishReason: FinishReason | null;
  cached: boolean;
  timings: Timings | null;
  error: { code: string; message: string; retryable: boolean } | null;
  /** Seq of the last event folded in. */
  lastSeq: number;
}

export function emptyAnswer(): ChatAnswer {
  return {
    runId: null,
    conversationId: null,
    messageId: null,
    chatbotId: null,
    provider: null,
    model: null,
    text: '',
    sources: [],
    match: null,
    toolSteps: [],
    failovers: [],
    usage: null,
    finishReason: null,
    cached: false,
    timings: null,
    error: null,
    lastSeq: -1,
  };
}

/** Folds one event into the answer (mutating it: the hot path must not copy the text per token). */
export function foldEvent(answer: ChatAnswer, event: RunEvent): ChatAnswer {
  answer.lastSeq = event.seq;
  switch (event.type) {
    case 'start':
      answer.runId = event.runId;
      answer.conversationId = event.conversationId;
      answer.messageId = event.messageId;
      answer.chatbotId = event.chatbotId;
      answer.provider = event.provider;
      answer.model = event.model;
      return answer;
    case 'phase':
      return answer;
    case 'sources':
      answer.sources = event.sources;
      answer.match = event.match;
      return answer;
    case 'token':
      answer.text += event.text;
      return answer;
    // Steps and streamed tool input are progress: the whole input arrives with `tool-call`.
    case 'step':
    case 'tool-input-start':
    case 'tool-input-delta':
      return answer;
    case 'tool-call':
      answer.toolSteps.push({
        toolCallId: event.toolCallId,
        name: event.name,
        input: event.input,
        ...(event.step === undefined ? {} : { step: event.step }),
      });
      return answer;
    case 'tool-result': {
      let call = answer.toolSteps.find((candidate) => candidate.toolCallId === event.toolCallId);
      if (call === undefined) {
        // A call abandoned before its input was complete (its provider failed mid-call) has only a result.
        call = { toolCallId: event.toolCallId, name: event.name, input: null };
        answer.toolSteps.push(call);
      }
      call.output = event.output;
      if (event.error !== undefined) call.error = event.error;
      if (event.durationMs !== undefined) call.durationMs = event.durationMs;
      return answer;
    }
    case 'queued':
      // A whole answer waits for its slot like any other; the wait shows in its timings, not as a field.
      return answer;
    case 'failover':
      answer.failovers.push({ from: event.from, to: event.to, reason: event.reason });
      return answer;
    case 'usage':
      answer.usage = {
        inputTokens: event.inputTokens,
        outputTokens: event.outputTokens,
        ...(event.estimated === undefined ? {} : { estimated: event.estimated }),
      };
      return answer;
    case 'done':
      // `done.text` is authoritative: it is the whole answer even if tokens were merged or replayed.
      answer.text = event.text;
      answer.usage = event.usage;
      answer.finishReason = event.finishReason;
      answer.cached = event.cached;
      answer.timings = event.timings;
      return answer;
    case 'error':
      answer.finishReason = 'error';
      answer.error = { code: event.code, message: event.message, retryable: event.retryable };
      return answer;
    default: {
      const unreachable: never = event;
      throw new Error(`unknown event ${JSON.stringify(unreachable)}`);
    }
  }
}

export function aggregateEvents(events: Iterable<RunEvent>): ChatAnswer {
  const answer = emptyAnswer();
  for (const event of events) foldEvent(answer, event);
  return answer;
}
