import { describe, expect, it } from 'vitest';
import type { StoredMessage } from '../../src/core/conversation-store.ts';
import { fromStored } from './session.ts';

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
