// The chunks a retriever found lately, by rowid, with their analysed text: lexical search ranks by the store's
// postings (rankText), then takes the hits and what the proximity rerank reads of them from here instead of reading
// the rows again for every question. Each collection's entries hold for one generation of it (RankedChunks): any
// write to the collection's chunks, in this process or another on the same database, changes the generation, and
// the next search that sees the new one drops them all. A rowid's chunk is only ever kept with the generation
// read in the same snapshot as its row, so a chunk removed, replaced or given another chunk's rowid is never served.

import type { ChunkFace, ChunkHit, DocumentStore, RankedChunks } from '../core/documents.ts';
import { indexTerms, type IndexedTerms } from './indexed-terms.ts';
import { proximityTitle, type AnalysedFields } from './proximity.ts';

/**
 * Chunks kept by default, over all collections: a sample corpus or a small help centre fits whole. About 8 KB a
 * 250-word chunk with its two fields analysed (a few MB when full); the analysis is made on first use.
 */
export const CHUNK_CACHE_CHUNKS = 1_024;

/** A chunk as found, with its fields analysed for the proximity rerank on first use. */
export class FoundChunk implements AnalysedFields {
  readonly face: ChunkFace;
  #title: IndexedTerms | undefined;
  #text: IndexedTerms | undefined;

  constructor(face: ChunkFace) {
    this.face = face;
  }

  get title(): IndexedTerms {
    this.#title ??= indexTerms(proximityTitle(this.face));
    return this.#title;
  }

  get text(): IndexedTerms {
    this.#text ??= indexTerms(this.face.text);
    return this.#text;
  }

  /** The hit, as searchText gives it. */
  hit(score: number): ChunkHit {
    return { ...this.face, score };
  }
}

interface CollectionChunks {
  generation: number;
  chunks: Map<number, FoundChunk>;
}

export class ChunkCache {
  /** By collection, oldest used first. */
  private readonly collections = new Map<string, CollectionChunks>();
  private readonly capacity: number;
  private count = 0;

  constructor(capacity = CHUNK_CACHE_CHUNKS) {
    this.capacity = capacity;
  }

  /** How many chunks it holds. */
  get size(): number {
    return this.count;
  }

  /**
   * The ranked chunks that still exist, in rank order, each with its score: from the cache when the ranking's
   * generation is the one cached, the others read (and kept when read at that generation). When the collection
   * changed between the ranking and the read, everything is read again and nothing kept: the rows then, as
   * searchText would give them.
   */
  async found(
    documents: Pick<DocumentStore, 'chunksByRowid'>,
    collectionId: string,
    { generation, ranked }: RankedChunks,
    signal?: AbortSignal,
  ): Promise<{ chunk: FoundChunk; score: number }[]> {
    if (ranked.length === 0) return [];
    if (generation === undefined) return this.read(documents, collectionId, ranked, signal);
    let cached = this.collections.get(collectionId);
    if (cached === undefined || cached.generation !== generation) {
      this.drop(collectionId);
      cached = { generation, chunks: new Map() };
    } else {
      this.collections.delete(collectionId);
    }
    this.collections.set(collectionId, cached);
    const chunks = cached.chunks;
    let missing: number[] | undefined;
    for (const { rowid } of ranked) if (!chunks.has(rowid)) (missing ??= []).push(rowid);
    if (missing !== undefined) {
      const read = await documents.chunksByRowid(collectionId, missing, signal);
      if (read.generation !== generation) return this.read(documents, collectionId, ranked, signal);
      // Another search may have seen a newer generation meanwhile: then these rows are kept for this search only.
      const current = this.collections.get(collectionId) === cached;
      for (const [rowid, face] of read.chunks) {
        if (chunks.has(rowid)) continue; // read by a search at the same generation meanwhile: the same chunk
        chunks.set(rowid, new FoundChunk(face));
        if (current) this.count += 1;
      }
      const found = this.pick(chunks, ranked);
      if (current) this.evict(collectionId);
      return found;
    }
    return this.pick(chunks, ranked);
  }

  private pick(
    chunks: Map<number, FoundChunk>,
    ranked: RankedChunks['ranked'],
  ): { chunk: FoundChunk; score: number }[] {
    const found: { chunk: FoundChunk; score: number }[] = [];
    for (const { rowid, score } of ranked) {
      const chunk = chunks.get(rowid);
      if (chunk !== undefined) found.push({ chunk, score });
    }
    return found;
  }

  /** The ranked chunks read now, kept nowhere. */
  private async read(
    documents: Pick<DocumentStore, 'chunksByRowid'>,
    collectionId: string,
    ranked: RankedChunks['ranked'],
    signal: AbortSignal | undefined,
  ): Promise<{ chunk: FoundChunk; score: number }[]> {
    const { chunks } = await documents.chunksByRowid(
      collectionId,
      ranked.map((entry) => entry.rowid),
      signal,
    );
    const found = new Map<number, FoundChunk>();
    for (const [rowid, face] of chunks) found.set(rowid, new FoundChunk(face));
    return this.pick(found, ranked);
  }

  private drop(collectionId: string): void {
    const cached = this.collections.get(collectionId);
    if (cached === undefined) return;
    this.count -= cached.chunks.size;
    this.collections.delete(collectionId);
  }

  /** Back within capacity: the oldest chunks of the least recently searched collections go first. */
  private evict(keep: string): void {
    for (const [collectionId, cached] of this.collections) {
      if (this.count <= this.capacity) return;
      if (collectionId === keep && this.collections.size > 1) continue;
      for (const rowid of cached.chunks.keys()) {
        if (this.count <= this.capacity) break;
        cached.chunks.delete(rowid);
        this.count -= 1;
      }
      if (cached.chunks.size === 0) this.collections.delete(collectionId);
    }
    // Only the collection just searched is left over capacity: its oldest chunks go.
    const cached = this.collections.get(keep);
    if (cached === undefined) return;
    for (const rowid of cached.chunks.keys()) {
      if (this.count <= this.capacity) return;
      cached.chunks.delete(rowid);
      this.count -= 1;
    }
  }
}
