// Reading a provider's streamed body as text (streaming decoder, coded failures) and splitting NDJSON lines.

import { RivuletError } from '../core/errors.ts';
import type { ResponseBody } from './provider-http.ts';
import { errorForNetworkFailure } from './upstream-errors.ts';

/** What one wire format does with the decoded text of a streamed response. */
export interface StreamingBodyHandler {
  /** Decoded text in arrival order; throwing (a RivuletError, ideally) fails the call. */
  feed(text: string): void;
  /** True once the format's terminal marker arrived. */
  isComplete(): boolean;
  /** Called when the body ends, before completeness is judged: a last line may lack its newline. */
  flush?(): void;
  /** The body ended before the terminal marker: a cut stream, or a 2xx that never was a stream. */
  incompleteError(): RivuletError;
}

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
              detail: `stream parse failure: ${String(error)}`,
              cause: error,
            }),
      );
    };
    const succeed = (): void => {
      if (settled) return;
      settled = true;
      resolve();
    };

    // One streaming decoder per response: a character split across TCP chunks is held until it is whole.
    const decoder = new TextDecoder('utf-8');
    body.on('data', (chunk: Buffer) => {
      if (settled) return;
      try {
        handler.feed(decoder.decode(chunk, { stream: true }));
      } catch (error) {
        fail(error);
        return;
      }
      if (handler.isComplete()) succeed();
    });
    body.on('error', (error: Error) => {
      if (settled) return;
      if (signal.aborted) {
        settled = true;
        reject(signal.reason as Error);
        return;
      }
      fail(errorForNetworkFailure(error, true));
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
      if (handler.isComplete()) succeed();
      else fail(handler.incompleteError());
    });
  });
}

export interface LineSplitter {
  feed(text: string): void;
  /** Hands over a last line that had no newline. */
  flush(): void;
}

/**
 * Splits decoded text into lines (LF or CRLF) and calls onLine for each non-empty one. A line longer than
 * maxLineChars is a broken or hostile stream, not a token: it throws UPSTREAM_BAD_RESPONSE rather than buffer on.
 */
export function createLineSplitter(onLine: (line: string) => void, maxLineChars: number): LineSplitter {
  let pending = '';
  const emit = (line: string): void => {
    const trimmed = line.endsWith('\r') ? line.slice(0, -1) : line;
    if (trimmed.trim() !== '') onLine(trimmed);
  };
  return {
    feed(text: string): void {
      let start = 0;
      let newline = text.indexOf('\n');
      if (newline !== -1 && pending !== '') {
        const line = pending + text.slice(0, newline);
        pending = '';
        if (line.length > maxLineChars) throw tooLong(line.length);
        emit(line);
        start = newline + 1;
        newline = text.indexOf('\n', start);
      }
      while (newline !== -1) {
        if (newline - start > maxLineChars) throw tooLong(newline - start);
        emit(text.slice(start, newline));
        start = newline + 1;
        newline = text.indexOf('\n', start);
      }
      pending += text.slice(start);
      if (pending.length > maxLineChars) throw tooLong(pending.length);
    },
    flush(): void {
      const line = pending;
      pending = '';
      emit(line);
    },
  };
}

function tooLong(length: number): RivuletError {
  return new RivuletError('UPSTREAM_BAD_RESPONSE', { detail: `NDJSON line of ${length}+ characters` });
}
