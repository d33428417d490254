// The postings a collection's queries read, kept in memory while the collection's generation stays: a question
// whose terms were all read before is ranked without reading their postings again, only the generation (one row).
// In SQLite the BM25 statement was the largest part of an answer's retrieval (about 40 µs in-process of 50 on the
// sample corpus; 85 µs per answer in the server's profile). PostgreSQL reads the generation and only the postings
// the cache lacks (all of them when the generation moved) in its one statement, and makes none when the answer
// brings the generation (read with its question, after it arrived) and every term is kept at it.
//
// Correct across processes for the reason RankedChunks is (src/core/documents.ts): every statement that changes a
// collection's chunks, statistics or postings bumps its generation, in the same transaction, whichever process
// runs it. Postings are kept only with the generation they were read at, and used only while it is still the one.

import type { CollectionStats, TermPostings } from './bm25-scorer.ts';

/** What the cache keeps (see sizeOf) before it starts over: per store instance, so per process. */
export const POSTINGS_CACHE_MAX_BYTES = 16 * 1024 * 1024;

/**
 * What an entry costs besides its postings' bytes: the term (twice its length, UTF-16), its map entry and the
 * objects around its lists, so that terms with no postings (a typo, a word the collection lacks) count too.
 */
const ENTRY_BYTES = 100;
/** Each block's object and its view. */
const BLOCK_BYTES = 32;
/** A pending posting's four numbers and the object around them. */
const PENDING_POSTING_BYTES = 64;

interface KeptTerm {
  postings: TermPostings;
  bytes: number;
}

interface CachedCollection {
  generation: number;
  stats: CollectionStats;
  terms: Map<string, KeptTerm>;
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
      const kept = cached.terms.get(term);
      if (kept === undefined) return undefined;
      lists.push(kept.postings);
    }
    return { stats: cached.stats, lists };
  }

  /**
   * What is kept of the collection for `terms`, whatever the generation now: the generation it was read at, its
   * statistics and each term's postings or undefined, in order. For a store that reads the generation and the
   * missing postings in one statement (PostgreSQL): when the statement finds that generation, these lists hold.
   */
  kept(
    collectionId: string,
    terms: readonly string[],
  ): { generation: number; stats: CollectionStats; lists: (TermPostings | undefined)[] } | undefined {
    const cached = this.#collections.get(collectionId);
    if (cached === undefined) return undefined;
    const lists = terms.map((term) => cached.terms.get(term)?.postings);
    return { generation: cached.generation, stats: cached.stats, lists };
  }

  /** Keeps `terms`' postings (`lists`, in the same order), read with the collection's statistics at `generation`. */
  keep(
    collectionId: string,
    generation: number,
    stats: CollectionStats,
    terms: readonly string[],
    lists: readonly TermPostings[],
  ): void {
    terms.forEach((term, index) => {
      const postings = lists[index] as TermPostings;
      const bytes = sizeOf(term, postings);
      // A list larger than the whole budget is not kept, and costs the others nothing.
      if (bytes > this.#maxBytes) return;
      // Over budget, everything goes (the next queries read and keep what they use again): bounded, and simple.
      if (this.#bytes + bytes > this.#maxBytes) this.clear();
      let cached = this.#collections.get(collectionId);
      // Generations only grow: what a slower query read at an older one is not worth the newer entries.
      if (cached !== undefined && cached.generation > generation) return;
      if (cached !== undefined && cached.generation !== generation) {
        this.#drop(collectionId, cached);
        cached = undefined;
      }
      if (cached === undefined) {
        cached = { generation, stats, terms: new Map() };
        this.#collections.set(collectionId, cached);
      }
      if (cached.terms.has(term)) return;
      cached.terms.set(term, { postings, bytes });
      this.#bytes += bytes;
    });
  }

  /** What is kept now, as sizeOf counts it. */
  get bytes(): number {
    return this.#bytes;
  }

  clear(): void {
    this.#collections.clear();
    this.#bytes = 0;
  }

  #drop(collectionId: string, cached: CachedCollection): void {
    for (const { bytes } of cached.terms.values()) this.#bytes -= bytes;
    this.#collections.delete(collectionId);
  }
}

function sizeOf(term: string, { blocks, pending }: TermPostings): number {
  let bytes = ENTRY_BYTES + 2 * term.length + pending.length * PENDING_POSTING_BYTES;
  for (const block of blocks) bytes += BLOCK_BYTES + block.data.byteLength;
  return bytes;
}
