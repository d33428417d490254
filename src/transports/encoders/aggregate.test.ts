import { describe, expect, it } from 'vitest';
import type { RunEvent } from '../../core/events.ts';
import { aggregateEvents } from './aggregate.ts';

const timings = { ttftMs: 5, totalMs: 20, phases: { generate: 15 } };

describe('JSON aggregate', () => {
  it('builds the non-streaming answer from a run', () => {
    const events: RunEvent[] = [
      {
        type: 'start',
        seq: 0,
        runId: 'run_1',
        conversationId: 'conv_1',
        messageId: 'msg_1',
        chatbotId: 'default',
        provider: 'p',
        model: 'm',
      },
      { type: 'phase', seq: 1, name: 'generate', state: 'start' },
      {
        type: 'sources',
        seq: 2,
        sources: [{ id: 's1', documentId: 'd1', title: 'Doc', snippet: 'x', score: 1 }],
        match: { quality: 'strong', topScore: 1, matchedTerms: 2, queryTerms: 2 },
      },
      { type: 'token', seq: 3, text: 'Hello\r\n' },
      { type: 'tool-call', seq: 4, toolCallId: 't1', name: 'search', input: { q: 1 } },
      { type: 'tool-result', seq: 5, toolCallId: 't1', name: 'search', output: ['r'] },
      { type: 'failover', seq: 6, from: 'a', to: 'b', reason: 'UPSTREAM_DROPPED' },
      { type: 'token', seq: 7, text: '漢字 😀' },
      { type: 'usage', seq: 8, inputTokens: 3, outputTokens: 2 },
      {
        type: 'done',
        seq: 9,
        finishReason: 'stop',
        text: 'Hello\r\n漢字 😀',
        usage: { inputTokens: 3, outputTokens: 2 },
        cached: false,
        timings,
      },
    ];
    const answer = aggregateEvents(events);
    expect(answer).toMatchObject({
      runId: 'run_1',
      conversationId: 'conv_1',
      text: 'Hello\r\n漢字 😀',
      finishReason: 'stop',
      usage: { inputTokens: 3, outputTokens: 2 },
      toolSteps: [{ toolCallId: 't1', name: 'search', input: { q: 1 }, output: ['r'] }],
      failovers: [{ from: 'a', to: 'b', reason: 'UPSTREAM_DROPPED' }],
      error: null,
      lastSeq: 9,
      timings,
    });
    expect(answer.sources).toHaveLength(1);
    expect(answer.match).toEqual({ quality: 'strong', topScore: 1, matchedTerms: 2, queryTerms: 2 });
  });

  it('keeps the partial text and the error of a failed run', () => {
    const answer = aggregateEvents([
      { type: 'token', seq: 0, text: 'half an ' },
      { type: 'token', seq: 1, text: 'answer' },
      { type: 'error', seq: 2, code: 'UPSTREAM_DROPPED', message: 'lost', retryable: true },
    ]);
    expect(answer.text).toBe('half an answer');
    expect(answer.finishReason).toBe('error');
    expect(answer.error).toEqual({ code: 'UPSTREAM_DROPPED', message: 'lost', retryable: true });
  });
});
