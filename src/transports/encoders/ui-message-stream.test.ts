import {
  parseJsonEventStream,
  readUIMessageStream,
  uiMessageChunkSchema,
  UI_MESSAGE_STREAM_HEADERS,
  type UIMessage,
  type UIMessageChunk,
} from 'ai';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { encodeEvent, withSeq, type RunEvent, type RunEventInput } from '../../core/events.ts';
import type { LogEntry } from '../../core/run-hub.ts';
import { RivuletError } from '../../core/errors.ts';
import { HOSTILE_TOKENS } from './hostile-text.test-fixture.ts';
import {
  createUiMessageEncoder,
  mediaTypeOf,
  UI_MESSAGE_STREAM_HEADER,
  UI_MESSAGE_STREAM_VERSION,
  uiMessageStreamFormat,
  type UiMessageChunk,
} from './ui-message-stream.ts';

const SOURCE = {
  id: '1',
  documentId: 'doc_1',
  chunkId: 'chk_1',
  title: 'Guide > Refunds',
  uri: 'docs/refunds.md',
  snippet: 'Refunds are issued within 14 days.',
  score: 3.1416,
};
const MATCH = { quality: 'strong', topScore: 1, matchedTerms: 2, queryTerms: 2 } as const;

function runLog(inputs: RunEventInput[]): LogEntry[] {
  return inputs.map((input, seq) => {
    const event = withSeq(input, seq);
    return { event, json: encodeEvent(event) };
  });
}

function answer(tokens: readonly string[], end: RunEventInput): LogEntry[] {
  return runLog([
    {
      type: 'start',
      runId: 'run_1',
      conversationId: 'chat_1',
      messageId: 'msg_1',
      chatbotId: 'default',
      provider: 'openai',
      model: 'gpt-test',
    },
    { type: 'phase', name: 'retrieve', state: 'start' },
    { type: 'phase', name: 'retrieve', state: 'end', durationMs: 4 },
    {
      type: 'sources',
      sources: [SOURCE, { ...SOURCE, id: '2', uri: 'upload.pdf', chunkId: undefined }],
      match: MATCH,
    },
    { type: 'phase', name: 'generate', state: 'start' },
    { type: 'queued', provider: 'openai:gpt-test', position: 2, estimatedWaitMs: null },
    { type: 'queued', provider: 'openai:gpt-test', position: 1, estimatedWaitMs: 900 },
    { type: 'queued', provider: 'openai:gpt-test', position: 0, estimatedWaitMs: 0 },
    ...tokens.map((text): RunEventInput => ({ type: 'token', text })),
    { type: 'failover', from: 'openai', to: 'ollama', reason: 'UPSTREAM_UNAVAILABLE' },
    { type: 'phase', name: 'generate', state: 'end', durationMs: 9 },
    end,
  ]);
}

const DONE = {
  type: 'done',
  finishReason: 'stop',
  text: HOSTILE_TOKENS.join(''),
  usage: { inputTokens: 10, outputTokens: 20 },
  cached: false,
  timings: { ttftMs: 3, totalMs: 12, phases: {} },
} as const;

/** The wire, cut into pieces of `size` bytes (multi-byte characters split across them), as the SDK's transport reads it. */
function bytes(wire: string, size: number): ReadableStream<Uint8Array> {
  const all = new TextEncoder().encode(wire);
  let offset = 0;
  return new ReadableStream({
    pull(controller) {
      if (offset >= all.length) {
        controller.close();
        return;
      }
      controller.enqueue(all.slice(offset, offset + size));
      offset += size;
    },
  });
}

