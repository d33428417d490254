import { describe, expect, it } from 'vitest';
import { UsageEstimator } from './usage-estimator.ts';

describe('UsageEstimator', () => {
  it('counts input and output tokens with a real tokenizer and marks them estimated', async () => {
    const estimator = new UsageEstimator();
    const usage = await estimator.estimate(
      [
        { role: 'system', content: 'You are terse.' },
        { role: 'user', content: 'Hello world' },
      ],
      'Hello! 漢字 😀',
    );
    expect(usage.estimated).toBe(true);
    // "Hello world" is 2 tokens and "You are terse." 4 in o200k; plus 3 per message and 3 for the reply.
    expect(usage.inputTokens).toBe(2 + 4 + 3 * 2 + 3);
    expect(usage.outputTokens).toBeGreaterThanOrEqual(4);
    expect(usage.outputTokens).toBeLessThan(12);
    expect((await estimator.estimate([], '')).outputTokens).toBe(0);
  });

  it('counts a long prompt the same every time, and each text by its own count', async () => {
    const estimator = new UsageEstimator();
    const sources = `Sources:\n\n${'[1] Guide > Install\nRun the installer, then sign in. '.repeat(20)}`;
    const first = await estimator.estimate([{ role: 'system', content: sources }], '');
    expect(first.inputTokens).toBeGreaterThan(200);
    expect((await estimator.estimate([{ role: 'system', content: sources }], '')).inputTokens).toBe(
      first.inputTokens,
    );
    const other = await estimator.estimate([{ role: 'system', content: `${sources} More words here.` }], '');
    expect(other.inputTokens).toBe(first.inputTokens + 4);
  });

  it('keeps the counts of at most 1 MiB of prompt texts, and none of texts over 32 KiB', async () => {
    const estimator = new UsageEstimator();
    const huge = 'word '.repeat(8_000);
    await estimator.estimate([{ role: 'user', content: huge }], '');
    expect(estimator.kept).toEqual({ texts: 0, chars: 0 });
    for (let index = 0; index < 100; index += 1) {
      const text = `${index} ${'passage text '.repeat(2_000)}`;
      const usage = await estimator.estimate([{ role: 'system', content: text }], '');
      expect(usage.inputTokens).toBeGreaterThan(2_000);
      expect(estimator.kept.chars).toBeLessThanOrEqual(1024 * 1024);
    }
    expect(estimator.kept.texts).toBeGreaterThan(0);
    expect(estimator.kept.texts).toBeLessThan(100);
  });
});
