// What every provider family does alike with tool calls: a whole call as stream parts, input text as an object.

import { randomBytes } from 'node:crypto';
import type { StreamPart, ToolCallRequest, ToolDefinition } from '../../core/provider.ts';

/** A call's input when the model sent none: the contract's `inputText` is never empty. */
export const EMPTY_INPUT = '{}';

/**
 * A call that arrived whole (a non-streaming answer, Ollama's lines) as the parts a streamed one yields: start, its
 * whole input as one delta, then the complete call.
 */
export function emitWholeToolCall(call: ToolCallRequest, onPart: (part: StreamPart) => void): void {
  onPart({ type: 'tool-input-start', toolCallId: call.toolCallId, name: call.name });
  if (call.inputText !== '')
    onPart({ type: 'tool-input-delta', toolCallId: call.toolCallId, delta: call.inputText });
  onPart({ type: 'tool-call', toolCallId: call.toolCallId, name: call.name, inputText: call.inputText });
}

/**
 * The input as the JSON object the Anthropic and Ollama APIs want in an earlier assistant turn. Malformed or
 * non-object input (the model wrote bad JSON; the agent loop told it so in the tool result) becomes `{}`: those APIs
 * refuse anything but an object there.
 */
export function inputObject(inputText: string): Record<string, unknown> {
  try {
    const value = JSON.parse(inputText) as unknown;
    if (typeof value === 'object' && value !== null && !Array.isArray(value))
      return value as Record<string, unknown>;
  } catch {
    // Falls through to the empty object.
  }
  return {};
}

/** Whole arguments as the model's JSON text: a string passes through as written, anything else is serialised. */
export function inputTextOf(value: unknown): string {
  if (typeof value === 'string') return value === '' ? EMPTY_INPUT : value;
  if (value === undefined || value === null) return EMPTY_INPUT;
  return JSON.stringify(value);
}

/**
 * Ids for providers that send none (Ollama): `call_<8 hex>_<n>`, random per answer so that calls of different
 * steps of one conversation never share an id, numbered in the order the answer made them.
 */
export function toolCallIdMaker(): () => string {
  const prefix = `call_${randomBytes(4).toString('hex')}_`;
  let next = 0;
  return () => `${prefix}${next++}`;
}

/** The `tools` shape OpenAI Chat Completions and Ollama's /api/chat share: `{type: 'function', function: {...}}`. */
export function functionTools(tools: readonly ToolDefinition[]): unknown[] {
  return tools.map((tool) => ({
    type: 'function',
    function: { name: tool.name, description: tool.description, parameters: tool.inputSchema },
  }));
}
