// A finished run's log in a compact form for the rest of its retention: each stretch of consecutive tokens is one
// string and the offsets where its tokens end, instead of an event, an entry and a JSON string per token (about
// 150 bytes a token against 4 plus the text). Reading it from any seq gives what a reader that fell behind gets
// from the full log: tokens merged into one event carrying the last seq it covers, the other events as they were.

import { encodeEvent, type RunEvent } from '../../core/events.ts';
import { MAX_MERGED_TOKEN_CHARS } from '../../core/merge-tokens.ts';
import type { LogEntry } from '../../core/run-hub.ts';
import { ReencodedEntry } from './reencoded-entry.ts';

/** Consecutive tokens: their text joined, and where each one's text ends in it. */
interface TokenSpan {
  readonly firstSeq: number;
  readonly lastSeq: number;
  readonly text: string;
  /** ends[i]: the length of the text up to and including token firstSeq + i. */
  readonly ends: Uint32Array;
}

/**
 * Any other event, kept as its JSON alone and parsed again for each replay that reaches it (replays are rare, and a
 * parsed copy kept would hold the event objects again for the rest of the retention: the `done` event holds the
 * answer's text, `sources` every snippet besides their JSON).
 */
class StoredEntry {
  readonly seq: number;
  readonly json: string;

  constructor(entry: LogEntry) {
    this.seq = entry.event.seq;
    this.json = entry.json;
  }

  /** The entry for one delivery. */
  read(): LogEntry {
    return { event: JSON.parse(this.json) as RunEvent, json: this.json };
  }
}

/** A ReencodedEntry stays as it is: its event costs less than its JSON, which it makes again for each replay. */
type Item = StoredEntry | ReencodedEntry | TokenSpan;

const lastSeqOf = (item: Item): number =>
  item instanceof StoredEntry ? item.seq : item instanceof ReencodedEntry ? item.event.seq : item.lastSeq;

export interface CompactRead {
  entries: LogEntry[];
  /** The seq after the last one read. */
  next: number;
  /** Some of the entries are tokens merged together. */
  merged: boolean;
}

export class CompactLog {
  readonly #items: Item[] = [];

  /** `entries`: a log from seq 0, in order and without gaps (more can be appended). */
  constructor(entries: readonly LogEntry[]) {
    this.append(entries);
  }

  /**
   * Adds the entries that follow the last one held, in order and without gaps. A stretch of tokens cut between two
   * appends is two stretches: a reader replaying across the cut gets them as two merged tokens.
   */
  append(entries: readonly LogEntry[]): void {
    let pieces: LogEntry[] = [];
    let chars = 0;
    const flush = (): void => {
      if (pieces.length === 1) this.#items.push(new StoredEntry(pieces[0]!));
      else if (pieces.length > 1) this.#items.push(span(pieces));
      pieces = [];
      chars = 0;
    };
    for (const entry of entries) {
      const event = entry.event;
      if (event.type !== 'token') {
        flush();
        this.#items.push(entry instanceof ReencodedEntry ? entry : new StoredEntry(entry));
        continue;
      }
      if (chars + event.text.length > MAX_MERGED_TOKEN_CHARS) flush();
      pieces.push(entry);
      chars += event.text.length;
    }
    flush();
  }

  /** Up to `maxItems` entries from seq `from` on; a stretch of tokens that `from` falls inside starts at `from`. */
  read(from: number, maxItems: number): CompactRead {
    const items = this.#items;
    const entries: LogEntry[] = [];
    let merged = false;
    let next = from;
    for (let index = this.#indexOf(from); index < items.length && entries.length < maxItems; index += 1) {
      const item = items[index]!;
      if (item instanceof StoredEntry) {
        entries.push(item.read());
        next = item.seq + 1;
        continue;
      }
      if (item instanceof ReencodedEntry) {
        entries.push(item);
        next = item.event.seq + 1;
        continue;
      }
      const skipped = next - item.firstSeq;
      const text = skipped === 0 ? item.text : item.text.slice(item.ends[skipped - 1]);
      const event = { type: 'token' as const, seq: item.lastSeq, text };
      entries.push({ event, json: encodeEvent(event) });
      merged ||= item.lastSeq > next;
      next = item.lastSeq + 1;
    }
    return { entries, next, merged };
  }

  /** The first item holding seq `seq` or a later one. */
  #indexOf(seq: number): number {
    let low = 0;
    let high = this.#items.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (lastSeqOf(this.#items[middle]!) < seq) low = middle + 1;
      else high = middle;
    }
    return low;
  }
}

function span(pieces: readonly LogEntry[]): TokenSpan {
  const ends = new Uint32Array(pieces.length);
  const texts: string[] = [];
  let length = 0;
  pieces.forEach((piece, index) => {
    const text = piece.event.type === 'token' ? piece.event.text : '';
    texts.push(text);
    length += text.length;
    ends[index] = length;
  });
  return {
    firstSeq: pieces[0]!.event.seq,
    lastSeq: pieces.at(-1)!.event.seq,
    text: texts.join(''),
    ends,
  };
}
