// Tool calling in the Chat Completions format: `tools`, assistant `tool_calls` and `role: 'tool'` turns, and the
// streamed `delta.tool_calls[]` pieces put back together by `index`.

import { RivuletError } from '../../core/errors.ts';
import type { ChatMessage, StreamPart, ToolCallRequest } from '../../core/provider.ts';
import { EMPTY_INPUT, toolCallIdMaker } from '../shared/tool-calls.ts';

/** One piece of a streamed call: id, type and name come in the call's first piece, `arguments` in many. */
export interface ToolCallDelta {
  index?: number;
  id?: string | null;
  type?: string | null;
  function?: { name?: string | null; arguments?: string | null } | null;
}

/** A whole call in a non-streaming answer's `message.tool_calls`. */
export interface WholeToolCall {
  id?: string | null;
  type?: string | null;
  function?: { name?: string | null; arguments?: string | null } | null;
}

/** Rivulet's turns as Chat Completions messages: tool calls on the assistant turn, one `tool` message per result. */
export function toChatCompletionsMessages(messages: readonly ChatMessage[]): unknown[] {
  return messages.map((message) => {
    if (message.role === 'tool') {
      // The format has no error flag: the content says what went wrong, which the model reads like any result.
      return { role: 'tool', tool_call_id: message.toolCallId, content: message.content };
    }
    if (message.role === 'assistant' && message.toolCalls !== undefined && message.toolCalls.length > 0) {
      return {
        role: 'assistant',
        // OpenAI documents content as null for a turn that only called tools.
        content: message.content === '' ? null : message.content,
        tool_calls: message.toolCalls.map((call) => ({
          id: call.toolCallId,
          type: 'function',
          function: { name: call.name, arguments: call.inputText },
        })),
      };
    }
    return message.role === 'assistant' ? { role: 'assistant', content: message.content } : message;
  });
}

/** The calls of a non-streaming answer; ids are made up for servers that send none. */
export function toolCallsFromMessage(calls: readonly WholeToolCall[] | null | undefined): ToolCallRequest[] {
  if (calls === undefined || calls === null || calls.length === 0) return [];
  const makeId = toolCallIdMaker();
  return calls.map((call) => {
    const name = call.function?.name;
    if (typeof name !== 'string' || name === '') {
      throw new RivuletError('UPSTREAM_BAD_RESPONSE', { detail: 'a tool call without a function name' });
    }
    const input = call.function?.arguments;
    return {
      toolCallId: typeof call.id === 'string' && call.id !== '' ? call.id : makeId(),
      name,
      inputText: typeof input === 'string' && input !== '' ? input : EMPTY_INPUT,
    };
  });
}

interface PendingCall {
  toolCallId: string | undefined;
  name: string;
  /** The arguments so far. */
  input: string;
  /** `tool-input-start` was emitted (the name is known). */
  started: boolean;
}

/**
 * Puts streamed calls back together. OpenAI numbers each call with `index` and sends its id and name in the first
 * piece and the arguments split across later ones; several calls in one answer come one after another (some
 * compatible servers send a whole call, or all of them, in one chunk). Parts go out as pieces arrive; the complete
 * calls when the answer finishes.
 */
export class ToolCallAssembler {
  private readonly calls = new Map<number, PendingCall>();
  private readonly makeId = toolCallIdMaker();
  private readonly onPart: (part: StreamPart) => void;

  constructor(onPart: (part: StreamPart) => void) {
    this.onPart = onPart;
  }

  get pending(): boolean {
    return this.calls.size > 0;
  }

  add(deltas: readonly ToolCallDelta[]): void {
    for (let position = 0; position < deltas.length; position += 1) {
      const delta = deltas[position]!;
      const key = typeof delta.index === 'number' ? delta.index : position;
      let call = this.calls.get(key);
      if (call === undefined) {
        call = { toolCallId: undefined, name: '', input: '', started: false };
        this.calls.set(key, call);
      }
      if (call.toolCallId === undefined && typeof delta.id === 'string' && delta.id !== '') {
        call.toolCallId = delta.id;
      }
      const name = delta.function?.name;
      if (!call.started && typeof name === 'string' && name !== '') call.name = name;
      const piece = delta.function?.arguments;
      const hasPiece = typeof piece === 'string' && piece !== '';
      if (hasPiece) call.input += piece;
      if (call.started) {
        if (hasPiece) this.onPart({ type: 'tool-input-delta', toolCallId: call.toolCallId!, delta: piece });
      } else if (call.name !== '') {
        call.started = true;
        call.toolCallId ??= this.makeId();
        this.onPart({ type: 'tool-input-start', toolCallId: call.toolCallId, name: call.name });
        // Arguments that came before the name (no known server does this) go out now, in one piece.
        if (call.input !== '')
          this.onPart({ type: 'tool-input-delta', toolCallId: call.toolCallId, delta: call.input });
      }
    }
  }

  /** Emits every call as complete, in index order, and forgets them. */
  complete(): void {
    const keys = [...this.calls.keys()].sort((a, b) => a - b);
    for (const key of keys) {
      const call = this.calls.get(key)!;
      if (!call.started) {
        throw new RivuletError('UPSTREAM_BAD_RESPONSE', {
          detail: 'a streamed tool call without a function name',
        });
      }
      this.onPart({
        type: 'tool-call',
        toolCallId: call.toolCallId!,
        name: call.name,
        inputText: call.input === '' ? EMPTY_INPUT : call.input,
      });
    }
    this.calls.clear();
  }

  /** Forgets unfinished calls (an answer cut by its token limit): they never get a `tool-call` part. */
  abandon(): void {
    this.calls.clear();
  }
}
