// Compressed streams: which encoding a streamed answer gets (STREAM_COMPRESSION and the client's Accept-Encoding),
// and gzip or brotli compressors that flush every write, so a frame never waits inside the compressor.

import { negotiate } from '@fastify/accept-negotiator';
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { constants, createBrotliCompress, createGzip } from 'node:zlib';
import type { StreamCompressionSetting } from '../../config.ts';

export type StreamEncoding = 'gzip' | 'br';

/**
 * The encodings each setting allows, in the server's order of preference when the client likes them equally: gzip
 * first, because on token frames it saves as much as brotli at this quality for less memory per stream (bench
 * `--compression`, docs/operations.md).
 */
const ALLOWED: Record<StreamCompressionSetting, readonly StreamEncoding[]> = {
  off: [],
  gzip: ['gzip'],
  br: ['br'],
  auto: ['gzip', 'br'],
};

/**
 * Every write is compressed with a sync flush (`flush` is the flag each write gets), so its frame leaves complete
 * and decodable at once. An 8 KB window and memLevel 6 compress token frames as well as zlib's defaults (their
 * repeats are a frame or two apart) in about 150 KB per stream instead of 250 KB.
 */
const GZIP_OPTIONS = { level: 6, windowBits: 13, memLevel: 6, flush: constants.Z_SYNC_FLUSH };

/**
 * Quality 5 and a 64 KB window: brotli's default (quality 11, 4 MB window) costs over 300 µs of CPU per token for
 * no gain on small flushed frames; below quality 5 brotli saves less than gzip.
 */
const BROTLI_OPTIONS = {
  flush: constants.BROTLI_OPERATION_FLUSH,
  params: {
    [constants.BROTLI_PARAM_QUALITY]: 5,
    [constants.BROTLI_PARAM_LGWIN]: 16,
    [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_TEXT,
  },
};

/** What the metrics learn about compressed streams. */
export interface StreamCompressionObserver {
  compressorOpened(encoding: StreamEncoding): void;
  /** When its stream ended or was cut: bytes the encoder wrote into it, bytes it put on the wire. */
  compressorClosed(encoding: StreamEncoding, inputBytes: number, outputBytes: number): void;
}

export class StreamCompression {
  private readonly allowed: readonly StreamEncoding[];
  private readonly observer: StreamCompressionObserver | undefined;

  constructor(setting: StreamCompressionSetting, observer?: StreamCompressionObserver) {
    this.allowed = ALLOWED[setting];
    this.observer = observer;
  }

  /** Whether a streamed answer depends on Accept-Encoding (then it says so in `Vary`, for caches). */
  get varies(): boolean {
    return this.allowed.length > 0;
  }

  /** The encoding for a client that sent this Accept-Encoding; undefined: identity. */
  choose(acceptEncoding: string | string[] | undefined): StreamEncoding | undefined {
    if (this.allowed.length === 0 || acceptEncoding === undefined) return undefined;
    const header = (Array.isArray(acceptEncoding) ? acceptEncoding.join(',') : acceptEncoding).toLowerCase();
    const chosen = negotiate(header, [...this.allowed]);
    return chosen === 'gzip' || chosen === 'br' ? chosen : undefined;
  }

  /**
   * A compressor writing into `destination` (a response), which ends when it ends. The destination closing first
   * (the client went away, a stalled reader dropped) destroys the compressor, which frees its zlib memory at once.
   */
  compressInto(encoding: StreamEncoding, destination: Writable): Writable {
    const compressor = encoding === 'gzip' ? createGzip(GZIP_OPTIONS) : createBrotliCompress(BROTLI_OPTIONS);
    const observer = this.observer;
    if (observer !== undefined) {
      observer.compressorOpened(encoding);
      let outputBytes = 0;
      // Added in the same turn as the pipe below, so it sees every chunk the destination gets.
      compressor.on('data', (chunk: Buffer) => {
        outputBytes += chunk.length;
      });
      compressor.once('close', () => {
        observer.compressorClosed(encoding, compressor.bytesWritten, outputBytes);
      });
    }
    // A premature close is how a client's disconnect looks here: the stream's own close handling reports it.
    pipeline(compressor, destination).catch(() => undefined);
    return compressor;
  }
}
