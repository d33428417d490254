// Tool calling in Anthropic's Messages format: `tools` with `input_schema`, assistant `tool_use` blocks, user
// `tool_result` blocks, and streamed `tool_use` content blocks whose input arrives as `input_json_delta` pieces.

import type { ChatMessage, StreamPart, ToolCallRequest, ToolDefinition } from '../../core/provider.ts';
import { EMPTY_INPUT, inputObject, inputTextOf } from '../shared/tool-calls.ts';

export type AnthropicBlock =
  | { type: 'text'; text: string }
  | { type: 'tool_use'; id: string; name: string; input: Record<string, unknown> }
  | { type: 'tool_result'; tool_use_id: string; content: string; is_error?: boolean };

export interface AnthropicMessage {
  role: 'user' | 'assistant';
  content: string | AnthropicBlock[];
}

export function anthropicTools(tools: readonly ToolDefinition[]): unknown[] {
  return tools.map((tool) => ({
    name: tool.name,
    description: tool.description,
    input_schema: tool.inputSchema,
  }));
}

const asBlocks = (content: string | AnthropicBlock[]): AnthropicBlock[] =>
  typeof content !== 'string' ? content : content.trim() === '' ? [] : [{ type: 'text', text: content }];

/** One Rivulet turn as an Anthropic turn: tool calls become `tool_use` blocks, a tool result a user `tool_result`. */
function toTurn(message: ChatMessage): AnthropicMessage {
  if (message.role === 'tool') {
    const block: AnthropicBlock = {
      type: 'tool_result',
      tool_use_id: message.toolCallId,
      content: message.content,
    };
    if (message.isError === true) block.is_error = true;
    return { role: 'user', content: [block] };
  }
  if (message.role === 'assistant' && message.toolCalls !== undefined && message.toolCalls.length > 0) {
    // The API refuses empty text blocks, and wants each call's input as an object (malformed input: `{}`).
    const calls = message.toolCalls.map((call): AnthropicBlock => ({
      type: 'tool_use',
      id: call.toolCallId,
      name: call.name,
      input: inputObject(call.inputText),
    }));
    return { role: 'assistant', content: [...asBlocks(message.content), ...calls] };
  }
  // System messages never get here: they go to the top-level `system`.
  return { role: message.role === 'assistant' ? 'assistant' : 'user', content: message.content };
}

/**
 * Anthropic takes system prompts as one top-level field and wants turns that alternate, starting with the
 * user: system messages are joined, and consecutive turns of one role are merged (text to text with a blank line;
 * the results of one step's tool calls into one user turn, results first as the API requires).
 */
export function toAnthropicMessages(messages: readonly ChatMessage[]): {
  system: string | undefined;
  messages: AnthropicMessage[];
} {
  const system: string[] = [];
  const turns: AnthropicMessage[] = [];
  for (const message of messages) {
    if (message.role === 'system') {
      system.push(message.content);
      continue;
    }
    const turn = toTurn(message);
    const previous = turns.at(-1);
    if (previous?.role !== turn.role) turns.push(turn);
    else if (typeof previous.content === 'string' && typeof turn.content === 'string') {
      previous.content = `${previous.content}\n\n${turn.content}`;
    } else previous.content = [...asBlocks(previous.content), ...asBlocks(turn.content)];
  }
  // A history trimmed to fit the context can start with the assistant; the API refuses that outright.
  if (turns[0]?.role === 'assistant') turns.unshift({ role: 'user', content: '(continued)' });
  return { system: system.length === 0 ? undefined : system.join('\n\n'), messages: turns };
}

/** The calls in a non-streaming answer's content blocks. */
export function toolCallsFromContent(
  content: readonly { type?: string; text?: string; id?: string; name?: string; input?: unknown }[],
): ToolCallRequest[] {
  return content.flatMap((block) =>
    block.type === 'tool_use' && typeof block.id === 'string' && typeof block.name === 'string'
      ? [{ toolCallId: block.id, name: block.name, inputText: inputTextOf(block.input) }]
      : [],
  );
}

interface StreamedCall {
  toolCallId: string;
  name: string;
  input: string;
}

/**
 * Follows streamed `tool_use` blocks by their content block `index`: `content_block_start` names the call,
 * `input_json_delta` pieces carry its input, `content_block_stop` ends it. Complete calls are held until the
 * message stops, so that they go out with the finish reason (and a call cut by max_tokens never goes out).
 */
export class ToolUseBlocks {
  private readonly open = new Map<number, StreamedCall>();
  private readonly done: StreamedCall[] = [];
  private readonly onPart: (part: StreamPart) => void;

  constructor(onPart: (part: StreamPart) => void) {
    this.onPart = onPart;
  }

  start(index: number, id: string, name: string, input: unknown): void {
    const call: StreamedCall = { toolCallId: id, name, input: '' };
    this.open.set(index, call);
    this.onPart({ type: 'tool-input-start', toolCallId: id, name });
    // The API starts every block with `input: {}`; a proxy that sends the whole input here is read as one piece.
    if (typeof input === 'object' && input !== null && Object.keys(input).length > 0)
      this.delta(index, JSON.stringify(input));
  }

  delta(index: number, piece: string): void {
    const call = this.open.get(index);
    if (call === undefined || piece === '') return;
    call.input += piece;
    this.onPart({ type: 'tool-input-delta', toolCallId: call.toolCallId, delta: piece });
  }

  stop(index: number): void {
    const call = this.open.get(index);
    if (call === undefined) return;
    this.open.delete(index);
    this.done.push(call);
  }

  /** At message_stop: the complete calls go out, unless the answer was cut (then none does). */
  complete(cut: boolean): boolean {
    if (cut) return false;
    for (const call of this.done) {
      this.onPart({
        type: 'tool-call',
        toolCallId: call.toolCallId,
        name: call.name,
        inputText: call.input === '' ? EMPTY_INPUT : call.input,
      });
    }
    return this.done.length > 0;
  }
}
