import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { streamingBody } from './stream-body.ts';

/** Feeds the chunks to a streamed body's reader and returns the text its handler saw. */
function decodedText(chunks: Buffer[]): string {
  let text = '';
  const body = streamingBody({
    feed: (piece) => {
      text += piece;
    },
    isComplete: () => false,
    wholeAtEnd: () => true,
    incompleteError: () => {
      throw new Error('unreachable');
    },
  });
  for (const chunk of chunks) body.data(chunk);
  body.end();
  return text;
}

/** Cuts the bytes at the given points (any byte, inside a character or not). */
function cut(bytes: Buffer, points: number[]): Buffer[] {
  const at = [...new Set(points.map((point) => point % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let start = 0;
  for (const point of at) {
    chunks.push(bytes.subarray(start, point));
    start = point;
  }
  chunks.push(bytes.subarray(start));
  return chunks;
}

describe('readStreamingBody decoding', () => {
  it('decodes any bytes cut anywhere exactly as one decoder reading them whole', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.string({ unit: 'binary' }).map((text) => Buffer.from(`${text}\n`)),
            fc.uint8Array({ maxLength: 12 }).map((bytes) => Buffer.from(bytes)),
            // Byte order marks: dropped at the start of the stream only, kept as text anywhere else.
            fc.constant(Buffer.from([0xef, 0xbb, 0xbf])),
          ),
          { maxLength: 6 },
        ),
        fc.array(fc.nat(), { maxLength: 8 }),
        (parts, points) => {
          const bytes = Buffer.concat(parts);
          expect(decodedText(cut(bytes, points))).toBe(new TextDecoder().decode(bytes));
        },
      ),
      { numRuns: 2_000 },
    );
  });

  it('holds a character split across chunks, before and after chunks that end in ASCII', () => {
    const euro = Buffer.from('€');
    const chunks = [
      Buffer.from('data: a\n'),
      Buffer.concat([Buffer.from('data: '), euro.subarray(0, 1)]),
      Buffer.concat([euro.subarray(1), Buffer.from('\n')]),
      Buffer.from([0xff, 0x0a]),
      Buffer.from('data: ☕ z\n'),
    ];
    expect(decodedText(chunks)).toBe('data: a\ndata: €\n\ufffd\ndata: ☕ z\n');
  });

  it('drops the byte order mark a stream starts with and keeps one in the text, however the chunks fall', () => {
    const bom = Buffer.from([0xef, 0xbb, 0xbf]);
    expect(decodedText([Buffer.concat([bom, Buffer.from('data: 1\n')])])).toBe('data: 1\n');
    expect(
      decodedText([bom.subarray(0, 2), Buffer.concat([bom.subarray(2), Buffer.from('data: 1\n')])]),
    ).toBe('data: 1\n');
    // After an ASCII chunk, a chunk starting with U+FEFF is text: the first one the decoder sees is not the stream's start.
    expect(decodedText([Buffer.from('data: a\n'), Buffer.concat([bom, Buffer.from('é\n')])])).toBe(
      'data: a\n\ufeffé\n',
    );
  });
});
