// Time to first token per minute: p50 and p95 lines.

import type { VNode } from 'preact';
import { ChartCard } from './chart-card.tsx';
import type { ChartProps } from './chart-props.ts';
import { clock, milliseconds } from './format.ts';
import { LineChart } from './line-chart.tsx';
import { lastIndex, type LineSeries } from './series.ts';

export function TtftChart({ minutes, times }: ChartProps): VNode {
  const series: LineSeries[] = [
    { name: 'p50', className: 'dash-s1', values: minutes.map((minute) => minute.ttftP50Ms) },
    { name: 'p95', className: 'dash-s2', values: minutes.map((minute) => minute.ttftP95Ms) },
  ];
  const at = minutes[lastIndex(minutes, (minute) => minute.ttftP50Ms !== null)];
  const summary =
    at === undefined
      ? 'Time to first token: no answers in the last hour'
      : `Time to first token at ${clock(at.start)}: p50 ${milliseconds(at.ttftP50Ms ?? 0)}, p95 ${milliseconds(at.ttftP95Ms ?? 0)}`;
  return (
    <ChartCard title="Time to first token" unit="p50 and p95" series={series}>
      <LineChart
        title="Time to first token"
        summary={summary}
        times={times}
        series={series}
        format={milliseconds}
      />
    </ChartCard>
  );
}
