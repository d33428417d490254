// Active streams: the most at once in each minute.

import type { VNode } from 'preact';
import { BarChart } from './bar-chart.tsx';
import type { BarLayer } from './series.ts';
import { ChartCard } from './chart-card.tsx';
import type { ChartProps } from './chart-props.ts';
import { count } from './format.ts';

export function ActiveChart({ minutes, times }: ChartProps): VNode {
  const values = minutes.map((minute) => minute.activeStreamsMax);
  const layers: BarLayer[] = [{ name: 'Active streams', className: 'dash-s4', values }];
  const summary = `Active streams: ${values.at(-1) ?? 0} this minute, at most ${Math.max(0, ...values)} in the last hour`;
  return (
    <ChartCard title="Active streams" unit="most at once per minute, all chatbots">
      <BarChart title="Active streams" summary={summary} times={times} layers={layers} format={count} />
    </ChartCard>
  );
}
