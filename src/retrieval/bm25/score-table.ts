// The score accumulator of BM25 queries (see bm25-scorer.ts).

import { POSTING_BYTES } from './postings.ts';

/** A scored chunk: its rowid and its score. */
export interface LexicalHit {
  rowid: number;
  score: number;
}

/**
 * Score accumulator: an open-addressing hash table of rowid -> score on typed arrays (a Map costs ~10x more per
 * posting), reused across queries and grown to twice the postings a query reads.
 */
export class ScoreTable {
  /** rowid + 1, 0 for an empty slot. */
  private keys = new Float64Array(1024);
  private values = new Float64Array(1024);
  /** The slots in use, in insertion order. */
  private used = new Int32Array(1024);
  private size = 0;

  /** Empties the table, sized for up to `entries` distinct rowids. */
  reset(entries: number): void {
    for (let i = 0; i < this.size; i += 1) this.keys[this.used[i] as number] = 0;
    this.size = 0;
    let bits = 10;
    while (1 << bits < entries * 2) bits += 1;
    if (1 << bits > this.keys.length) {
      this.keys = new Float64Array(1 << bits);
      this.values = new Float64Array(1 << bits);
      this.used = new Int32Array(1 << (bits - 1));
    }
  }

  add(rowid: number, score: number): void {
    const key = rowid + 1;
    const mask = this.keys.length - 1;
    // Rowids of a collection are dense and each term's postings ascend, so the low bits as the slot keep
    // consecutive postings in consecutive slots (cache friendly); collisions probe linearly.
    let slot = rowid & mask;
    for (;;) {
      const found = this.keys[slot] as number;
      if (found === key) {
        (this.values[slot] as number) += score;
        return;
      }
      if (found === 0) {
        this.keys[slot] = key;
        this.values[slot] = score;
        this.used[this.size] = slot;
        this.size += 1;
        return;
      }
      slot = (slot + 1) & mask;
    }
  }

  /** Scores a block of packed postings: the inner loop of every query, kept free of calls and allocations. */
  addPostings(
    data: Uint8Array,
    count: number,
    weight: number,
    lengthBase: number,
    lengthSlope: number,
    titleWeight: number,
  ): void {
    const { keys, values, used } = this;
    const mask = keys.length - 1;
    let size = this.size;
    for (let at = 0, end = count * POSTING_BYTES; at < end; at += POSTING_BYTES) {
      const low =
        (data[at] as number) |
        ((data[at + 1] as number) << 8) |
        ((data[at + 2] as number) << 16) |
        ((data[at + 3] as number) << 24);
      const key =
        (low >>> 0) + ((data[at + 4] as number) | ((data[at + 5] as number) << 8)) * 0x1_0000_0000 + 1;
      const length = (data[at + 6] as number) | ((data[at + 7] as number) << 8);
      const frequency = titleWeight * (data[at + 8] as number) + (data[at + 9] as number);
      const score = (weight * frequency) / (frequency + lengthBase + lengthSlope * length);
      let slot = low & mask;
      for (;;) {
        const found = keys[slot] as number;
        if (found === key) {
          (values[slot] as number) += score;
          break;
        }
        if (found === 0) {
          keys[slot] = key;
          values[slot] = score;
          used[size] = slot;
          size += 1;
          break;
        }
        slot = (slot + 1) & mask;
      }
    }
    this.size = size;
  }

  /** The `limit` highest scores, best first (ties: lower rowid first, so results are deterministic). */
  top(limit: number): LexicalHit[] {
    const { keys, values, used } = this;
    const size = Math.min(limit, this.size);
    // A min-heap of slots, its root the weakest of the best so far.
    const heap = used.slice(0, size);
    for (let i = (size >> 1) - 1; i >= 0; i -= 1) this.siftDown(heap, i, size);
    for (let u = size; u < this.size; u += 1) {
      const slot = used[u] as number;
      if (!this.weaker(heap[0] as number, slot)) continue;
      heap[0] = slot;
      this.siftDown(heap, 0, size);
    }
    // Heap sort: the weakest left goes last, so the array fills from the end, best first.
    const best = new Array<LexicalHit>(size);
    for (let end = size - 1; end >= 0; end -= 1) {
      const slot = heap[0] as number;
      best[end] = { rowid: (keys[slot] as number) - 1, score: values[slot] as number };
      heap[0] = heap[end] as number;
      this.siftDown(heap, 0, end);
    }
    return best;
  }

  /** Slot a's entry ranks below slot b's: a lower score, or the same score and a higher rowid. */
  private weaker(a: number, b: number): boolean {
    const va = this.values[a] as number;
    const vb = this.values[b] as number;
    return va < vb || (va === vb && (this.keys[a] as number) > (this.keys[b] as number));
  }

  /** Restores the min-heap property of heap[0, size) below `from`. */
  private siftDown(heap: Int32Array, from: number, size: number): void {
    let i = from;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let weakest = i;
      if (left < size && this.weaker(heap[left] as number, heap[weakest] as number)) weakest = left;
      if (right < size && this.weaker(heap[right] as number, heap[weakest] as number)) weakest = right;
      if (weakest === i) return;
      const swap = heap[i] as number;
      heap[i] = heap[weakest] as number;
      heap[weakest] = swap;
      i = weakest;
    }
  }
}
