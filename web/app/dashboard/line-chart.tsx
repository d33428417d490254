// A line per series, broken where a minute has no value; a lone value is drawn as a dot.

import type { VNode } from 'preact';
import { ChartShell, type ChartBase } from './chart-shell.tsx';
import { linePath } from './scales.ts';
import type { LineSeries } from './series.ts';

export function LineChart(props: ChartBase & { series: LineSeries[] }): VNode {
  const { times, series } = props;
  const max = Math.max(0, ...series.flatMap((one) => one.values.map((value) => value ?? 0)));
  const rows = times.flatMap((time, index) =>
    series.some((one) => one.values[index] != null)
      ? [{ time, cells: series.map((one) => one.values[index] ?? null) }]
      : [],
  );
  return (
    <ChartShell
      {...props}
      bands={false}
      max={max}
      integer={false}
      empty={rows.length === 0}
      columns={series.map((one) => one.name)}
      rows={rows}
      hint={(index) =>
        series
          .map((one) => `${one.name} ${one.values[index] == null ? '–' : props.format(one.values[index])}`)
          .join(' · ')
      }
    >
      {(frame) =>
        series.map((one) => {
          const points = one.values.map((value, index) =>
            value === null ? null : { x: frame.x(index), y: frame.y(value) },
          );
          const lone = points.flatMap((point, index) =>
            point !== null && points[index - 1] == null && points[index + 1] == null ? [point] : [],
          );
          return (
            <g key={one.name} class={`dash-line ${one.className}`}>
              <path d={linePath(points)} />
              {lone.map((point) => (
                <circle key={point.x} cx={point.x} cy={point.y} r={3} />
              ))}
            </g>
          );
        })
      }
    </ChartShell>
  );
}
