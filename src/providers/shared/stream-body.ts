// Reads a provider's streamed response body as text: one streaming UTF-8 decoder, coded failures, early completion.

import { createParser, type EventSourceMessage, type EventSourceParser } from 'eventsource-parser';
import { RivuletError } from '../../core/errors.ts';
import { callProvider, type BodyReader, type ProviderRequest } from './provider-http.ts';
import { upstreamExcerpt } from '../../core/redact.ts';

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
 * Calls a provider and feeds its streamed 2xx body to a format handler. Resolves as soon as the answer is complete,
 * so a server or proxy that keeps the response open cannot delay it; rejects with a coded error, or with the signal's
 * reason on abort.
 */
export function streamFromProvider(request: ProviderRequest, handler: StreamingBodyHandler): Promise<void> {
  return callProvider(request, streamingBody(handler));
}

/** A handler's failure as a coded error: what is not a RivuletError is a stream the format could not read. */
function parseFailure(error: unknown): RivuletError {
  return error instanceof RivuletError
    ? error
    : new RivuletError('UPSTREAM_BAD_RESPONSE', {
        detail: `stream parse failure: ${upstreamExcerpt(String(error), 500)}`,
        cause: error,
      });
}

/** Decodes a streamed body's chunks to text for a format handler (exported for its tests). */
export function streamingBody(handler: StreamingBodyHandler): BodyReader<void> {
  // One streaming decoder per response: a character split across TCP chunks is held until it is whole. A chunk
  // after one that ended in an ASCII byte (nothing of a character can be pending then) and ending in one itself
  // (an SSE or NDJSON chunk ends in a newline) is decoded whole, at about half the decoder's cost; the output is
  // the same, replacement characters for invalid bytes included.
  // Neither keeps track of where the stream starts, so the decoder keeps a byte order mark as Buffer.toString does,
  // and the one a stream may start with is dropped here, as SSE and a decoder reading from the start drop it.
  const decoder = new TextDecoder('utf-8', { ignoreBOM: true });
  let pending = false;
  let atStart = true;
  const whole = (): boolean => handler.wholeAtEnd?.() ?? handler.isComplete();
  return {
    data(chunk) {
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
        throw parseFailure(error);
      }
      return handler.isComplete();
    },
    end() {
      try {
        handler.feed(decoder.decode());
        handler.flush?.();
      } catch (error) {
        throw parseFailure(error);
      }
      // Never let a half answer look complete.
      if (!whole()) throw handler.incompleteError();
    },
    broken(error) {
      // The answer was whole before the socket broke: losing the trailing bytes loses nothing.
      if (!whole()) throw error;
    },
  };
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
