import { PassThrough } from 'node:stream';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ResponseBody } from './provider-http.ts';
import { readStreamingBody } from './stream-body.ts';

/** Feeds the chunks to readStreamingBody and returns the text its handler saw. */
async function decodedText(chunks: Buffer[]): Promise<string> {
  const body = new PassThrough();
  let text = '';
  const done = readStreamingBody(body as unknown as ResponseBody, new AbortController().signal, {
    feed: (piece) => {
      text += piece;
    },
    isComplete: () => false,
    wholeAtEnd: () => true,
    incompleteError: () => {
      throw new Error('unreachable');
    },
  });
  for (const chunk of chunks) body.write(chunk);
  body.end();
  await done;
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
  it('decodes any bytes cut anywhere exactly as one decoder reading them whole', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.oneof(
            fc.string({ unit: 'binary' }).map((text) => Buffer.from(`${text}\n`)),
            fc.uint8Array({ maxLength: 12 }).map((bytes) => Buffer.from(bytes)),
          ),
          { maxLength: 6 },
        ),
        fc.array(fc.nat(), { maxLength: 8 }),
        async (parts, points) => {
          const bytes = Buffer.concat(parts);
          expect(await decodedText(cut(bytes, points))).toBe(new TextDecoder().decode(bytes));
        },
      ),
      { numRuns: 2_000 },
    );
  });

  it('holds a character split across chunks, before and after chunks that end in ASCII', async () => {
    const euro = Buffer.from('€');
    const chunks = [
      Buffer.from('data: a\n'),
      Buffer.concat([Buffer.from('data: '), euro.subarray(0, 1)]),
      Buffer.concat([euro.subarray(1), Buffer.from('\n')]),
      Buffer.from([0xff, 0x0a]),
      Buffer.from('data: ☕ z\n'),
    ];
    expect(await decodedText(chunks)).toBe('data: a\ndata: €\n\ufffd\ndata: ☕ z\n');
  });
});
