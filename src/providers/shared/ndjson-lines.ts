// Splits a provider's decoded NDJSON stream into lines, with a line-length limit.

import { RivuletError } from '../../core/errors.ts';

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
