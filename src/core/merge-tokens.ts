// Merges consecutive token entries for a reader that fell behind, so a busy connection needs fewer frames.

import { encodeEvent } from './events.ts';
import type { LogEntry } from './run-hub.ts';

/** A merged token frame never grows past this many UTF-16 units, so one frame stays a sane size. */
export const MAX_MERGED_TOKEN_CHARS = 64 * 1024;

/**
 * Returns the entries with each run of consecutive `token` events folded into one token whose seq is the
 * last seq it covers. Other events pass through untouched and keep their position.
 */
export function mergeTokens(entries: readonly LogEntry[]): LogEntry[] {
  const merged: LogEntry[] = [];
  let pending: string[] = [];
  let pendingChars = 0;
  let lastToken: LogEntry | undefined;

  const flush = (): void => {
    if (lastToken === undefined) return;
    if (pending.length === 1) {
      merged.push(lastToken);
    } else {
      const event = { type: 'token' as const, seq: lastToken.event.seq, text: pending.join('') };
      merged.push({ event, json: encodeEvent(event) });
    }
    pending = [];
    pendingChars = 0;
    lastToken = undefined;
  };

  for (const entry of entries) {
    if (entry.event.type !== 'token') {
      flush();
      merged.push(entry);
      continue;
    }
    if (pendingChars + entry.event.text.length > MAX_MERGED_TOKEN_CHARS) flush();
    pending.push(entry.event.text);
    pendingChars += entry.event.text.length;
    lastToken = entry;
  }
  flush();
  return merged;
}
