// The SDK's text/event-stream parser: line endings, fields, comments, and frames cut at any chunk boundary.

import { createParser } from 'eventsource-parser';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createSseParser, type SseFrame } from './sse-parser.ts';

/** Feeds the chunks in order and returns every frame they completed, plus the last retry hint. */
function parse(chunks: readonly string[]): { frames: SseFrame[]; retryMs: number | undefined } {
  const parser = createSseParser();
  const frames = chunks.flatMap((chunk) => parser.push(chunk));
  return { frames, retryMs: parser.retryMs };
}

/** The same stream read by eventsource-parser, a separate spec implementation (it also keeps `id` per frame). */
function parseWithReference(stream: string): { frames: SseFrame[]; retryMs: number | undefined } {
  const frames: SseFrame[] = [];
  let retryMs: number | undefined;
  const parser = createParser({
    onEvent: (event) => frames.push({ event: event.event ?? 'message', data: event.data, id: event.id }),
    onRetry: (ms) => {
      retryMs = ms;
    },
  });
  parser.feed(stream);
  return { frames, retryMs };
}

/** Splits `text` at the given offsets (duplicates give empty chunks, as a decoder may return). */
function splitAt(text: string, offsets: readonly number[]): string[] {
  const points = [...offsets].sort((a, b) => a - b);
  const chunks: string[] = [];
  let start = 0;
  for (const point of points) {
    chunks.push(text.slice(start, point));
    start = point;
  }
  chunks.push(text.slice(start));
  return chunks;
}

const withEndings = (lines: readonly string[], ending: string): string =>
  lines.map((line) => line + ending).join('');

/** What the server sends: a retry hint, then frames with id, event and JSON data. */
const SERVER_LINES = [
  'retry: 1500',
  '',
  'id: run_a:0',
  'event: start',
  'data: {"type":"start","seq":0,"runId":"run_a"}',
  '',
  ': ping',
  '',
  'id: run_a:1',
  'event: token',
  'data: {"type":"token","seq":1,"text":"Héllo 👋"}',
  '',
  'id: run_a:2',
  'event: done',
  'data: {"type":"done","seq":2,"text":"Héllo 👋"}',
  '',
];
const SERVER_FRAMES: SseFrame[] = [
  { event: 'start', id: 'run_a:0', data: '{"type":"start","seq":0,"runId":"run_a"}' },
  { event: 'token', id: 'run_a:1', data: '{"type":"token","seq":1,"text":"Héllo 👋"}' },
  { event: 'done', id: 'run_a:2', data: '{"type":"done","seq":2,"text":"Héllo 👋"}' },
];

