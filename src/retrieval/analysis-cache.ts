// The analysed terms of texts retrieval reads again and again: the proximity rerank and the match quality analyse
// the same chunks' text for every question that finds them, and analysis (normalisation, tokens, stems) is most of
// what an answer's retrieval costs. One cache per retriever, bounded, least recently used out first.

import { indexTerms, type IndexedTerms } from './indexed-terms.ts';

/**
 * Names a chunk's text without reading it: the chunk's id, its document's content hash and which of its texts
 * (the title and heading, the body, ...). A changed document gets new chunks with new ids; the hash (and the
 * text's length, checked too) guards anything that brings an id back with other text, such as an import.
 */
export interface ChunkTextKey {
  chunkId: string;
  contentHash: string;
  field: string;
}

/**
 * Turns a text into its terms, indexed by term, as `indexTerms` does. `key`, when given, names the text (see
 * ChunkTextKey), so a cache finds it without hashing the whole text.
 */
export type Analyze = (text: string, key?: ChunkTextKey) => IndexedTerms;

/**
 * Chunks (or unnamed texts) kept by default: a sample corpus or a small help centre fits whole; in a large
 * collection the chunks of frequent questions stay. About 4 KB per text analysed for a 250-word chunk (a map of its
 * distinct terms to their positions); a chunk holds two or three (the rerank's two fields, the match quality's one).
 */
export const ANALYSIS_CACHE_TEXTS = 1_024;

interface ChunkEntry {
  contentHash: string;
  fields: Map<string, { length: number; terms: IndexedTerms }>;
  /** When it was last used (the cache's use counter): the least recently used goes first. */
  used: number;
}

interface TextEntry {
  terms: IndexedTerms;
  used: number;
}

export class AnalysisCache {
  /** Named texts, by chunk id: a lookup hashes the id, not the text. */
  private readonly chunks = new Map<string, ChunkEntry>();
  /** Unnamed texts, keyed by the text itself, so a text that changed can never be served stale terms. */
  private readonly texts = new Map<string, TextEntry>();
  private readonly capacity: number;
  /** Counts lookups: an entry's `used` orders it for eviction (a lookup writes a number, not the map's order). */
  private uses = 0;

  constructor(capacity = ANALYSIS_CACHE_TEXTS) {
    this.capacity = capacity;
  }

  /** `indexTerms(text)`, from the cache when the text was analysed lately. Shared: never mutate it. */
  readonly analyze: Analyze = (text, key) =>
    key === undefined ? this.analyzeText(text) : this.analyzeChunkText(text, key);

  /** How many chunks and unnamed texts it holds. */
  get size(): number {
    return this.chunks.size + this.texts.size;
  }

  private analyzeChunkText(text: string, key: ChunkTextKey): IndexedTerms {
    this.uses += 1;
    let entry = this.chunks.get(key.chunkId);
    if (entry !== undefined && entry.contentHash === key.contentHash) {
      entry.used = this.uses;
      const field = entry.fields.get(key.field);
      if (field !== undefined && field.length === text.length) return field.terms;
    } else {
      if (entry !== undefined) this.chunks.delete(key.chunkId);
      else evictLeastUsed(this.chunks, this.capacity);
      entry = { contentHash: key.contentHash, fields: new Map(), used: this.uses };
      this.chunks.set(key.chunkId, entry);
    }
    const terms = indexTerms(text);
    entry.fields.set(key.field, { length: text.length, terms });
    return terms;
  }

  private analyzeText(text: string): IndexedTerms {
    this.uses += 1;
    const cached = this.texts.get(text);
    if (cached !== undefined) {
      cached.used = this.uses;
      return cached.terms;
    }
    const terms = indexTerms(text);
    evictLeastUsed(this.texts, this.capacity);
    this.texts.set(text, { terms, used: this.uses });
    return terms;
  }
}

/**
 * Makes room for one more entry: drops the least recently used when full. The scan over all entries happens only
 * when a full cache misses, next to the analysis of the text that missed, which costs more.
 */
function evictLeastUsed(entries: Map<string, { used: number }>, capacity: number): void {
  if (entries.size < capacity) return;
  let oldest: string | undefined;
  let oldestUse = Infinity;
  for (const [key, { used }] of entries) {
    if (used < oldestUse) {
      oldest = key;
      oldestUse = used;
    }
  }
  if (oldest !== undefined) entries.delete(oldest);
}
