// What a streaming wire format is: one value per format (SSE, NDJSON, OpenAI chunks, ...) that the HTTP stream writer
// drives without knowing which one it has.

import type { RivuletError } from '../../core/errors.ts';
import { errorEventInput, withSeq, type RunEvent } from '../../core/events.ts';
import type { LogEntry } from '../../core/run-hub.ts';

/**
 * How a client that lost the stream gets the rest of the run:
 * - `last-event-id`: the format carries positions; `parse` reads one back (`undefined`: malformed or another run's);
 * - `from-start`: the format carries no position, so a reconnect replays the run from seq 0;
 * - `elsewhere`: not in this format; the client resumes through `GET /api/runs/:runId/events` with `X-Run-Id`.
 */
export type ResumeRule =
  | { kind: 'last-event-id'; parse(value: string, runId: string): number | undefined }
  | { kind: 'from-start' }
  | { kind: 'elsewhere' };

/** One stream's encoder: it may keep state (an id prefix, whether the terminal event was seen). */
export interface StreamEncoder {
  /** Written with the headers, before any event ('' for nothing: the headers are flushed alone). */
  readonly head: string;
  /** Frames for a batch of log entries, in order ('' when none of them has a frame in this format). */
  encode(entries: readonly LogEntry[]): string;
  /** Sent while the stream is quiet, so proxies with read timeouts do not cut it. */
  readonly keepAlive: string;
  /** The terminal frame of a stream whose run could not be read after streaming began: it never just stops. */
  errorFrame(error: RivuletError): string;
  /** Written after the run's last frame, just before the response ends ('' for nothing). */
  trailer(): string;
}

export interface WireFormat {
  /** A name for logs and metrics: `sse`, `ndjson`, `openai`. */
  readonly name: string;
  readonly contentType: string;
  readonly resume: ResumeRule;
  /** A new encoder for one response streaming `runId`; `retryMs` is the reconnect hint for formats that have one. */
  createEncoder(stream: { runId: string; retryMs: number }): StreamEncoder;
  /** The JSON body of a refusal before any frame (the HTTP status comes from the error's code). */
  refusalBody(error: RivuletError): unknown;
}

/** Our own refusal body, as the server's error handler sends it. */
export function codedRefusalBody(error: RivuletError): unknown {
  return { error: { code: error.code, message: error.message } };
}

/** The terminal `error` event of a stream whose run cannot be read: it has no seq of the run (-1). */
export function unreadableRunError(error: RivuletError): RunEvent {
  return withSeq(errorEventInput(error), -1);
}
