import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { describe, expect, it } from 'vitest';
import { RivuletError } from '../../core/errors.ts';
import { encodeEvent, type RunEvent } from '../../core/events.ts';
import { HOSTILE_TOKENS } from './hostile-text.test-fixture.ts';
import { openAiChunkFormat } from './openai-chunks.ts';

/** What a client reads of a chunk (or of an in-stream error). */
interface ChunkRead {
  id?: string;
  model?: string;
  choices: { delta: { role?: string; content?: string }; finish_reason: string | null }[];
  usage?: unknown;
  rivulet?: { sources?: unknown[] };
  error?: unknown;
}

const entry = (event: RunEvent) => ({ event, json: encodeEvent(event) });

function parse(wire: string): EventSourceMessage[] {
  const messages: EventSourceMessage[] = [];
  const parser = createParser({ onEvent: (message) => messages.push(message) });
  parser.feed(wire);
  return messages;
}

const run: RunEvent[] = [
  {
    type: 'start',
    seq: 0,
    runId: 'run_a',
    conversationId: 'conv_a',
    messageId: 'msg_a',
    chatbotId: 'default',
    provider: 'openai',
    model: 'gpt',
  },
  { type: 'phase', seq: 1, name: 'retrieve', state: 'start' },
  {
    type: 'sources',
    seq: 2,
    sources: [{ id: '1', documentId: 'doc_1', title: 'Guide', snippet: 'x', score: 1 }],
    match: { quality: 'strong', topScore: 1, matchedTerms: 1, queryTerms: 1 },
  },
  ...HOSTILE_TOKENS.map((text, index): RunEvent => ({ type: 'token', seq: 3 + index, text })),
  {
    type: 'done',
    seq: 3 + HOSTILE_TOKENS.length,
    finishReason: 'stop',
    text: HOSTILE_TOKENS.join(''),
    usage: { inputTokens: 10, outputTokens: 5 },
    cached: false,
    timings: { ttftMs: 1, totalMs: 2, phases: {} },
  },
];

describe('OpenAI chunk format', () => {
  it('round-trips hostile token text as delta.content, then finish_reason, the usage chunk and [DONE]', () => {
    const encoder = openAiChunkFormat({ model: 'default', created: 1, includeUsage: true }).createEncoder({
      runId: 'run_a',
      retryMs: 1000,
    });
    // One batch per event, as a reader that keeps up receives them.
    const wire =
      encoder.head + run.map((event) => encoder.encode([entry(event)])).join('') + encoder.trailer();
    const messages = parse(wire);
    expect(messages.at(-1)?.data).toBe('[DONE]');
    const chunks = messages.slice(0, -1).map((message) => JSON.parse(message.data) as ChunkRead);
    expect(chunks.every((chunk) => chunk.id === 'chatcmpl-run_a' && chunk.model === 'default')).toBe(true);
    expect(chunks[0]?.choices[0]?.delta).toEqual({ role: 'assistant', content: '' });
    expect(chunks.find((chunk) => chunk.rivulet?.sources !== undefined)?.rivulet?.sources).toHaveLength(1);
    const text = chunks.map((chunk) => chunk.choices[0]?.delta.content ?? '').join('');
    expect(text).toBe(HOSTILE_TOKENS.join(''));
    expect(chunks.at(-2)?.choices[0]?.finish_reason).toBe('stop');
    expect(chunks.at(-1)).toMatchObject({
      choices: [],
      usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 },
    });
    expect(chunks.slice(0, -1).every((chunk) => chunk.usage === null)).toBe(true);
  });

  it('leaves usage out unless asked, ends a failed run with an OpenAI error and no [DONE]', () => {
    const encoder = openAiChunkFormat({ model: 'default', created: 1, includeUsage: false }).createEncoder({
      runId: 'run_b',
      retryMs: 1000,
    });
    const failed: RunEvent = {
      type: 'error',
      seq: 4,
      code: 'UPSTREAM_UNAVAILABLE',
      message: 'down',
      retryable: true,
    };
    const wire = encoder.encode([entry(run[0]!), entry(failed)]) + encoder.trailer();
    const chunks = parse(wire).map((message) => JSON.parse(message.data) as ChunkRead);
    expect(chunks[0]!).not.toHaveProperty('usage');
    expect(chunks[1]).toEqual({
      error: { message: 'down', type: 'server_error', param: null, code: 'UPSTREAM_UNAVAILABLE' },
    });
    expect(parse(encoder.errorFrame(new RivuletError('RUN_NOT_FOUND')))[0]?.data).toContain(
      '"not_found_error"',
    );
  });
});
