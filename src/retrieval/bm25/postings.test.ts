import { describe, expect, it } from 'vitest';
import {
  appendBlocks,
  encodePosting,
  insertPosting,
  joinPostings,
  OPEN_BLOCK_BOUND,
  POSTING_BLOCK_CAPACITY,
  POSTING_BYTES,
  postingRowid,
  splitPostings,
} from './postings.ts';

const rowidsOf = (postings: readonly Uint8Array[]): number[] => postings.map(postingRowid);

describe('postings codec', () => {
  it('packs rowid, length and frequencies into 10 little-endian bytes, clamping what overflows', () => {
    const posting = encodePosting(2 ** 48 - 1, 70_000, 300, 7);
    expect(posting).toHaveLength(POSTING_BYTES);
    expect(postingRowid(posting)).toBe(2 ** 48 - 1);
    expect([...posting.subarray(6)]).toEqual([0xff, 0xff, 0xff, 7]);
    expect([...encodePosting(0x0102_0304_0506, 0x0708, 9, 10)]).toEqual([6, 5, 4, 3, 2, 1, 8, 7, 9, 10]);
  });

  it('splits a block into views of its postings and joins them back', () => {
    const postings = [1, 5, 9].map((rowid) => encodePosting(rowid, 3, 0, 1));
    const data = joinPostings(postings);
    const parts = splitPostings({ count: 3, data });
    expect(rowidsOf(parts)).toEqual([1, 5, 9]);
    expect(joinPostings(parts)).toEqual(data);
  });

  it('inserts a posting in rowid order, replacing its rowid, and halves a block that overflows', () => {
    const block = (rowids: number[], bound: number) => ({
      bound,
      count: rowids.length,
      data: joinPostings(rowids.map((rowid) => encodePosting(rowid, 1, 0, 1))),
    });
    const [only] = insertPosting(block([2, 4, 8], 10), encodePosting(5, 1, 0, 1));
    expect(only?.bound).toBe(10);
    expect(rowidsOf(only?.postings ?? [])).toEqual([2, 4, 5, 8]);
    const replaced = insertPosting(block([2, 4], 10), encodePosting(4, 9, 1, 1));
    expect(replaced.map((entry) => entry.postings.length)).toEqual([2]);
    expect(replaced[0]?.postings[1]?.[6]).toBe(9);

    const full = Array.from({ length: POSTING_BLOCK_CAPACITY }, (_, i) => 2 * i);
    const halves = insertPosting(block(full, 1_000), encodePosting(1, 1, 0, 1));
    expect(halves.map((entry) => entry.postings.length)).toEqual([128, 129]);
    expect(halves[0]?.bound).toBe(postingRowid(halves[0]?.postings[127] as Uint8Array));
    expect(halves[1]?.bound).toBe(1_000);
  });

  it('closes full blocks from the front when appending, and leaves the rest open', () => {
    const open = [1, 2, 3].map((rowid) => encodePosting(rowid, 1, 0, 1));
    const added = Array.from({ length: 2 * POSTING_BLOCK_CAPACITY }, (_, i) =>
      encodePosting(10 + i, 1, 0, 1),
    );
    const blocks = appendBlocks(open, added);
    expect(blocks.map((block) => block.postings.length)).toEqual([256, 256, 3]);
    expect(blocks.map((block) => block.bound)).toEqual([262, 518, OPEN_BLOCK_BOUND]);
    expect(appendBlocks([], open)).toEqual([{ bound: OPEN_BLOCK_BOUND, postings: open }]);
  });
});
