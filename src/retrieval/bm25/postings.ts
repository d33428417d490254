// The postings codec shared by every store's lexical index: how a chunk's occurrences of a term are packed, and
// how postings are grouped into blocks.
//
// A posting is 10 bytes, little-endian: u48 rowid | u16 chunk length | u8 title frequency | u8 text frequency.
// A term's postings are kept in blocks of at most POSTING_BLOCK_CAPACITY postings in ascending rowid order. A
// block is keyed by an upper bound of its rowids (`bound`); a rowid belongs to the block with the smallest bound
// >= it. Each term's last block is open-ended (OPEN_BLOCK_BOUND) and takes appends until it is full.

import { Buffer } from 'node:buffer';

export const POSTING_BYTES = 10;
/** The largest rowid a posting holds (u48). */
export const MAX_POSTING_ROWID = 2 ** 48 - 1;
/** Postings per block: a common term at 100k chunks is a few hundred rows, and a block stays within a page. */
export const POSTING_BLOCK_CAPACITY = 256;
/** The bound of each term's open-ended last block: above every rowid. */
export const OPEN_BLOCK_BOUND = 2 ** 52;
/** Pending chunks of a collection that trigger a merge into the postings. Queries scan at most this many. */
export const MERGE_PENDING_AT = 128;

/** A block of packed postings as stored: `count` postings in `data`. */
export interface PostingBlock {
  count: number;
  data: Uint8Array;
}

export function encodePosting(rowid: number, length: number, title: number, text: number): Uint8Array {
  const posting = Buffer.alloc(POSTING_BYTES);
  posting.writeUIntLE(rowid, 0, 6);
  posting.writeUInt16LE(Math.min(length, 0xffff), 6);
  posting[8] = Math.min(title, 0xff);
  posting[9] = Math.min(text, 0xff);
  return posting;
}

export function postingRowid(posting: Uint8Array): number {
  return Buffer.from(posting.buffer, posting.byteOffset, POSTING_BYTES).readUIntLE(0, 6);
}

/** The postings of a block, as views into its data. */
export function splitPostings({ count, data }: PostingBlock): Uint8Array[] {
  const postings: Uint8Array[] = [];
  for (let i = 0; i < count; i += 1) postings.push(data.subarray(i * POSTING_BYTES, (i + 1) * POSTING_BYTES));
  return postings;
}

/** Postings packed into one block's data. */
export function joinPostings(postings: readonly Uint8Array[]): Uint8Array {
  return Buffer.concat(postings);
}

/**
 * A block's postings with `posting` put in rowid order (replacing one of the same rowid), as one block, or two
 * when they overflow: the lower half then becomes a block bounded by its last rowid, the upper half keeps the
 * block's bound.
 */
export function insertPosting(
  block: PostingBlock & { bound: number },
  posting: Uint8Array,
): { bound: number; postings: Uint8Array[] }[] {
  const rowid = postingRowid(posting);
  const postings = splitPostings(block).filter((entry) => postingRowid(entry) !== rowid);
  const at = postings.findIndex((entry) => postingRowid(entry) > rowid);
  if (at === -1) postings.push(posting);
  else postings.splice(at, 0, posting);
  if (postings.length <= POSTING_BLOCK_CAPACITY) return [{ bound: block.bound, postings }];
  const lower = postings.slice(0, postings.length >> 1);
  return [
    { bound: postingRowid(lower[lower.length - 1] as Uint8Array), postings: lower },
    { bound: block.bound, postings: postings.slice(lower.length) },
  ];
}

/**
 * Postings appended past the end of a term's open block (its postings, if any, then the new ones, all
 * ascending): full blocks of POSTING_BLOCK_CAPACITY closed from the front, bounded by their last rowid, and the
 * rest as the open block.
 */
export function appendBlocks(
  open: readonly Uint8Array[],
  postings: readonly Uint8Array[],
): { bound: number; postings: Uint8Array[] }[] {
  const all = [...open, ...postings];
  const blocks: { bound: number; postings: Uint8Array[] }[] = [];
  while (all.length > POSTING_BLOCK_CAPACITY) {
    const closed = all.splice(0, POSTING_BLOCK_CAPACITY);
    blocks.push({ bound: postingRowid(closed[closed.length - 1] as Uint8Array), postings: closed });
  }
  blocks.push({ bound: OPEN_BLOCK_BOUND, postings: all });
  return blocks;
}
