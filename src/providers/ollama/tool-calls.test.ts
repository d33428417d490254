// Ollama tool turns out (tool_calls with object arguments, tool results by name), whole calls in.

import { describe, expect, it } from 'vitest';
import type { StreamPart } from '../../core/provider.ts';
import { OllamaToolCalls, toOllamaMessages } from './tool-calls.ts';

describe('toOllamaMessages', () => {
  it('sends arguments as objects and names each result by its tool', () => {
    expect(
      toOllamaMessages([
        { role: 'user', content: 'q' },
        {
          role: 'assistant',
          content: '',
          toolCalls: [
            { toolCallId: 'c0', name: 'search', inputText: '{"q":"x"}' },
            { toolCallId: 'c1', name: 'fetch', inputText: 'not json' },
          ],
        },
        { role: 'tool', toolCallId: 'c0', name: 'search', content: '[1] x' },
      ]),
    ).toEqual([
      { role: 'user', content: 'q' },
      {
        role: 'assistant',
        content: '',
        tool_calls: [
          { function: { name: 'search', arguments: { q: 'x' } } },
          { function: { name: 'fetch', arguments: {} } },
        ],
      },
      { role: 'tool', content: '[1] x', tool_name: 'search' },
    ]);
  });
});

describe('OllamaToolCalls', () => {
  it('gives each call an id that stays the same in its start, input and call parts; string arguments pass through', () => {
    const parts: StreamPart[] = [];
    const calls = new OllamaToolCalls();
    calls.add(
      [
        { function: { name: 'search', arguments: { q: 'x' } } },
        { function: { name: 'fetch', arguments: '{"u": ' } },
        { id: 'own', function: { name: 'list' } },
      ],
      (part) => parts.push(part),
    );
    calls.complete((part) => parts.push(part));
    const ids = calls.all.map((call) => call.toolCallId);
    expect(ids[0]).toMatch(/^call_[0-9a-f]{8}_0$/);
    expect(ids[1]).toMatch(/^call_[0-9a-f]{8}_1$/);
    expect(ids[2]).toBe('own');
    expect(parts.filter((part) => part.type === 'tool-call')).toEqual([
      { type: 'tool-call', toolCallId: ids[0], name: 'search', inputText: '{"q":"x"}' },
      { type: 'tool-call', toolCallId: ids[1], name: 'fetch', inputText: '{"u": ' },
      { type: 'tool-call', toolCallId: 'own', name: 'list', inputText: '{}' },
    ]);
    expect(parts.filter((part) => part.type === 'tool-input-start').map((part) => part.toolCallId)).toEqual(
      ids,
    );
  });

  it('refuses a call without a name', () => {
    expect(() => new OllamaToolCalls().add([{ function: { arguments: {} } }])).toThrow(
      expect.objectContaining({ code: 'UPSTREAM_BAD_RESPONSE' }),
    );
  });
});
