// The postings a collection's queries read, kept in memory while the collection's generation stays: a question
// whose terms were all read before is ranked without reading their postings again, only the generation (one row).
// In SQLite the BM25 statement was the largest part of an answer's retrieval (about 40 µs in-process of 50 on the
// sample corpus; 85 µs per answer in the server's profile). PostgreSQL reads the generation and only the postings
// the cache lacks (all of them when the generation moved) in its one statement.
//
// Correct across processes for the reason RankedChunks is (src/core/documents.ts): every statement that changes a
// collection's chunks, statistics or postings bumps its generation, in the same transaction, whichever process
// runs it. Postings are kept only with the generation they were read at, and used only while it is still the one.

import type { CollectionStats, TermPostings } from './bm25-scorer.ts';

/** What the cache keeps, in postings bytes (blocks and pending postings alike), before it starts over. */
export const POSTINGS_CACHE_MAX_BYTES = 16 * 1024 * 1024;

/** A pending posting's weight in the byte budget: its four numbers and the object around them. */
const PENDING_POSTING_BYTES = 64;

interface CachedCollection {
  generation: number;
  stats: CollectionStats;
  terms: Map<string, TermPostings>;
}

export class PostingsCache {
  readonly #maxBytes: number;
  readonly #collections = new Map<string, CachedCollection>();
  #bytes = 0;

  constructor(maxBytes = POSTINGS_CACHE_MAX_BYTES) {
    this.#maxBytes = maxBytes;
  }

  /**
   * The collection's statistics and each of `terms`' postings, in order, if every one of them was kept at
   * `generation`; undefined otherwise (and anything kept at another generation is dropped).
   */
  lookup(
    collectionId: string,
    generation: number,
    terms: readonly string[],
  ): { stats: CollectionStats; lists: TermPostings[] } | undefined {
    const cached = this.#collections.get(collectionId);
    if (cached === undefined) return undefined;
    if (cached.generation !== generation) {
      this.#drop(collectionId, cached);
      return undefined;
    }
    const lists: TermPostings[] = [];
    for (const term of terms) {
      const postings = cached.terms.get(term);
      if (postings === undefined) return undefined;
      lists.push(postings);
    }
    return { stats: cached.stats, lists };
  }

  /**
   * The generation the collection's postings are kept at and which of `terms` are not kept, for a store that reads
   * the generation and the missing postings in one statement (PostgreSQL); undefined when nothing of it is kept.
   */
  missing(
    collectionId: string,
    terms: readonly string[],
  ): { generation: number; terms: string[] } | undefined {
    const cached = this.#collections.get(collectionId);
    if (cached === undefined) return undefined;
    return { generation: cached.generation, terms: terms.filter((term) => !cached.terms.has(term)) };
  }

  /** Keeps `terms`' postings (`lists`, in the same order), read with the collection's statistics at `generation`. */
  keep(
    collectionId: string,
    generation: number,
    stats: CollectionStats,
    terms: readonly string[],
    lists: readonly TermPostings[],
  ): void {
    let cached = this.#collections.get(collectionId);
    if (cached !== undefined && cached.generation !== generation) {
      this.#drop(collectionId, cached);
      cached = undefined;
    }
    if (cached === undefined) {
      cached = { generation, stats, terms: new Map() };
      this.#collections.set(collectionId, cached);
    }
    terms.forEach((term, index) => {
      const postings = lists[index] as TermPostings;
      if (cached.terms.has(term)) return;
      const bytes = sizeOf(postings);
      // Over budget, everything goes (the next queries read and keep what they use again): bounded, and simple.
      if (this.#bytes + bytes > this.#maxBytes) this.clear();
      if (bytes > this.#maxBytes) return;
      if (!this.#collections.has(collectionId)) this.#collections.set(collectionId, cached);
      cached.terms.set(term, postings);
      this.#bytes += bytes;
    });
  }

  /** Postings bytes kept now. */
  get bytes(): number {
    return this.#bytes;
  }

  clear(): void {
    for (const cached of this.#collections.values()) cached.terms.clear();
    this.#collections.clear();
    this.#bytes = 0;
  }

  #drop(collectionId: string, cached: CachedCollection): void {
    for (const postings of cached.terms.values()) this.#bytes -= sizeOf(postings);
    this.#collections.delete(collectionId);
  }
}

function sizeOf({ blocks, pending }: TermPostings): number {
  let bytes = pending.length * PENDING_POSTING_BYTES;
  for (const block of blocks) bytes += block.data.byteLength;
  return bytes;
}
