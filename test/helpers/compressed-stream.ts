// A test client for streamed answers that may arrive compressed: it reads the raw bytes off the socket, decompresses
// them as they come (gzip or brotli, by Content-Encoding) and lets a test wait for text to appear or hang up.

import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import type { Transform } from 'node:stream';
import { constants, createBrotliDecompress, createGunzip } from 'node:zlib';

export interface OpenStreamOptions {
  method?: 'GET' | 'POST';
  body?: unknown;
  headers?: Record<string, string>;
}

export interface OpenedStream {
  status: number;
  headers: IncomingHttpHeaders;
  /** Bytes as they came off the wire (compressed, if the response is). */
  readonly wireBytes: number;
  /** The decoded text so far. */
  text(): string;
  /** Resolves with the decoded text once `predicate` holds for it; rejects if the stream ends first. */
  waitFor(predicate: (text: string) => boolean): Promise<string>;
  /** Resolves with the whole decoded text when the server ends the response. */
  readonly ended: Promise<string>;
  /** Closes the connection (a user closing the tab). */
  hangUp(): void;
}

/** A decompressor that hands on what each input chunk decodes to at once, not when more input arrives. */
function decompressorFor(encoding: string | undefined): Transform | undefined {
  if (encoding === 'gzip') return createGunzip({ flush: constants.Z_SYNC_FLUSH });
  if (encoding === 'br') return createBrotliDecompress({ flush: constants.BROTLI_OPERATION_FLUSH });
  return undefined;
}

export function openStream(url: string, options: OpenStreamOptions = {}): Promise<OpenedStream> {
  const body = options.body === undefined ? undefined : JSON.stringify(options.body);
  return new Promise((resolve, reject) => {
    const request = httpRequest(url, {
      method: options.method ?? (body === undefined ? 'GET' : 'POST'),
      headers: {
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...options.headers,
      },
    });
    request.on('error', reject);
    request.on('response', (response) => {
      let text = '';
      let wireBytes = 0;
      let done = false;
      const waiters = new Set<{ predicate: (text: string) => boolean; settle: (error?: Error) => void }>();
      const check = (): void => {
        for (const waiter of waiters) {
          if (waiter.predicate(text)) waiter.settle();
          else if (done) waiter.settle(new Error(`the stream ended without the awaited text; got:\n${text}`));
        }
      };
      const decoder = new TextDecoder();
      const decompressor = decompressorFor(response.headers['content-encoding']);
      const decoded = decompressor ?? response;
      response.on('data', (chunk: Buffer) => {
        wireBytes += chunk.length;
      });
      if (decompressor !== undefined) response.pipe(decompressor);
      decoded.on('data', (chunk: Buffer) => {
        text += decoder.decode(chunk, { stream: true });
        check();
      });
      const ended = new Promise<string>((resolveEnd, rejectEnd) => {
        decoded.on('end', () => {
          text += decoder.decode();
          done = true;
          check();
          resolveEnd(text);
        });
        decoded.on('error', rejectEnd);
        response.on('aborted', () => rejectEnd(new Error('the response was cut off')));
      });
      // A test that only waits for text and hangs up never looks at `ended`.
      ended.catch(() => undefined);
      resolve({
        status: response.statusCode ?? 0,
        headers: response.headers,
        get wireBytes() {
          return wireBytes;
        },
        text: () => text,
        waitFor: (predicate) =>
          new Promise<string>((resolveWait, rejectWait) => {
            const waiter = {
              predicate,
              settle: (error?: Error) => {
                waiters.delete(waiter);
                if (error === undefined) resolveWait(text);
                else rejectWait(error);
              },
            };
            waiters.add(waiter);
            check();
          }),
        ended,
        hangUp: () => {
          done = true;
          request.destroy();
        },
      });
    });
    request.end(body);
  });
}
