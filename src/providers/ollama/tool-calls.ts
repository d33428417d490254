// Tool calling in Ollama's /api/chat: `tools` like OpenAI's, assistant `tool_calls` with arguments as objects,
// `role: 'tool'` results named by `tool_name`, and calls that arrive whole (no ids, no pieces) in a stream line.

import type { ChatMessage, StreamPart, ToolCallRequest } from '../../core/provider.ts';
import { RivuletError } from '../../core/errors.ts';
import { inputObject, inputTextOf, toolCallIdMaker } from '../shared/tool-calls.ts';

/** A call as Ollama sends it; `id` only from versions that number calls themselves. */
export interface OllamaToolCall {
  id?: string | null;
  function?: { name?: string | null; arguments?: unknown } | null;
}

export function toOllamaMessages(messages: readonly ChatMessage[]): unknown[] {
  return messages.map((message) => {
    if (message.role === 'tool') return { role: 'tool', content: message.content, tool_name: message.name };
    if (message.role === 'assistant' && message.toolCalls !== undefined && message.toolCalls.length > 0) {
      return {
        role: 'assistant',
        content: message.content,
        tool_calls: message.toolCalls.map((call) => ({
          function: { name: call.name, arguments: inputObject(call.inputText) },
        })),
      };
    }
    return message.role === 'assistant' ? { role: 'assistant', content: message.content } : message;
  });
}

/**
 * Ollama's calls as Rivulet's: arguments (an object; a string from a server that passes the model's text through,
 * kept as written) become `inputText`; calls without an id get one that stays the same in every part.
 */
export class OllamaToolCalls {
  private readonly makeId = toolCallIdMaker();
  private readonly calls: ToolCallRequest[] = [];

  /** Reads one line's calls; with onPart, each goes out at once as its start and whole input. */
  add(calls: readonly OllamaToolCall[], onPart?: (part: StreamPart) => void): void {
    for (const call of calls) {
      const name = call.function?.name;
      if (typeof name !== 'string' || name === '') {
        throw new RivuletError('UPSTREAM_BAD_RESPONSE', { detail: 'a tool call without a function name' });
      }
      const request: ToolCallRequest = {
        toolCallId: typeof call.id === 'string' && call.id !== '' ? call.id : this.makeId(),
        name,
        inputText: inputTextOf(call.function?.arguments),
      };
      this.calls.push(request);
      if (onPart !== undefined) {
        onPart({ type: 'tool-input-start', toolCallId: request.toolCallId, name });
        onPart({ type: 'tool-input-delta', toolCallId: request.toolCallId, delta: request.inputText });
      }
    }
  }

  get all(): readonly ToolCallRequest[] {
    return this.calls;
  }

  /** At the done line: every call goes out complete, before the finish. */
  complete(onPart: (part: StreamPart) => void): void {
    for (const call of this.calls) onPart({ type: 'tool-call', ...call });
  }
}
