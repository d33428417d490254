// What every chart has around its marks: axes, grid, time ticks, hover hints and a hidden data table.

import type { ComponentChildren, VNode } from 'preact';
import { clock } from './format.ts';
import { CHART_HEIGHT, CHART_PADDING, chartFrame, yTicks, type Frame } from './scales.ts';
import { useWidth } from './use-width.ts';

export interface ChartBase {
  /** Names the hidden data table. */
  title: string;
  /** The accessible name of the drawing: what the latest value is. */
  summary: string;
  /** Epoch ms of each minute's start, oldest first. */
  times: number[];
  format: (value: number) => string;
}

export interface ChartShellProps extends ChartBase {
  /** Minutes as bands (bars) rather than points (lines). */
  bands: boolean;
  max: number;
  integer: boolean;
  empty: boolean;
  columns: string[];
  rows: { time: number; cells: (number | null)[] }[];
  hint: (index: number) => string;
  children: (frame: Frame) => ComponentChildren;
}

export function ChartShell(props: ChartShellProps): VNode {
  const [box, width] = useWidth(480);
  const { times, format } = props;
  const ticks = yTicks(props.max, props.integer);
  const frame = chartFrame({ width, count: times.length, top: ticks.at(-1) ?? 1, bands: props.bands });
  const { plotWidth, plotHeight, slot } = frame;
  const pad = CHART_PADDING;
  const timeTicks = times.flatMap((time, index) => (new Date(time).getMinutes() % 15 === 0 ? [index] : []));

  return (
    <div class="dash-chart" ref={box}>
      <svg
        role="img"
        aria-label={props.summary}
        width={width}
        height={CHART_HEIGHT}
        viewBox={`0 0 ${width} ${CHART_HEIGHT}`}
      >
        <g class="dash-grid-lines" aria-hidden="true">
          {ticks.map((tick) => (
            <g key={tick}>
              <line x1={pad.left} x2={pad.left + plotWidth} y1={frame.y(tick)} y2={frame.y(tick)} />
              <text
                class="dash-axis"
                x={pad.left - 6}
                y={frame.y(tick)}
                text-anchor="end"
                dominant-baseline="middle"
              >
                {format(tick)}
              </text>
            </g>
          ))}
          {timeTicks.map((index) => (
            <text
              key={index}
              class="dash-axis"
              x={frame.x(index)}
              y={CHART_HEIGHT - 6}
              text-anchor={index === 0 ? 'start' : index === times.length - 1 ? 'end' : 'middle'}
            >
              {clock(times[index] ?? 0)}
            </text>
          ))}
        </g>
        {props.children(frame)}
        {props.empty ? (
          <text
            class="dash-empty"
            x={pad.left + plotWidth / 2}
            y={pad.top + plotHeight / 2}
            text-anchor="middle"
          >
            No data in the last hour
          </text>
        ) : null}
        <g class="dash-hover">
          {times.map((time, index) => (
            <rect
              key={time}
              x={Math.max(pad.left, frame.x(index) - slot / 2)}
              y={pad.top}
              width={
                Math.min(frame.x(index) + slot / 2, pad.left + plotWidth) -
                Math.max(pad.left, frame.x(index) - slot / 2)
              }
              height={plotHeight}
            >
              <title>{`${clock(time)} · ${props.hint(index)}`}</title>
            </rect>
          ))}
        </g>
      </svg>
      <table class="rv-sr-only">
        <caption>
          {props.title}, per minute{props.rows.length === 0 ? ': no data in the last hour' : ''}
        </caption>
        <thead>
          <tr>
            <th scope="col">Minute</th>
            {props.columns.map((column) => (
              <th key={column} scope="col">
                {column}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {props.rows.map((row) => (
            <tr key={row.time}>
              <th scope="row">{clock(row.time)}</th>
              {row.cells.map((cell, index) => (
                <td key={index}>{cell === null ? '–' : format(cell)}</td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
