// A Prometheus histogram fed one run at a time: per-token figures (the gap between two tokens) and the figures a run
// reports once, when it ends (its TTFT, duration, phases). Each run counts its per-token observations in a tally of
// its own (a few array slots: no label hashing or validation per observation, which made prom-client's observe cost
// about a microsecond a token) and adds them to the shared series once, when it ends; a run's end figures go straight
// into their series (prom-client's observe cost 1.5 to 2 µs each, six or seven of them per answer). The registry
// renders it like any prom-client histogram, and the cluster primary merges it bucket by bucket.

import type { Metric, Registry } from 'prom-client';

interface Series {
  readonly labels: Readonly<Record<string, string>>;
  /** Observations per bucket (not cumulative), one slot per upper bound. */
  readonly counts: number[];
  sum: number;
  count: number;
}

/** One value of the metric as the registry renders it (prom-client's MetricValueWithName). */
interface HistogramValue {
  value: number;
  labels: Record<string, string | number>;
  metricName: string;
}

export class RunHistogram<L extends string> {
  readonly name: string;
  readonly help: string;
  readonly type = 'histogram';
  /** Workers' series add up under `serve --workers N`. */
  readonly aggregator = 'sum';
  readonly #bounds: readonly number[];
  readonly #labelNames: readonly L[];
  readonly #series = new Map<string, Series>();

  constructor(options: {
    name: string;
    help: string;
    labelNames: readonly L[];
    buckets: readonly number[];
    registers: readonly Registry[];
  }) {
    this.name = options.name;
    this.help = options.help;
    this.#labelNames = options.labelNames;
    this.#bounds = [...options.buckets].sort((a, b) => a - b);
    // The registry takes any object with prom-client's get() shape (its own cluster aggregation registers such).
    for (const registry of options.registers) registry.registerMetric(this as unknown as Metric);
  }

  /** A run's tally, labelled once; its observations show once it is committed. */
  tally(labels: Readonly<Record<L, string>>): RunTally {
    return new RunTally(this.#bounds, (counts, sum, count) => this.#add(labels, counts, sum, count));
  }

  /**
   * One observation in the series of `labels`, at once (a figure a run reports once). A value above every bound
   * counts only in `+Inf`, `_sum` and `_count`, as in prom-client; a value that is not finite is not counted.
   */
  observe(labels: Readonly<Record<L, string>>, value: number): void {
    if (!Number.isFinite(value)) return;
    const series = this.#seriesOf(labels);
    const index = bucketIndex(this.#bounds, value);
    if (index !== -1) series.counts[index]! += 1;
    series.sum += value;
    series.count += 1;
  }

  #add(labels: Readonly<Record<L, string>>, counts: Uint32Array, sum: number, count: number): void {
    const series = this.#seriesOf(labels);
    for (let index = 0; index < counts.length; index += 1) series.counts[index]! += counts[index]!;
    series.sum += sum;
    series.count += count;
  }

  #seriesOf(labels: Readonly<Record<L, string>>): Series {
    const names = this.#labelNames;
    let key = '';
    for (let index = 0; index < names.length; index += 1) {
      if (index > 0) key += '\u0000';
      key += labels[names[index]!];
    }
    let series = this.#series.get(key);
    if (series === undefined) {
      series = { labels: { ...labels }, counts: this.#bounds.map(() => 0), sum: 0, count: 0 };
      this.#series.set(key, series);
    }
    return series;
  }

  /** What the registry renders: cumulative `_bucket` values per upper bound and `+Inf`, then `_sum` and `_count`. */
  get(): Promise<{
    name: string;
    help: string;
    type: string;
    aggregator: string;
    values: HistogramValue[];
  }> {
    const values: HistogramValue[] = [];
    const bucketName = `${this.name}_bucket`;
    for (const series of this.#series.values()) {
      let cumulative = 0;
      this.#bounds.forEach((bound, index) => {
        cumulative += series.counts[index]!;
        values.push({ value: cumulative, labels: { le: bound, ...series.labels }, metricName: bucketName });
      });
      values.push(
        { value: series.count, labels: { le: '+Inf', ...series.labels }, metricName: bucketName },
        { value: series.sum, labels: { ...series.labels }, metricName: `${this.name}_sum` },
        { value: series.count, labels: { ...series.labels }, metricName: `${this.name}_count` },
      );
    }
    return Promise.resolve({
      name: this.name,
      help: this.help,
      type: this.type,
      aggregator: this.aggregator,
      values,
    });
  }

  /** Registry.resetMetrics() calls this. */
  reset(): void {
    this.#series.clear();
  }
}

/** One run's observations, counted locally until `commit`. */
export class RunTally {
  readonly #bounds: readonly number[];
  readonly #commit: (counts: Uint32Array, sum: number, count: number) => void;
  #counts: Uint32Array | undefined;
  #sum = 0;
  #count = 0;

  constructor(bounds: readonly number[], commit: (counts: Uint32Array, sum: number, count: number) => void) {
    this.#bounds = bounds;
    this.#commit = commit;
  }

  /** A value above every bound counts only in `+Inf`, `_sum` and `_count`, as in prom-client. */
  observe(value: number): void {
    if (!Number.isFinite(value)) return;
    this.#sum += value;
    this.#count += 1;
    const index = bucketIndex(this.#bounds, value);
    if (index !== -1) (this.#counts ??= new Uint32Array(this.#bounds.length))[index]! += 1;
  }

  /** Adds what was observed since the last commit to the histogram. */
  commit(): void {
    if (this.#count === 0) return;
    this.#commit(this.#counts ?? new Uint32Array(this.#bounds.length), this.#sum, this.#count);
    this.#counts = undefined;
    this.#sum = 0;
    this.#count = 0;
  }
}

/** The slot of the first bound at or above `value`, -1 above every bound (sorted bounds). */
function bucketIndex(bounds: readonly number[], value: number): number {
  for (let index = 0; index < bounds.length; index += 1) {
    if (value <= bounds[index]!) return index;
  }
  return -1;
}
