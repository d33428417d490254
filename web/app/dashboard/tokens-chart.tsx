// Output tokens per second per minute: the p50 of complete answers.

import type { VNode } from 'preact';
import { ChartCard } from './chart-card.tsx';
import type { ChartProps } from './chart-props.ts';
import { clock, rate } from './format.ts';
import { LineChart } from './line-chart.tsx';
import { lastIndex, type LineSeries } from './series.ts';

export function TokensChart({ minutes, times }: ChartProps): VNode {
  const series: LineSeries[] = [
    { name: 'p50', className: 'dash-s3', values: minutes.map((minute) => minute.tokensPerSecondP50) },
  ];
  const at = minutes[lastIndex(minutes, (minute) => minute.tokensPerSecondP50 !== null)];
  const summary =
    at === undefined
      ? 'Tokens per second: no complete answers in the last hour'
      : `Tokens per second at ${clock(at.start)}: p50 ${rate(at.tokensPerSecondP50 ?? 0)}`;
  return (
    <ChartCard title="Tokens per second" unit="p50 of complete answers">
      <LineChart title="Tokens per second" summary={summary} times={times} series={series} format={rate} />
    </ChartCard>
  );
}
