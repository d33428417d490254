import { describe, expect, it } from 'vitest';
import type { StoredMessage } from '../../src/core/conversation-store.ts';
import { applyToolEvent, fromStored, type UiMessage } from './session.ts';

const base = { conversationId: 'conv_1', createdAt: 1 };

describe('fromStored', () => {
  it('shows an interrupted answer as failed with its text, and leaves out one still streaming', () => {
    const stored: StoredMessage[] = [
      { ...base, id: 'q1', role: 'user', content: 'first?' },
      {
        ...base,
        id: 'a1',
        role: 'assistant',
        content: 'Half an ans',
        status: 'interrupted',
        runId: 'run_1',
        finishReason: 'aborted',
        errorCode: 'RUN_INTERRUPTED',
      },
      { ...base, id: 'q2', role: 'user', content: 'second?' },
      { ...base, id: 'a2', role: 'assistant', content: 'So f', status: 'streaming', runId: 'run_2' },
    ];
    const messages = fromStored(stored);
    expect(messages.map((message) => message.id)).toEqual(['q1', 'a1', 'q2']);
    expect(messages[1]).toMatchObject({
      text: 'Half an ans',
      status: 'failed',
      question: 'first?',
      error: { code: 'RUN_INTERRUPTED', message: expect.stringContaining('restarted') as unknown },
    });
  });
});

describe('tool calls', () => {
  it('follow a call from its first input piece to its result, and show stored steps after a reload', () => {
    const answer: UiMessage = {
      id: 'a',
      role: 'assistant',
      text: '',
      status: 'streaming',
      phase: null,
      sources: [],
    };
    applyToolEvent(answer, {
      type: 'tool-input-start',
      seq: 1,
      toolCallId: 't1',
      name: 'search_documents',
      step: 1,
    });
    applyToolEvent(answer, { type: 'tool-input-delta', seq: 2, toolCallId: 't1', delta: '{"query":"refu' });
    expect(answer.tools).toMatchObject([{ state: 'writing', inputText: '{"query":"refu' }]);
    applyToolEvent(answer, {
      type: 'tool-call',
      seq: 3,
      toolCallId: 't1',
      name: 'search_documents',
      input: { query: 'refunds' },
      step: 1,
    });
    expect(answer.tools?.[0]?.state).toBe('running');
    applyToolEvent(answer, {
      type: 'tool-result',
      seq: 4,
      toolCallId: 't1',
      name: 'search_documents',
      output: null,
      error: { code: 'TOOL_TIMEOUT', message: 'The tool took too long.' },
    });
    expect(answer.tools).toMatchObject([{ state: 'failed', error: { code: 'TOOL_TIMEOUT' } }]);

    const [, stored] = fromStored([
      { ...base, id: 'q', role: 'user', content: 'refunds?' },
      {
        ...base,
        id: 'a',
        role: 'assistant',
        content: 'Within 30 days [1].',
        status: 'complete',
        steps: [
          {
            step: 1,
            text: '',
            finishReason: 'tool-calls',
            toolCalls: [
              {
                toolCallId: 't1',
                name: 'search_documents',
                input: { query: 'refunds' },
                output: { results: [] },
              },
            ],
          },
          { step: 2, text: 'Within 30 days [1].', finishReason: 'stop', toolCalls: [] },
        ],
      },
    ]);
    expect(stored?.tools).toMatchObject([
      { toolCallId: 't1', state: 'done', step: 1, input: { query: 'refunds' } },
    ]);
  });
});
