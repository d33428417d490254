// Random bytes drawn in bulk, and the time-ordered UUIDs conversations and messages are named by.

import { randomBytes } from 'node:crypto';

/** How many bytes one draw of the pool takes (as crypto.randomUUID caches its own). */
const POOL_BYTES = 4096;

/**
 * Random bytes for ids, drawn POOL_BYTES at a time: a synchronous randomBytes(16) per id cost more than the id was
 * worth. Every byte is handed out once.
 */
const pool = { bytes: Buffer.alloc(0), offset: 0 };

/** The offset of `count` fresh random bytes in the returned buffer (valid until the next call). */
export function takeRandomBytes(count: number): { bytes: Buffer; offset: number } {
  if (pool.offset + count > pool.bytes.length) {
    pool.bytes = randomBytes(Math.max(POOL_BYTES, count));
    pool.offset = 0;
  }
  const offset = pool.offset;
  pool.offset += count;
  return { bytes: pool.bytes, offset };
}

const HEX = Array.from({ length: 256 }, (_, byte) => byte.toString(16).padStart(2, '0'));

/** The last timestamp and counter handed out: ids of one millisecond count up, and a clock set back never reorders. */
const clock = { ms: 0, counter: 0 };
/** rand_a holds a 12-bit counter; it starts at a random value below this, so the rest of the millisecond has room. */
const COUNTER_START_MAX = 0x800;
const COUNTER_MAX = 0xfff;

/**
 * A UUID version 7 (RFC 9562): the Unix time in milliseconds, then a counter (method 1 of section 6.2) and 62
 * random bits. Ids made later sort later as strings, in this process, even within one millisecond and when the clock
 * is set back: a new row's id lands at the end of its B-tree index instead of on a random page (SQLite writes one page
 * fewer to the WAL per answer and stays in cache as the table grows; PostgreSQL's indexes likewise). 62 random bits
 * keep ids unguessable enough for names; run ids, which work as capabilities, stay fully random (newRunId).
 */
export function timeOrderedUuid(): string {
  const now = Date.now();
  const random = takeRandomBytes(10);
  const bytes = random.bytes;
  const at = random.offset;
  if (now > clock.ms) {
    clock.ms = now;
    clock.counter = (bytes[at]! | (bytes[at + 1]! << 8)) % COUNTER_START_MAX;
  } else if (clock.counter < COUNTER_MAX) {
    clock.counter += 1;
  } else {
    // 2,048 or more ids in one millisecond: borrow the next one.
    clock.ms += 1;
    clock.counter = 0;
  }
  const ms = clock.ms;
  const counter = clock.counter;
  const high = Math.floor(ms / 0x1000000);
  const low = ms % 0x1000000;
  return (
    HEX[(high >>> 16) & 0xff]! +
    HEX[(high >>> 8) & 0xff]! +
    HEX[high & 0xff]! +
    HEX[(low >>> 16) & 0xff]! +
    '-' +
    HEX[(low >>> 8) & 0xff]! +
    HEX[low & 0xff]! +
    '-' +
    HEX[0x70 | (counter >>> 8)]! +
    HEX[counter & 0xff]! +
    '-' +
    HEX[0x80 | (bytes[at + 2]! & 0x3f)]! +
    HEX[bytes[at + 3]!]! +
    '-' +
    HEX[bytes[at + 4]!]! +
    HEX[bytes[at + 5]!]! +
    HEX[bytes[at + 6]!]! +
    HEX[bytes[at + 7]!]! +
    HEX[bytes[at + 8]!]! +
    HEX[bytes[at + 9]!]!
  );
}
