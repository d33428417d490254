// The benchmarks' percentiles and tables are the CLI's (src/cli/stats.ts, which ships; bench/ does not).

export { formatNumber, markdownTable, percentile } from '../src/cli/stats.ts';
