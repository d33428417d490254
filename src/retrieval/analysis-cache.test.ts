import { describe, expect, it } from 'vitest';
import { AnalysisCache } from './analysis-cache.ts';
import { PROXIMITY, rerankByProximity } from './proximity.ts';
import { indexTerms } from './indexed-terms.ts';

describe('AnalysisCache', () => {
  it('gives the terms indexTerms gives, the same array for a text seen before', () => {
    const cache = new AnalysisCache();
    const text = 'Resuming streams: the client reconnects with Last-Event-ID.';
    const first = cache.analyze(text);
    expect(first).toEqual(indexTerms(text));
    // An equal string built anew (as a store's row gives it) finds the same entry.
    expect(cache.analyze(`Resuming streams: ${text.slice('Resuming streams: '.length)}`)).toBe(first);
    expect(cache.size).toBe(1);
  });

  it('drops the least recently used text beyond its capacity', () => {
    const cache = new AnalysisCache(2);
    const alpha = cache.analyze('alpha');
    const beta = cache.analyze('beta');
    expect(cache.analyze('alpha')).toBe(alpha);
    cache.analyze('gamma');
    expect(cache.size).toBe(2);
    // beta was the least recently used: analysed anew, while alpha is still the cached entry.
    expect(cache.analyze('alpha')).toBe(alpha);
    const betaAgain = cache.analyze('beta');
    expect(betaAgain).not.toBe(beta);
    expect(betaAgain).toEqual(indexTerms('beta'));
    expect(cache.size).toBe(2);
  });

  it('finds a named chunk text by its chunk id, content hash and field', () => {
    const cache = new AnalysisCache();
    const text = 'Resuming streams: the client reconnects with Last-Event-ID.';
    const key = { chunkId: 'chk_1', contentHash: 'h1', field: 'text' };
    const first = cache.analyze(text, key);
    expect(first).toEqual(indexTerms(text));
    expect(cache.analyze(`${text}`, { ...key })).toBe(first);
    // Another field of the same chunk is its own entry; the chunk counts once.
    const title = cache.analyze('Streaming guide', { ...key, field: 'title' });
    expect(title).toEqual(indexTerms('Streaming guide'));
    expect(cache.analyze('Streaming guide', { ...key, field: 'title' })).toBe(title);
    expect(cache.size).toBe(1);
  });

  it('analyses a named chunk text anew when its content hash or its length changed', () => {
    const cache = new AnalysisCache();
    const key = { chunkId: 'chk_1', contentHash: 'h1', field: 'text' };
    cache.analyze('alpacas graze', key);
    expect(cache.analyze('llamas carry packs', key)).toEqual(indexTerms('llamas carry packs'));
    expect(cache.analyze('vicunas roam', { ...key, contentHash: 'h2' })).toEqual(indexTerms('vicunas roam'));
    expect(cache.size).toBe(1);
  });

  it('drops the least recently used chunk beyond its capacity', () => {
    const cache = new AnalysisCache(2);
    const named = (chunkId: string) => ({ chunkId, contentHash: 'h', field: 'text' });
    const alpha = cache.analyze('alpha', named('a'));
    const beta = cache.analyze('beta', named('b'));
    expect(cache.analyze('alpha', named('a'))).toBe(alpha);
    cache.analyze('gamma', named('c'));
    expect(cache.size).toBe(2);
    expect(cache.analyze('alpha', named('a'))).toBe(alpha);
    expect(cache.analyze('beta', named('b'))).not.toBe(beta);
  });

  it('reranks exactly as uncached analysis does', () => {
    const cache = new AnalysisCache();
    const hits = Array.from({ length: PROXIMITY.depth + 2 }, (_, index) => ({
      id: String(index),
      documentTitle: index % 3 === 0 ? 'Vitamin D' : 'Nutrition',
      heading: 'Deficiency',
      text: `vitamin ${'word '.repeat(index % 7)} deficiency and vitamin levels ${index}`,
      score: 10 - index / 10,
    }));
    const plain = rerankByProximity('vitamin deficiency levels', hits);
    expect(rerankByProximity('vitamin deficiency levels', hits, cache.analyze)).toEqual(plain);
    expect(rerankByProximity('vitamin deficiency levels', hits, cache.analyze)).toEqual(plain);
    // Hits carrying their chunk id and content hash, as a store's do, are found by those.
    const named = hits.map((hit) => ({ ...hit, contentHash: `h${hit.id}` }));
    const keyed = new AnalysisCache();
    const namedPlain = rerankByProximity('vitamin deficiency levels', named);
    expect(namedPlain.map((hit) => hit.id)).toEqual(plain.map((hit) => hit.id));
    expect(rerankByProximity('vitamin deficiency levels', named, keyed.analyze)).toEqual(namedPlain);
    expect(rerankByProximity('vitamin deficiency levels', named, keyed.analyze)).toEqual(namedPlain);
    expect(keyed.size).toBe(PROXIMITY.depth);
  });
});
