import { describe, expect, it } from 'vitest';
import type { MinuteStats } from '../../client/index.ts';
import { errorLayers } from './error-layers.ts';

function minute(failed: number, errors: Record<string, number>): MinuteStats {
  return {
    start: 0,
    runs: failed + 1,
    complete: 1,
    stopped: 0,
    failed,
    cached: 0,
    errors,
    ttftP50Ms: null,
    ttftP95Ms: null,
    tokensPerSecondP50: null,
    activeStreamsMax: 0,
  };
}

describe('errorLayers', () => {
  it('gives a layer per code, the most frequent first, and "other" for failures without a code', () => {
    const layers = errorLayers([
      minute(2, { UPSTREAM_TIMEOUT: 1, UPSTREAM_AUTH_FAILED: 1 }),
      minute(3, { UPSTREAM_TIMEOUT: 2 }),
    ]);
    expect(layers.map((layer) => [layer.name, layer.values])).toEqual([
      ['UPSTREAM_TIMEOUT', [1, 2]],
      ['UPSTREAM_AUTH_FAILED', [1, 0]],
      ['other', [0, 1]],
    ]);
    expect(errorLayers([minute(0, {})])).toEqual([]);
  });
});
