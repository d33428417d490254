import { describe, expect, it } from 'vitest';
import type { ChunkHit } from '../core/documents.ts';
import { searchLexical } from './lexical-search.ts';
import { PROXIMITY } from './proximity.ts';

function chunkHit(id: string, score: number, text: string): ChunkHit {
  return {
    id,
    documentId: `doc-${id}`,
    ordinal: 0,
    text,
    heading: '',
    metadata: {},
    documentTitle: '',
    source: `${id}.md`,
    contentHash: 'hash',
    score,
  };
}

/** A store whose searchText returns the given hits (best first) and records what it was asked. */
function fakeStore(hits: ChunkHit[]) {
  const calls: { collectionId: string; query: string; limit: number; signal: AbortSignal | undefined }[] = [];
  return {
    calls,
    searchText: (collectionId: string, query: string, limit: number, signal?: AbortSignal) => {
      calls.push({ collectionId, query, limit, signal });
      return Promise.resolve(hits.slice(0, limit));
    },
  };
}

describe('searchLexical', () => {
  it('asks the store for at least PROXIMITY.depth hits, reranks them and returns `limit`', async () => {
    const store = fakeStore([
      chunkHit('apart', 5, 'vitamin levels were measured in spring and autumn; deficiency was rare'),
      chunkHit('together', 4.9, 'vitamin deficiency was rare'),
    ]);
    const signal = new AbortController().signal;
    const hits = await searchLexical(store, 'docs', 'vitamin deficiency', 1, signal);
    expect(hits.map((hit) => hit.id)).toEqual(['together']);
    expect(store.calls).toEqual([
      { collectionId: 'docs', query: 'vitamin deficiency', limit: PROXIMITY.depth, signal },
    ]);
  });

  it('asks for `limit` when it is above the rerank depth, and for nothing below 1', async () => {
    const store = fakeStore([]);
    await searchLexical(store, 'docs', 'vitamin', PROXIMITY.depth + 10);
    expect(store.calls[0]?.limit).toBe(PROXIMITY.depth + 10);
    expect(await searchLexical(store, 'docs', 'vitamin', 0)).toEqual([]);
    expect(store.calls).toHaveLength(1);
  });
});
