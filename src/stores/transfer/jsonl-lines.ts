// Lines of a JSON-lines file, read as a stream with their numbers: memory holds one read chunk and one line, never
// the file. Lines are split on the byte 0x0A (it never occurs inside a UTF-8 sequence) and decoded strictly, so a
// character split across read chunks survives and invalid UTF-8 is refused with its line number.

import { TransferError } from './transfer-error.ts';

export interface NumberedLine {
  /** 1-based. */
  number: number;
  text: string;
  /** False for a last line the file ends without a newline after. */
  terminated: boolean;
}

/** Longest line accepted: far above any record (a chunk of text, a vector of 8,192 floats), far below memory. */
export const MAX_LINE_BYTES = 64 * 1024 * 1024;

const NEWLINE = 0x0a;

export async function* numberedLines(
  chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  maxLineBytes = MAX_LINE_BYTES,
): AsyncGenerator<NumberedLine> {
  const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });
  let pending: Uint8Array[] = [];
  let pendingBytes = 0;
  let number = 0;
  const decode = (parts: Uint8Array[]): string => {
    try {
      return decoder.decode(parts.length === 1 ? parts[0] : Buffer.concat(parts));
    } catch {
      throw new TransferError('malformed', `line ${number}: not valid UTF-8 text`);
    }
  };
  for await (const chunk of chunks) {
    let start = 0;
    for (let end = chunk.indexOf(NEWLINE); end !== -1; end = chunk.indexOf(NEWLINE, start)) {
      number += 1;
      if (pendingBytes + end - start > maxLineBytes) throw tooLong(number, maxLineBytes);
      pending.push(chunk.subarray(start, end));
      yield { number, text: decode(pending), terminated: true };
      pending = [];
      pendingBytes = 0;
      start = end + 1;
    }
    if (start < chunk.length) {
      pendingBytes += chunk.length - start;
      if (pendingBytes > maxLineBytes) throw tooLong(number + 1, maxLineBytes);
      // Copied: a stream may reuse its buffer for the next chunk.
      pending.push(Uint8Array.prototype.slice.call(chunk, start));
    }
  }
  if (pendingBytes > 0) {
    number += 1;
    yield { number, text: decode(pending), terminated: false };
  }
}

function tooLong(line: number, maxLineBytes: number): TransferError {
  return new TransferError(
    'malformed',
    `line ${line}: longer than ${maxLineBytes / 1024 / 1024} MB, which no record is (is this an export file?)`,
  );
}
