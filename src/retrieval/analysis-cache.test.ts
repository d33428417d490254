import { describe, expect, it } from 'vitest';
import { AnalysisCache } from './analysis-cache.ts';
import { PROXIMITY, rerankByProximity } from './proximity.ts';
import { analyze } from './text-analysis.ts';

describe('AnalysisCache', () => {
  it('gives the terms analyze gives, the same array for a text seen before', () => {
    const cache = new AnalysisCache();
    const text = 'Resuming streams: the client reconnects with Last-Event-ID.';
    const first = cache.analyze(text);
    expect(first).toEqual(analyze(text));
    // An equal string built anew (as a store's row gives it) finds the same entry.
    expect(cache.analyze(`Resuming streams: ${text.slice('Resuming streams: '.length)}`)).toBe(first);
    expect(cache.size).toBe(1);
  });

  it('drops the least recently used text beyond its capacity', () => {
    const cache = new AnalysisCache(2);
    const alpha = cache.analyze('alpha');
    cache.analyze('beta');
    expect(cache.analyze('alpha')).toBe(alpha);
    cache.analyze('gamma');
    expect(cache.size).toBe(2);
    // beta was the least recently used: analysed anew, while alpha is still the cached array.
    expect(cache.analyze('alpha')).toBe(alpha);
    expect(cache.analyze('beta')).toEqual(['beta']);
    expect(cache.size).toBe(2);
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
  });
});
