// Chat Completions tool turns out, streamed tool call pieces in.

import { describe, expect, it } from 'vitest';
import type { StreamPart } from '../../core/provider.ts';
import { toChatCompletionsMessages, ToolCallAssembler, toolCallsFromMessage } from './tool-calls.ts';

describe('toChatCompletionsMessages', () => {
  it('puts calls on the assistant turn (content null when it has no text) and answers them with tool messages', () => {
    expect(
      toChatCompletionsMessages([
        { role: 'user', content: 'q' },
        {
          role: 'assistant',
          content: '',
          toolCalls: [{ toolCallId: 'c1', name: 'search', inputText: '{"q":1}' }],
        },
        { role: 'tool', toolCallId: 'c1', name: 'search', content: 'TOOL_FAILED: boom', isError: true },
        { role: 'assistant', content: 'Done.' },
      ]),
    ).toEqual([
      { role: 'user', content: 'q' },
      {
        role: 'assistant',
        content: null,
        tool_calls: [{ id: 'c1', type: 'function', function: { name: 'search', arguments: '{"q":1}' } }],
      },
      { role: 'tool', tool_call_id: 'c1', content: 'TOOL_FAILED: boom' },
      { role: 'assistant', content: 'Done.' },
    ]);
  });
});

describe('ToolCallAssembler', () => {
  const collect = () => {
    const parts: StreamPart[] = [];
    return { parts, assembler: new ToolCallAssembler((part) => parts.push(part)) };
  };

  it('joins pieces by index, several calls interleaved, and completes them in index order', () => {
    const { parts, assembler } = collect();
    assembler.add([{ index: 0, id: 'a', type: 'function', function: { name: 'search', arguments: '' } }]);
    assembler.add([{ index: 0, function: { arguments: '{"q":' } }]);
    assembler.add([{ index: 1, id: 'b', function: { name: 'fetch', arguments: '{"u"' } }]);
    assembler.add([
      { index: 0, function: { arguments: '"x"}' } },
      { index: 1, function: { arguments: ':1}' } },
    ]);
    assembler.complete();
    expect(parts).toEqual([
      { type: 'tool-input-start', toolCallId: 'a', name: 'search' },
      { type: 'tool-input-delta', toolCallId: 'a', delta: '{"q":' },
      { type: 'tool-input-start', toolCallId: 'b', name: 'fetch' },
      { type: 'tool-input-delta', toolCallId: 'b', delta: '{"u"' },
      { type: 'tool-input-delta', toolCallId: 'a', delta: '"x"}' },
      { type: 'tool-input-delta', toolCallId: 'b', delta: ':1}' },
      { type: 'tool-call', toolCallId: 'a', name: 'search', inputText: '{"q":"x"}' },
      { type: 'tool-call', toolCallId: 'b', name: 'fetch', inputText: '{"u":1}' },
    ]);
    expect(assembler.pending).toBe(false);
  });

  it('makes up ids for servers that send none, uses the position without an index, and {} for no arguments', () => {
    const { parts, assembler } = collect();
    assembler.add([{ function: { name: 'a' } }, { function: { name: 'b', arguments: '{}' } }]);
    assembler.complete();
    const calls = parts.filter((part) => part.type === 'tool-call');
    expect(calls).toEqual([
      {
        type: 'tool-call',
        toolCallId: expect.stringMatching(/^call_[0-9a-f]{8}_0$/) as string,
        name: 'a',
        inputText: '{}',
      },
      {
        type: 'tool-call',
        toolCallId: expect.stringMatching(/^call_[0-9a-f]{8}_1$/) as string,
        name: 'b',
        inputText: '{}',
      },
    ]);
  });

  it('holds arguments that come before the name, and refuses a call that never got one', () => {
    const { parts, assembler } = collect();
    assembler.add([{ index: 0, id: 'a', function: { arguments: '{"q"' } }]);
    expect(parts).toEqual([]);
    assembler.add([{ index: 0, function: { name: 'search', arguments: ':1}' } }]);
    expect(parts).toEqual([
      { type: 'tool-input-start', toolCallId: 'a', name: 'search' },
      { type: 'tool-input-delta', toolCallId: 'a', delta: '{"q":1}' },
    ]);
    assembler.add([{ index: 1, id: 'b', function: { arguments: '{}' } }]);
    expect(() => assembler.complete()).toThrow(expect.objectContaining({ code: 'UPSTREAM_BAD_RESPONSE' }));
  });

  it('abandons unfinished calls without a tool-call part', () => {
    const { parts, assembler } = collect();
    assembler.add([{ index: 0, id: 'a', function: { name: 'search', arguments: '{"q' } }]);
    assembler.abandon();
    expect(parts.some((part) => part.type === 'tool-call')).toBe(false);
    expect(assembler.pending).toBe(false);
  });
});

describe('toolCallsFromMessage', () => {
  it('reads whole calls, keeping malformed arguments as written', () => {
    expect(
      toolCallsFromMessage([
        { id: 'a', type: 'function', function: { name: 'search', arguments: '{"q":' } },
        { type: 'function', function: { name: 'fetch', arguments: '' } },
      ]),
    ).toEqual([
      { toolCallId: 'a', name: 'search', inputText: '{"q":' },
      { toolCallId: expect.stringMatching(/^call_/) as string, name: 'fetch', inputText: '{}' },
    ]);
    expect(toolCallsFromMessage(null)).toEqual([]);
  });
});
