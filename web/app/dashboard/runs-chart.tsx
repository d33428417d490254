// Runs per minute, with their failures stacked in front by error code (the most frequent code first).

import type { VNode } from 'preact';
import { BarChart } from './bar-chart.tsx';
import type { BarLayer } from './series.ts';
import { ChartCard } from './chart-card.tsx';
import type { ChartProps } from './chart-props.ts';
import { errorLayers } from './error-layers.ts';
import { count } from './format.ts';
import { sum } from './series.ts';

export function RunsChart({ minutes, times }: ChartProps): VNode {
  const layers = errorLayers(minutes);
  const runs: BarLayer = {
    name: 'Runs',
    className: 'dash-runs',
    values: minutes.map((minute) => minute.runs),
  };
  const runsTotal = sum(runs.values, (n) => n);
  const failedTotal = sum(minutes, (minute) => minute.failed);
  const byCode = layers
    .filter((layer) => layer.name !== 'other')
    .map((layer) => `${sum(layer.values, (n) => n)} ${layer.name}`)
    .join(', ');
  const summary = `Runs and errors per minute: ${runsTotal} runs in the last hour, ${failedTotal} failed${byCode === '' ? '' : ` (${byCode})`}`;
  return (
    <ChartCard title="Runs and errors" unit="per minute, errors by code" series={[runs, ...layers]}>
      <BarChart
        title="Runs and errors"
        summary={summary}
        times={times}
        behind={runs}
        layers={layers}
        format={count}
      />
    </ChartCard>
  );
}