/** Parses the wire with the `ai` package's own parser and folds it into a UI message as `useChat` does. */
async function readBack(
  wire: string,
  size = 7,
): Promise<{ message: UIMessage | undefined; errors: string[] }> {
  const chunks = parseJsonEventStream({
    stream: bytes(wire, size),
    schema: uiMessageChunkSchema,
  }).pipeThrough(
    new TransformStream<{ success: boolean; value?: UIMessageChunk; error?: unknown }, UIMessageChunk>({
      transform(result, controller) {
        if (!result.success || result.value === undefined)
          throw new Error(`invalid chunk: ${String(result.error)}`);
        controller.enqueue(result.value);
      },
    }),
  );
  const errors: string[] = [];
  let message: UIMessage | undefined;
  for await (const state of readUIMessageStream({
    stream: chunks,
    onError: (error) => errors.push(error instanceof Error ? error.message : String(error)),
  })) {
    message = state;
  }
  return { message, errors };
}

function textOf(message: UIMessage | undefined): string {
  return (message?.parts ?? []).map((part) => (part.type === 'text' ? part.text : '')).join('');
}

describe('AI SDK UI message stream encoder', () => {
  it('writes chunks the ai package types and its header name and version', () => {
    expectTypeOf<UiMessageChunk>().toExtend<UIMessageChunk>();
    expect(UI_MESSAGE_STREAM_HEADERS[UI_MESSAGE_STREAM_HEADER]).toBe(UI_MESSAGE_STREAM_VERSION);
  });

  it('round-trips a whole answer through the ai package parser: text, sources, phases, match, metadata', async () => {
    const wire = createUiMessageEncoder().encode(answer(HOSTILE_TOKENS, DONE));
    // Token text never forges a frame: every frame is one data line of JSON, then [DONE].
    const frames = wire.split('\n\n').filter((frame) => frame !== '');
    expect(frames.every((frame) => frame.startsWith('data: ') && !frame.includes('\n'))).toBe(true);
    expect(frames.at(-1)).toBe('data: [DONE]');

    for (const size of [1, 3, 7, 4096]) {
      const { message, errors } = await readBack(wire, size);
      expect(errors).toEqual([]);
      expect(message?.id).toBe('msg_1');
      expect(textOf(message)).toBe(HOSTILE_TOKENS.join(''));
      // One text part for the whole answer.
      expect(message?.parts.filter((part) => part.type === 'text')).toHaveLength(1);
      expect(message?.parts.filter((part) => part.type === 'source-document')).toEqual([
        {
          type: 'source-document',
          sourceId: '1',
          mediaType: 'text/markdown',
          title: 'Guide > Refunds',
          filename: 'docs/refunds.md',
          providerMetadata: {
            rivulet: {
              documentId: 'doc_1',
              chunkId: 'chk_1',
              uri: 'docs/refunds.md',
              snippet: SOURCE.snippet,
              score: SOURCE.score,
            },
          },
        },
        {
          type: 'source-document',
          sourceId: '2',
          mediaType: 'application/pdf',
          title: 'Guide > Refunds',
          filename: 'upload.pdf',
          providerMetadata: {
            rivulet: {
              documentId: 'doc_1',
              chunkId: null,
              uri: 'upload.pdf',
              snippet: SOURCE.snippet,
              score: SOURCE.score,
            },
          },
        },
      ]);
      // A phase's end replaces its start (same part id).
      expect(message?.parts.filter((part) => part.type === 'data-phase')).toEqual([
        { type: 'data-phase', id: 'phase-retrieve', data: { name: 'retrieve', state: 'end', durationMs: 4 } },
        { type: 'data-phase', id: 'phase-generate', data: { name: 'generate', state: 'end', durationMs: 9 } },
      ]);
      expect(message?.parts.find((part) => part.type === 'data-match')).toEqual({
        type: 'data-match',
        id: 'match',
        data: MATCH,
      });
      // The wait for a provider slot is one part, its last place (0: admitted) replacing the earlier ones.
      expect(message?.parts.filter((part) => part.type === 'data-queued')).toEqual([
        {
          type: 'data-queued',
          id: 'queued',
          data: { provider: 'openai:gpt-test', position: 0, estimatedWaitMs: 0 },
        },
      ]);
      expect(message?.parts.find((part) => part.type === 'data-failover')).toMatchObject({
        data: { from: 'openai', to: 'ollama', reason: 'UPSTREAM_UNAVAILABLE' },
      });
      expect(message?.metadata).toEqual({
        runId: 'run_1',
        conversationId: 'chat_1',
        chatbotId: 'default',
        provider: 'openai',
        model: 'gpt-test',
        usage: { inputTokens: 10, outputTokens: 20 },
        finishReason: 'stop',
        cached: false,
        timings: { ttftMs: 3, totalMs: 12 },
      });
    }
  });

  it('ends a stopped answer with abort (no finish) and keeps its text', async () => {
    const wire = createUiMessageEncoder().encode(
      answer(['Half ', 'an answer'], { ...DONE, finishReason: 'aborted', text: 'Half an answer' }),
    );
    const chunks = wire
      .split('\n\n')
      .filter((frame) => frame.startsWith('data: {'))
      .map((frame) => JSON.parse(frame.slice(6)) as UiMessageChunk);
    expect(chunks.slice(-3).map((chunk) => chunk.type)).toEqual(['text-end', 'message-metadata', 'abort']);
    const { message, errors } = await readBack(wire);
    expect(errors).toEqual([]);
    expect(textOf(message)).toBe('Half an answer');
    expect(message?.metadata).toMatchObject({ finishReason: 'aborted' });
  });

  it('turns a failed run into an error chunk with its code, after closing the text', async () => {
    const wire = createUiMessageEncoder().encode(
      answer(['Partial'], {
        type: 'error',
        code: 'UPSTREAM_TIMEOUT',
        message: 'The model took too long.',
        retryable: true,
      }),
    );
    const { message, errors } = await readBack(wire);
    expect(errors).toEqual(['UPSTREAM_TIMEOUT: The model took too long.']);
    expect(textOf(message)).toBe('Partial');
    expect(message?.parts.find((part) => part.type === 'text')).toMatchObject({ state: 'done' });
  });

  it('writes nothing but chunks for batches, and [DONE] once the run ended', () => {
    const encoder = createUiMessageEncoder();
    const log = answer(['a', 'b'], DONE);
    const wire = log.map((entry) => encoder.encode([entry])).join('');
    expect(wire).toBe(createUiMessageEncoder().encode(log));
    expect(wire.match(/\[DONE\]/g)).toHaveLength(1);
  });

  it('ends a stream whose run cannot be read with an error chunk, unless the run already ended', () => {
    const open = uiMessageStreamFormat.createEncoder({ runId: 'run_1', retryMs: 1000 });
    expect(open.errorFrame(new RivuletError('RUN_NOT_FOUND'))).toMatch(
      /^data: \{"type":"error","errorText":"RUN_NOT_FOUND: /,
    );
    const ended = uiMessageStreamFormat.createEncoder({ runId: 'run_1', retryMs: 1000 });
    ended.encode(answer([], DONE));
    expect(ended.errorFrame(new RivuletError('RUN_NOT_FOUND'))).toBe('');
  });

  it('names a media type from the file extension, octet-stream otherwise', () => {
    expect(mediaTypeOf('a/b/Guide.MD')).toBe('text/markdown');
    expect(mediaTypeOf('notes')).toBe('application/octet-stream');
    expect(mediaTypeOf(undefined)).toBe('application/octet-stream');
  });

  it('covers every run event type', () => {
    const events: RunEvent[] = [
      { type: 'tool-call', seq: 0, toolCallId: 't1', name: 'search', input: { q: 'x' } },
      { type: 'tool-result', seq: 1, toolCallId: 't1', name: 'search', output: { hits: 1 } },
    ];
    const wire = createUiMessageEncoder().encode(
      events.map((event) => ({ event, json: encodeEvent(event) })),
    );
    expect(wire).toContain('"type":"tool-input-available"');
    expect(wire).toContain('"type":"tool-output-available"');
  });
});
