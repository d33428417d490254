// Bars per minute: the layers stacked, and optionally one drawn behind them from zero (runs behind errors).

import type { VNode } from 'preact';
import { ChartShell, type ChartBase } from './chart-shell.tsx';
import { sum, type BarLayer } from './series.ts';

export function BarChart(props: ChartBase & { layers: BarLayer[]; behind?: BarLayer }): VNode {
  const { times, layers, behind } = props;
  const stackTotals = times.map((_, index) => sum(layers, (layer) => layer.values[index] ?? 0));
  const max = Math.max(0, ...stackTotals, ...(behind?.values ?? []));
  const all = behind === undefined ? layers : [behind, ...layers];
  const rows = times.flatMap((time, index) =>
    all.some((layer) => (layer.values[index] ?? 0) > 0)
      ? [{ time, cells: all.map((layer) => layer.values[index] ?? 0) }]
      : [],
  );
  return (
    <ChartShell
      {...props}
      bands
      max={max}
      integer
      empty={false}
      columns={all.map((layer) => layer.name)}
      rows={rows}
      hint={(index) =>
        all.map((layer) => `${layer.name} ${props.format(layer.values[index] ?? 0)}`).join(' · ')
      }
    >
      {(frame) => {
        const barWidth = Math.max(1, frame.slot * 0.72);
        const left = (index: number): number => frame.x(index) - barWidth / 2;
        const rect = (
          key: string,
          index: number,
          from: number,
          to: number,
          className: string,
        ): VNode | null =>
          to <= from ? null : (
            <rect
              key={key}
              class={className}
              x={left(index)}
              y={frame.y(to)}
              width={barWidth}
              height={Math.max(0, frame.y(from) - frame.y(to))}
              rx={Math.min(2, barWidth / 3)}
            />
          );
        return (
          <g class="dash-bars">
            {behind?.values.map((value, index) => rect(`b${index}`, index, 0, value, behind.className))}
            {times.map((_, index) => {
              let base = 0;
              return layers.map((layer) => {
                const value = layer.values[index] ?? 0;
                const bar = rect(`${layer.name}${index}`, index, base, base + value, layer.className);
                base += value;
                return bar;
              });
            })}
          </g>
        );
      }}
    </ChartShell>
  );
}
