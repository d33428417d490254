// Why an export or import was refused, in words a person can act on; the CLI prints the message without a stack.

export type TransferFailure =
  /** The file is from a newer format version, or is not an export file at all. */
  | 'unsupported'
  /** A line is not JSON, not a known record, out of order, or the file ends early. */
  | 'malformed'
  /** The installation to import into already holds data. */
  | 'not-empty'
  /** The records do not fit together (a chunk of an unknown document, a vector of the wrong length, ...). */
  | 'inconsistent'
  /** The export file exists already, or the source cannot be read completely. */
  | 'refused';

export class TransferError extends Error {
  readonly failure: TransferFailure;

  constructor(failure: TransferFailure, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TransferError';
    this.failure = failure;
  }
}
