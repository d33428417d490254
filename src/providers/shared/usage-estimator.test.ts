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
});