describe('createSseParser', () => {
  it.each([
    ['LF', '\n'],
    ['CRLF', '\r\n'],
    ['CR', '\r'],
  ])('reads frames, ids, event names and the retry hint with %s line endings', (_name, ending) => {
    const { frames, retryMs } = parse([withEndings(SERVER_LINES, ending)]);
    expect(frames).toEqual(SERVER_FRAMES);
    expect(retryMs).toBe(1500);
  });

  it('reads a stream that mixes line endings', () => {
    const { frames } = parse(['id: 1\r\nevent: a\rdata: x\n\r\ndata: y\r\r']);
    expect(frames).toEqual([
      { event: 'a', id: '1', data: 'x' },
      { event: 'message', id: undefined, data: 'y' },
    ]);
  });

  it('treats a CRLF split between two chunks as one line ending, not an extra blank line', () => {
    const parser = createSseParser();
    expect(parser.push('data: first\r')).toEqual([]);
    // Were the "\n" a line of its own, it would end the frame here with data "first" alone.
    expect(parser.push('\ndata: second\r')).toEqual([]);
    expect(parser.push('\n\r')).toEqual([{ event: 'message', id: undefined, data: 'first\nsecond' }]);
    expect(parser.push('\n')).toEqual([]);
    expect(parser.push('data: next\n\n')).toEqual([{ event: 'message', id: undefined, data: 'next' }]);
  });

  it('keeps a pending CR across an empty chunk (an empty read, or a decoder holding back half a character)', () => {
    const parser = createSseParser();
    expect(parser.push('data: first\r')).toEqual([]);
    expect(parser.push('')).toEqual([]);
    expect(parser.push('\ndata: second\r\n\r\n')).toEqual([
      { event: 'message', id: undefined, data: 'first\nsecond' },
    ]);
  });

  it('joins multi-line data with LF and strips exactly one space after the colon', () => {
    const { frames } = parse(['data: line one\ndata:line two\ndata:  indented\ndata\ndata: \n\n']);
    expect(frames).toEqual([{ event: 'message', id: undefined, data: 'line one\nline two\n indented\n\n' }]);
  });

  it('ignores comments, including between the fields of a frame, and keep-alive-only streams', () => {
    expect(parse([': ping\n\n: ping\n\n']).frames).toEqual([]);
    expect(parse(['event: token\n: comment\ndata: a\n:\ndata: b\n\n']).frames).toEqual([
      { event: 'token', id: undefined, data: 'a\nb' },
    ]);
  });

  it('parses retry: only when it is all digits, keeping the last valid value', () => {
    const parser = createSseParser();
    expect(parser.retryMs).toBeUndefined();
    parser.push('retry: 3000\n\n');
    expect(parser.retryMs).toBe(3000);
    parser.push('retry: soon\nretry: 12.5\nretry: -1\n\n');
    expect(parser.retryMs).toBe(3000);
    parser.push('retry:250\n\n');
    expect(parser.retryMs).toBe(250);
  });

  it("keeps each frame's own id: a frame without id: has none, an id with NUL is ignored", () => {
    const { frames } = parse(['id: run_x:7\ndata: a\n\ndata: b\n\nid: bad\0id\ndata: c\n\nid:\ndata: d\n\n']);
    expect(frames.map((frame) => frame.id)).toEqual(['run_x:7', undefined, undefined, '']);
  });

  it('dispatches only frames with data, names them "message" by default, and waits for the blank line', () => {
    const parser = createSseParser();
    expect(parser.push('event: lonely\nid: 3\n\n')).toEqual([]);
    expect(parser.push('data: after\n')).toEqual([]);
    expect(parser.push('\n')).toEqual([{ event: 'message', id: undefined, data: 'after' }]);
    expect(parser.push('data: unterminated')).toEqual([]);
    expect(parser.push('\n')).toEqual([]);
    expect(parser.push('\n')).toEqual([{ event: 'message', id: undefined, data: 'unterminated' }]);
  });

  it('ignores unknown fields', () => {
    expect(parse(['foo: bar\nevent: e\nbaz\ndata: d\n\n']).frames).toEqual([
      { event: 'e', id: undefined, data: 'd' },
    ]);
  });

  const lineEnding = fc.constantFrom('\n', '\r\n', '\r');
  const value = fc.string({
    unit: fc.constantFrom('a', 'z', ' ', ':', '0', '7', '{', '"', 'é', '👋', '\0'),
    maxLength: 8,
  });
  const line = fc.oneof(
    value.map((text) => `data: ${text}`),
    value.map((text) => `data:${text}`),
    fc.constant('data'),
    value.map((text) => `event: ${text}`),
    value.map((text) => `id: ${text}`),
    fc.oneof(fc.nat({ max: 99_999 }).map(String), value).map((text) => `retry: ${text}`),
    value.map((text) => `:${text}`),
    value.map((text) => `x${text}`),
    fc.constant(''),
    fc.constant(''),
  );
  const stream = fc
    .array(fc.tuple(line, lineEnding), { maxLength: 40 })
    .map((lines) => lines.map(([text, ending]) => text + ending).join(''));
  const streamAndSplits = stream.chain((text) =>
    fc.tuple(fc.constant(text), fc.array(fc.nat({ max: text.length }), { maxLength: 12 })),
  );

  it('gives the same frames however the stream is cut into chunks (property)', () => {
    fc.assert(
      fc.property(streamAndSplits, ([text, offsets]) => {
        expect(parse(splitAt(text, offsets))).toEqual(parse([text]));
      }),
      { numRuns: 500 },
    );
  });

  it('gives the same frames one character at a time as in one piece (property)', () => {
    fc.assert(
      fc.property(stream, (text) => {
        expect(parse([...text])).toEqual(parse([text]));
      }),
      { numRuns: 200 },
    );
  });

  it('agrees with eventsource-parser on frames and the retry hint (property)', () => {
    fc.assert(
      fc.property(stream, (text) => {
        // A final LF settles a trailing CR, which the reference holds back until it knows no LF follows.
        expect(parse([`${text}\n`])).toEqual(parseWithReference(`${text}\n`));
      }),
      { numRuns: 500 },
    );
  });

  it('reads the server stream cut at every single offset', () => {
    for (const ending of ['\n', '\r\n', '\r']) {
      const text = withEndings(SERVER_LINES, ending);
      for (let offset = 0; offset <= text.length; offset += 1) {
        expect(parse([text.slice(0, offset), text.slice(offset)]).frames).toEqual(SERVER_FRAMES);
      }
    }
  });
});
