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
 * collection the chunks of frequent questions stay. A few KB per text analysed for a 250-word chunk (a map of its
 * distinct terms to their positions); a chunk holds two or three (the rerank's two fields, the match quality's one).
 */
export const ANALYSIS_CACHE_TEXTS = 1_024;

interface ChunkEntry {
  contentHash: string;
  fields: Map<string, { length: number; terms: IndexedTerms }>;
}

export class AnalysisCache {
  /** Named texts, by chunk id: a lookup hashes the id, not the text. */
  private readonly chunks = new Map<string, ChunkEntry>();
  /** The chunk last inserted into `chunks`, so its most recently used. */
  private newestChunk: string | undefined;
  /** Unnamed texts, keyed by the text itself, so a text that changed can never be served stale terms. */
  private readonly texts = new Map<string, IndexedTerms>();
  private readonly capacity: number;

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
    let entry = this.chunks.get(key.chunkId);
    if (entry !== undefined && entry.contentHash === key.contentHash) {
      const field = entry.fields.get(key.field);
      // Map keeps insertion order: re-inserting marks it most recently used (unless it is already: the rerank
      // asks for a chunk's two fields one after the other).
      if (this.newestChunk !== key.chunkId) {
        this.chunks.delete(key.chunkId);
        this.chunks.set(key.chunkId, entry);
        this.newestChunk = key.chunkId;
      }
      if (field !== undefined && field.length === text.length) return field.terms;
    } else {
      if (entry !== undefined) this.chunks.delete(key.chunkId);
      entry = { contentHash: key.contentHash, fields: new Map() };
      evictOldest(this.chunks, this.capacity);
      this.chunks.set(key.chunkId, entry);
      this.newestChunk = key.chunkId;
    }
    const terms = indexTerms(text);
    entry.fields.set(key.field, { length: text.length, terms });
    return terms;
  }

  private analyzeText(text: string): IndexedTerms {
    const cached = this.texts.get(text);
    if (cached !== undefined) {
      this.texts.delete(text);
      this.texts.set(text, cached);
      return cached;
    }
    const terms = indexTerms(text);
    evictOldest(this.texts, this.capacity);
    this.texts.set(text, terms);
    return terms;
  }
}

/** Makes room for one more entry in a map kept in least recently used order. */
function evictOldest(entries: Map<string, unknown>, capacity: number): void {
  if (entries.size < capacity) return;
  const oldest = entries.keys().next();
  if (oldest.done !== true) entries.delete(oldest.value);
}
