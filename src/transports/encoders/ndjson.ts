// NDJSON encoder: one run event per line (JSON.stringify never emits a raw line break, so a line is an event).

import type { LogEntry } from '../../core/run-hub.ts';

export function encodeNdjsonEntry(entry: LogEntry): string {
  return `${entry.json}\n`;
}

export function encodeNdjsonBatch(entries: readonly LogEntry[]): string {
  let out = '';
  for (const entry of entries) out += encodeNdjsonEntry(entry);
  return out;
}
