// The analysed terms of texts retrieval reads again and again: the proximity rerank and the match quality analyse
// the same chunks' text for every question that finds them, and analysis (normalisation, tokens, stems) is most of
// what an answer's retrieval costs. One cache per retriever, bounded, least recently used out first.

import { analyze } from './text-analysis.ts';

/** Turns a text into its terms, as `analyze` does. */
export type Analyze = (text: string) => readonly string[];

/**
 * Texts kept by default: a sample corpus or a small help centre fits whole; in a large collection the chunks of
 * frequent questions stay. Measured at about 5 KB an entry for 2.5 KB (250-word) chunks (the text, held as the
 * key, and an array of pointers to shared term strings): some 5 MB when full.
 */
export const ANALYSIS_CACHE_TEXTS = 1_024;

export class AnalysisCache {
  /** Keyed by the text itself, so a chunk whose text changed can never be served stale terms. */
  private readonly entries = new Map<string, readonly string[]>();
  private readonly capacity: number;

  constructor(capacity = ANALYSIS_CACHE_TEXTS) {
    this.capacity = capacity;
  }

  /** `analyze(text)`, from the cache when the text was analysed lately. The array is shared: never mutate it. */
  readonly analyze: Analyze = (text) => {
    const cached = this.entries.get(text);
    if (cached !== undefined) {
      // Map keeps insertion order: re-inserting marks it most recently used.
      this.entries.delete(text);
      this.entries.set(text, cached);
      return cached;
    }
    const terms = analyze(text);
    if (this.entries.size >= this.capacity) {
      const oldest = this.entries.keys().next();
      if (oldest.done !== true) this.entries.delete(oldest.value);
    }
    this.entries.set(text, terms);
    return terms;
  };

  /** How many texts it holds. */
  get size(): number {
    return this.entries.size;
  }
}
