// NDJSON encoder: one run event per line (JSON.stringify never emits a raw line break, so a line is an event).

import { encodeEvent } from '../../core/events.ts';
import type { LogEntry } from '../../core/run-hub.ts';
import { codedRefusalBody, unreadableRunError, type WireFormat } from './wire-format.ts';

export function encodeNdjsonEntry(entry: LogEntry): string {
  return `${entry.json}\n`;
}

export function encodeNdjsonBatch(entries: readonly LogEntry[]): string {
  let out = '';
  for (const entry of entries) out += encodeNdjsonEntry(entry);
  return out;
}

/** NDJSON: one event per line, blank lines as keep-alives (readers skip them); resumed through the SSE endpoint. */
export const ndjsonFormat: WireFormat = {
  name: 'ndjson',
  contentType: 'application/x-ndjson; charset=utf-8',
  resume: { kind: 'elsewhere' },
  createEncoder: () => ({
    head: '',
    encode: encodeNdjsonBatch,
    keepAlive: '\n',
    errorFrame: (error) => `${encodeEvent(unreadableRunError(error))}\n`,
    trailer: () => '',
  }),
  refusalBody: codedRefusalBody,
};
