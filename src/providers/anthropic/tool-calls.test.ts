// Anthropic tool turns out (tool_use and tool_result blocks), streamed tool_use blocks in.

import { describe, expect, it } from 'vitest';
import type { StreamPart } from '../../core/provider.ts';
import { anthropicTools, toAnthropicMessages, toolCallsFromContent, ToolUseBlocks } from './tool-calls.ts';

describe('toAnthropicMessages with tool turns', () => {
  it('makes tool_use blocks, merges one step results (and a following question) into one user turn', () => {
    const { system, messages } = toAnthropicMessages([
      { role: 'system', content: 'S' },
      { role: 'user', content: 'q' },
      {
        role: 'assistant',
        content: 'Let me look.',
        toolCalls: [
          { toolCallId: 't1', name: 'search', inputText: '{"q":"x"}' },
          { toolCallId: 't2', name: 'fetch', inputText: '{"u":' },
        ],
      },
      { role: 'tool', toolCallId: 't1', name: 'search', content: '[1] x' },
      { role: 'tool', toolCallId: 't2', name: 'fetch', content: 'TOOL_INPUT_INVALID', isError: true },
      { role: 'user', content: 'and?' },
    ]);
    expect(system).toBe('S');
    expect(messages).toEqual([
      { role: 'user', content: 'q' },
      {
        role: 'assistant',
        content: [
          { type: 'text', text: 'Let me look.' },
          { type: 'tool_use', id: 't1', name: 'search', input: { q: 'x' } },
          // Malformed input: the API only takes an object here.
          { type: 'tool_use', id: 't2', name: 'fetch', input: {} },
        ],
      },
      {
        role: 'user',
        content: [
          { type: 'tool_result', tool_use_id: 't1', content: '[1] x' },
          { type: 'tool_result', tool_use_id: 't2', content: 'TOOL_INPUT_INVALID', is_error: true },
          { type: 'text', text: 'and?' },
        ],
      },
    ]);
  });

  it('drops an empty text block from a turn that only called tools; plain turns stay strings', () => {
    const { messages } = toAnthropicMessages([
      { role: 'user', content: 'a' },
      { role: 'user', content: 'b' },
      { role: 'assistant', content: ' ', toolCalls: [{ toolCallId: 't', name: 'n', inputText: '{}' }] },
    ]);
    expect(messages).toEqual([
      { role: 'user', content: 'a\n\nb' },
      { role: 'assistant', content: [{ type: 'tool_use', id: 't', name: 'n', input: {} }] },
    ]);
  });

  it('sends tools with input_schema', () => {
    expect(anthropicTools([{ name: 'n', description: 'd', inputSchema: { type: 'object' } }])).toEqual([
      { name: 'n', description: 'd', input_schema: { type: 'object' } },
    ]);
  });
});

describe('ToolUseBlocks', () => {
  it('streams start and input pieces by block index, and completes the calls only at the end', () => {
    const parts: StreamPart[] = [];
    const blocks = new ToolUseBlocks((part) => parts.push(part));
    blocks.start(1, 'a', 'search', {});
    blocks.delta(1, '{"q":');
    blocks.start(2, 'b', 'fetch', {});
    blocks.delta(1, '"x"}');
    blocks.stop(1);
    blocks.stop(2);
    expect(parts.some((part) => part.type === 'tool-call')).toBe(false);
    expect(blocks.complete(false)).toBe(true);
    expect(parts.slice(-2)).toEqual([
      { type: 'tool-call', toolCallId: 'a', name: 'search', inputText: '{"q":"x"}' },
      { type: 'tool-call', toolCallId: 'b', name: 'fetch', inputText: '{}' },
    ]);
  });

  it('never completes a call of an answer cut by max_tokens', () => {
    const parts: StreamPart[] = [];
    const blocks = new ToolUseBlocks((part) => parts.push(part));
    blocks.start(0, 'a', 'search', {});
    blocks.delta(0, '{"q":');
    blocks.stop(0);
    expect(blocks.complete(true)).toBe(false);
    expect(parts.map((part) => part.type)).toEqual(['tool-input-start', 'tool-input-delta']);
  });
});

describe('toolCallsFromContent', () => {
  it('reads tool_use blocks of a whole message', () => {
    expect(
      toolCallsFromContent([
        { type: 'text', text: 'x' },
        { type: 'tool_use', id: 'a', name: 'search', input: { q: 1 } },
      ]),
    ).toEqual([{ toolCallId: 'a', name: 'search', inputText: '{"q":1}' }]);
  });
});
