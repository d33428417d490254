import { AggregatorRegistry, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { RunHistogram } from './run-histogram.ts';

const BUCKETS = [0.001, 0.01, 0.1, 1];
const runs: { labels: { chatbot: string; provider: string }; values: number[] }[] = [
  { labels: { chatbot: 'a', provider: 'p' }, values: [0.0005, 0.001, 0.02, 0.02, 5, 0.3] },
  { labels: { chatbot: 'b', provider: 'p' }, values: [0.01, 2] },
  { labels: { chatbot: 'a', provider: 'p' }, values: [0, 1] },
];

/** The same observations through prom-client's own histogram and through per-run tallies. */
function both(): { reference: Registry; tallied: Registry; histogram: RunHistogram<'chatbot' | 'provider'> } {
  const config = { name: 'gap_seconds', help: 'Gaps.', labelNames: ['chatbot', 'provider'] as const };
  const reference = new Registry();
  const expected = new Histogram({ ...config, buckets: BUCKETS, registers: [reference] });
  const tallied = new Registry();
  const histogram = new RunHistogram({ ...config, buckets: BUCKETS, registers: [tallied] });
  for (const run of runs) {
    const tally = histogram.tally(run.labels);
    for (const value of run.values) {
      expected.observe(run.labels, value);
      tally.observe(value);
    }
    tally.commit();
  }
  return { reference, tallied, histogram };
}

describe('RunHistogram', () => {
  it('renders what prom-client renders for the same observations once each run commits', async () => {
    const { reference, tallied } = both();
    expect(await tallied.metrics()).toBe(await reference.metrics());
  });

  it('shows a run only once it commits, and a second commit adds only what came since', async () => {
    const registry = new Registry();
    const histogram = new RunHistogram({
      name: 'gap_seconds',
      help: 'Gaps.',
      labelNames: ['chatbot'],
      buckets: BUCKETS,
      registers: [registry],
    });
    const tally = histogram.tally({ chatbot: 'a' });
    tally.observe(0.005);
    expect(await registry.metrics()).not.toContain('gap_seconds_count');
    tally.commit();
    tally.commit();
    expect(await registry.metrics()).toContain('gap_seconds_count{chatbot="a"} 1\n');
    tally.observe(0.5);
    tally.commit();
    expect(await registry.metrics()).toContain('gap_seconds_count{chatbot="a"} 2\n');
  });

  it('merges across cluster workers like prom-client histograms', async () => {
    const workerA = both();
    const workerB = both();
    const expected = AggregatorRegistry.aggregate([
      await workerA.reference.getMetricsAsJSON(),
      await workerB.reference.getMetricsAsJSON(),
    ]);
    const merged = AggregatorRegistry.aggregate([
      await workerA.tallied.getMetricsAsJSON(),
      await workerB.tallied.getMetricsAsJSON(),
    ]);
    expect(await merged.metrics()).toBe(await expected.metrics());
  });

  it('renders what prom-client renders for single observations, mixed with tallies, values on bounds included', async () => {
    const config = { name: 'ttft_seconds', help: 'TTFT.', labelNames: ['chatbot', 'cached'] as const };
    const reference = new Registry();
    const expected = new Histogram({ ...config, buckets: BUCKETS, registers: [reference] });
    const observed = new Registry();
    const histogram = new RunHistogram({ ...config, buckets: BUCKETS, registers: [observed] });
    const values = [0, 0.001, 0.0011, 0.01, 0.1, 0.5, 1, 1.5, 30];
    values.forEach((value, index) => {
      const labels = { chatbot: index % 3 === 0 ? 'b' : 'a', cached: String(index % 2 === 0) };
      expected.observe(labels, value);
      histogram.observe(labels, value);
    });
    // A tally of the same series adds to what single observations counted.
    const tally = histogram.tally({ chatbot: 'a', cached: 'false' });
    for (const value of [0.01, 2]) {
      expected.observe({ chatbot: 'a', cached: 'false' }, value);
      tally.observe(value);
    }
    tally.commit();
    expect(await observed.metrics()).toBe(await reference.metrics());
  });
});
