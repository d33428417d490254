// Reads a provider's streamed response body as text: one streaming UTF-8 decoder, coded failures, early completion.

import { createParser, type EventSourceMessage, type EventSourceParser } from 'eventsource-parser';
import { RivuletError } from '../../core/errors.ts';
import type { ResponseBody } from './provider-http.ts';
import { upstreamExcerpt } from '../../core/redact.ts';
import { errorForNetworkFailure } from './upstream-errors.ts';

/** What one wire format does with the decoded text of a streamed response. */
export interface StreamingBodyHandler {
  /** Decoded text in arrival order; throwing (a RivuletError, ideally) fails the call. */
  feed(text: string): void;
  /** True once the format's terminal marker arrived: the call resolves at once. */
  isComplete(): boolean;
  /**
   * When the body ends (or its socket breaks) before the marker: is the answer whole anyway? Defaults to
   * isComplete. (Some OpenAI-compatible servers send a finish reason but never `[DONE]`.)
   */
  wholeAtEnd?(): boolean;
  /** Called when the body ends, before completeness is judged: a last line may lack its newline. */
  flush?(): void;
  /** The body ended before the terminal marker: a cut stream, or a 2xx that never was a stream. */
  incompleteError(): RivuletError;
}

const BYTE_ORDER_MARK = 0xfeff;

/** The decoder's options for every chunk but the last (one object, not one per chunk). */
const STREAMING: TextDecodeOptions = { stream: true };

/**
 * Feeds a response body to a format handler. Resolves as soon as the answer is complete, so a server or proxy
 * that keeps the response open cannot delay it; rejects with a coded error, or with the signal's reason on abort.
 */
export function readStreamingBody(
  body: ResponseBody,
  signal: AbortSignal,
  handler: StreamingBodyHandler,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let settled = false;

    const fail = (error: unknown): void => {
      if (settled) return;
      settled = true;
      body.destroy();
      reject(
        error instanceof RivuletError
          ? error
          : new RivuletError('UPSTREAM_BAD_RESPONSE', {
              detail: `stream parse failure: ${upstreamExcerpt(String(error), 500)}`,
              cause: error,
            }),
      );
    };
    const succeed = (): void => {
      if (settled) return;
      settled = true;
      resolve();
    };

    // One streaming decoder per response: a character split across TCP chunks is held until it is whole. A chunk
    // after one that ended in an ASCII byte (nothing of a character can be pending then) and ending in one itself
    // (an SSE or NDJSON chunk ends in a newline) is decoded whole, at about half the decoder's cost; the output is
    // the same, replacement characters for invalid bytes included.
    // Neither keeps track of where the stream starts, so the decoder keeps a byte order mark as Buffer.toString does,
    // and the one a stream may start with is dropped here, as SSE and a decoder reading from the start drop it.
    const decoder = new TextDecoder('utf-8', { ignoreBOM: true });
    let pending = false;
    let atStart = true;
    body.on('data', (chunk: Buffer) => {
      if (settled) return;
      try {
        const endsInAscii = chunk.length > 0 && chunk[chunk.length - 1]! < 0x80;
        let text = !pending && endsInAscii ? chunk.toString('utf8') : decoder.decode(chunk, STREAMING);
        pending = !endsInAscii;
        if (atStart && text.length > 0) {
          atStart = false;
          if (text.charCodeAt(0) === BYTE_ORDER_MARK) text = text.slice(1);
        }
        handler.feed(text);
      } catch (error) {
        fail(error);
        return;
      }
      if (handler.isComplete()) succeed();
    });
    const whole = (): boolean => handler.wholeAtEnd?.() ?? handler.isComplete();
    body.on('error', (error: Error) => {
      if (settled) return;
      if (signal.aborted) {
        settled = true;
        reject(signal.reason as Error);
        return;
      }
      // The answer was whole before the socket broke: losing the trailing bytes loses nothing.
      if (whole()) succeed();
      else fail(errorForNetworkFailure(error, true));
    });
    body.on('end', () => {
      if (settled) return;
      try {
        handler.feed(decoder.decode());
        handler.flush?.();
      } catch (error) {
        fail(error);
        return;
      }
      // Never let a half answer look complete.
      if (whole()) succeed();
      else fail(handler.incompleteError());
    });
  });
}

/** An upstream SSE event larger than this is a broken or hostile stream, not a token. */
const MAX_EVENT_BYTES = 1024 * 1024;

/** An SSE parser for a provider's stream: a malformed stream or an oversized event is UPSTREAM_BAD_RESPONSE. */
export function upstreamSseParser(onEvent: (event: EventSourceMessage) => void): EventSourceParser {
  return createParser({
    onEvent,
    onError: (error) => {
      throw new RivuletError('UPSTREAM_BAD_RESPONSE', {
        detail: `SSE parse error: ${upstreamExcerpt(error.message)}`,
      });
    },
    maxBufferSize: MAX_EVENT_BYTES,
  });
}
