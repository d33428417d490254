import { describeRunHubConformance } from '../run-hub.conformance.ts';
import { describe, expect, it } from 'vitest';
import { MemoryRunHub } from './memory-run-hub.ts';

describeRunHubConformance('memory', (options) => new MemoryRunHub(options));

describe('MemoryRunHub retained-bytes budget', () => {
  it('forgets the oldest finished runs first once the budget is exceeded, never a running one', async () => {
    const hub = new MemoryRunHub({
      limits: { maxEvents: 1000, maxBytes: 1_000_000, maxDurationMs: 60_000 },
      graceMs: 60_000,
      disconnectPolicy: 'finish',
      retentionMs: 60_000,
      maxRetainedBytes: 3000,
    });
    const finishRun = () => {
      const run = hub.create({ ownerId: null });
      run.append({ type: 'token', text: 'x'.repeat(400) });
      run.append({ type: 'error', code: 'INTERNAL', message: 'done', retryable: false });
      return run.runId;
    };
    const running = hub.create({ ownerId: null });
    running.append({ type: 'token', text: 'y'.repeat(2000) });
    const finished = Array.from({ length: 8 }, finishRun);
    const kept = await Promise.all(finished.map(async (runId) => (await hub.info(runId)) !== undefined));
    // Each finished run holds ~0.5 KB: the newest fit in 3 KB, the oldest were forgotten.
    expect(kept.slice(0, 2)).toEqual([false, false]);
    expect(kept.slice(-4)).toEqual([true, true, true, true]);
    expect((await hub.info(running.runId))?.state).toBe('running');
    hub.close();
  });
});
