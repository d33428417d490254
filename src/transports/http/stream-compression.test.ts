import { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { brotliDecompressSync, constants, gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { StreamCompression, type StreamEncoding } from './stream-compression.ts';

describe('StreamCompression.choose', () => {
  const auto = new StreamCompression('auto');

  it.each([
    ['gzip, deflate, br, zstd', 'gzip'],
    ['br', 'br'],
    ['BR;q=1, GZIP;q=0.5', 'br'],
    ['gzip;q=0.2, br;q=0.8', 'br'],
    ['gzip;q=0, br', 'br'],
    ['*', 'gzip'],
    ['deflate', undefined],
    ['identity', undefined],
    ['', undefined],
    [undefined, undefined],
  ] as const)('auto with Accept-Encoding %j picks %s', (header, expected) => {
    expect(auto.choose(header)).toBe(expected);
  });

  it('reads a header sent twice as one list', () => {
    expect(auto.choose(['deflate', 'br'])).toBe('br');
  });

  it('gzip and br allow only themselves; off allows nothing and does not vary', () => {
    expect(new StreamCompression('gzip').choose('br, gzip')).toBe('gzip');
    expect(new StreamCompression('gzip').choose('br')).toBeUndefined();
    expect(new StreamCompression('br').choose('gzip, br')).toBe('br');
    expect(new StreamCompression('br').choose('gzip')).toBeUndefined();
    const off = new StreamCompression('off');
    expect(off.choose('gzip, br')).toBeUndefined();
    expect(off.varies).toBe(false);
    expect(auto.varies).toBe(true);
  });
});

/** A destination that records each chunk the compressor hands it. */
function recorder(): { sink: Writable; chunks: Buffer[] } {
  const chunks: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(chunk);
      callback();
    },
  });
  return { sink, chunks };
}

const decompress = (encoding: StreamEncoding, data: Buffer): string =>
  (encoding === 'gzip' ? gunzipSync(data) : brotliDecompressSync(data)).toString();

/** Decompresses a stream that has not ended: only what was flushed decodes. */
const decompressSoFar = (encoding: StreamEncoding, data: Buffer): string =>
  (encoding === 'gzip'
    ? gunzipSync(data, { finishFlush: constants.Z_SYNC_FLUSH })
    : brotliDecompressSync(data, { finishFlush: constants.BROTLI_OPERATION_FLUSH })
  ).toString();

describe('StreamCompression.compressInto', () => {
  it.each(['gzip', 'br'] as const)(
    '%s: each write reaches the destination decodable before the next is written',
    async (encoding) => {
      const { sink, chunks } = recorder();
      const compressor = new StreamCompression('auto').compressInto(encoding, sink);
      const frames = ['event: token\ndata: {"text":"Hel"}\n\n', 'event: token\ndata: {"text":"lo"}\n\n'];
      const decoded: string[] = [];
      for (const frame of frames) {
        const before = chunks.length;
        await new Promise<void>((resolve) => compressor.write(frame, () => resolve()));
        expect(chunks.length).toBeGreaterThan(before);
        decoded.push(decompressSoFar(encoding, Buffer.concat(chunks)));
      }
      expect(decoded).toEqual([frames[0], frames.join('')]);
      compressor.end();
      await finished(sink);
      expect(decompress(encoding, Buffer.concat(chunks))).toBe(frames.join(''));
    },
  );

  it('reports each compressor when it closes, also when its destination goes away first', async () => {
    const events: string[] = [];
    const policy = new StreamCompression('auto', {
      compressorOpened: (encoding) => events.push(`open ${encoding}`),
      compressorClosed: (encoding, input, output) => events.push(`close ${encoding} ${input} ${output > 0}`),
    });
    const { sink } = recorder();
    const compressor = policy.compressInto('br', sink);
    await new Promise<void>((resolve) => compressor.write('0123456789', () => resolve()));
    sink.destroy();
    await new Promise((resolve) => compressor.once('close', resolve));
    expect(compressor.destroyed).toBe(true);
    expect(events).toEqual(['open br', 'close br 10 true']);
  });
});
