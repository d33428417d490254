// Native SSE encoder: one frame per run event, `id: <runId>:<seq>`, multi-line data split per the spec.

import { encodeEvent, RUN_EVENT_TYPES } from '../../core/events.ts';
import type { LogEntry } from '../../core/run-hub.ts';
import type { RivuletError } from '../../core/errors.ts';
import { codedRefusalBody, unreadableRunError, type StreamEncoder, type WireFormat } from './wire-format.ts';

export interface SseFrame {
  id?: string;
  event?: string;
  data: string;
  retry?: number;
}

const LINE_BREAK = /\r\n|\r|\n/;

/** Encodes one SSE frame. CR or LF in `id` or `event` would forge fields, so they are refused. */
export function formatSseFrame(frame: SseFrame): string {
  let out = '';
  if (frame.id !== undefined) out += `id: ${singleLine('id', frame.id)}\n`;
  if (frame.event !== undefined) out += `event: ${singleLine('event', frame.event)}\n`;
  if (frame.retry !== undefined) out += `retry: ${Math.max(0, Math.floor(frame.retry))}\n`;
  // JSON never holds a raw line break, so the common case is one data line; other data is split.
  if (LINE_BREAK.test(frame.data)) {
    for (const line of frame.data.split(LINE_BREAK)) out += `data: ${line}\n`;
  } else {
    out += `data: ${frame.data}\n`;
  }
  return `${out}\n`;
}

/** A retry hint alone, sent first so EventSource clients reconnect at our pace. */
export function formatSseRetry(retryMs: number): string {
  return `retry: ${Math.max(0, Math.floor(retryMs))}\n\n`;
}

/** A comment line: ignored by clients, keeps proxies from closing an idle stream. */
export function formatSseComment(text: string): string {
  return `: ${text.replace(/[\r\n]+/g, ' ')}\n\n`;
}

/** `event:` and `data:` lines per event type, built once: event types are a fixed set without line breaks. */
const EVENT_LINES = new Map<string, string>(
  RUN_EVENT_TYPES.map((type) => [type, `\nevent: ${type}\ndata: `]),
);

/** The keep-alive comment every SSE stream sends. */
const PING = formatSseComment('ping');

/**
 * An encoder for one run's frames, with the `id:` prefix checked and built once. Entry JSON comes from
 * `encodeEvent` (JSON.stringify escapes every line break), so each frame is the three lines of `formatSseFrame`
 * without a per-frame scan; the round-trip tests hold both to the same output. A class: a held stream keeps its prefix
 * and retry hint, not a closure and its context per method.
 */
class SseEncoder implements StreamEncoder {
  readonly head: string;
  readonly keepAlive = PING;
  readonly #idPrefix: string;

  constructor(runId: string, retryMs: number) {
    this.#idPrefix = `id: ${singleLine('id', runId)}:`;
    this.head = formatSseRetry(retryMs);
  }

  encode(entries: readonly LogEntry[]): string {
    const idPrefix = this.#idPrefix;
    let out = '';
    for (const entry of entries) {
      out += `${idPrefix}${entry.event.seq}${EVENT_LINES.get(entry.event.type)}${entry.json}\n\n`;
    }
    return out;
  }

  /** Without a seq of the run the frame carries no id, so a client's Last-Event-ID stays where it was. */
  errorFrame(error: RivuletError): string {
    return formatSseFrame({ event: 'error', data: encodeEvent(unreadableRunError(error)) });
  }

  trailer(): string {
    return '';
  }
}

export function encodeSseBatch(runId: string, entries: readonly LogEntry[]): string {
  return new SseEncoder(runId, 0).encode(entries);
}

/**
 * Reads a Last-Event-ID ("<runId>:<seq>" or a bare seq) into the seq to resume after.
 * Returns undefined when it is malformed or names another run.
 */
export function parseLastEventId(value: string, runId: string): number | undefined {
  const trimmed = value.trim();
  const separator = trimmed.lastIndexOf(':');
  const idRun = separator === -1 ? runId : trimmed.slice(0, separator);
  const seqText = separator === -1 ? trimmed : trimmed.slice(separator + 1);
  if (idRun !== runId || !/^\d{1,9}$/.test(seqText)) return undefined;
  return Number(seqText);
}

/**
 * Native SSE: a retry hint first, one frame per event with `id: <runId>:<seq>`, `: ping` comments as keep-alives, and
 * resume by Last-Event-ID.
 */
export const sseFormat: WireFormat = {
  name: 'sse',
  contentType: 'text/event-stream; charset=utf-8',
  resume: { kind: 'last-event-id', parse: parseLastEventId },
  createEncoder: ({ runId, retryMs }) => new SseEncoder(runId, retryMs),
  refusalBody: codedRefusalBody,
};

function singleLine(field: string, value: string): string {
  if (/[\r\n]/.test(value)) throw new Error(`SSE ${field} must not contain CR or LF`);
  return value;
}
