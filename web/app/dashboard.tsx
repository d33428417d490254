// The metrics dashboard: the last hour per minute from the server's own rolling aggregates (GET /api/stats), per
// chatbot and provider: TTFT p50/p95, tokens/s, active streams, runs and errors by code. No external Prometheus.
// Charts are small hand-written SVG components, themed by the --rv-* variables (so dark mode follows).

import type { ComponentChildren, VNode } from 'preact';
import { useCallback, useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { RivuletClientError, type RivuletClient } from '../client/index.ts';
import type { MinuteStats, StatsSnapshot } from '../../src/observability/rolling-stats.ts';
import './dashboard.css';

/** GET /api/stats: the server's snapshot (minutes oldest first, every minute present) and the streams active now. */
export interface StatsResponse extends StatsSnapshot {
  activeStreams: number;
}

const REFRESH_MS = 5_000;
/** The tiles' TTFT figures cover the last minutes of the window. */
const RECENT_MINUTES = 5;
const ALL = '';

export function DashboardView({ client }: { client: RivuletClient }): VNode {
  const [chatbotId, setChatbotId] = useState(ALL);
  const [provider, setProvider] = useState(ALL);
  const [stats, setStats] = useState<StatsResponse | null>(null);
  const [error, setError] = useState<{ code: string; message: string } | null>(null);
  const [updatedAt, setUpdatedAt] = useState<number | null>(null);
  // Only the answer to the latest request is shown (a slow one for an old filter must not overwrite it).
  const latest = useRef(0);

  const refresh = useCallback(() => {
    const request = ++latest.current;
    const query = new URLSearchParams();
    if (chatbotId !== ALL) query.set('chatbotId', chatbotId);
    if (provider !== ALL) query.set('provider', provider);
    const suffix = query.size > 0 ? `?${query.toString()}` : '';
    client
      .request(`/api/stats${suffix}`)
      .then((response) => response.json() as Promise<StatsResponse>)
      .then(
        (body) => {
          if (request !== latest.current) return;
          setStats(body);
          setError(null);
          setUpdatedAt(Date.now());
        },
        (failure: unknown) => {
          if (request !== latest.current) return;
          setError(
            failure instanceof RivuletClientError
              ? { code: failure.code, message: failure.message }
              : { code: 'UNKNOWN', message: 'The statistics could not be read.' },
          );
        },
      );
  }, [client, chatbotId, provider]);

  // At once (and on each filter change), then every 5 s while the page is visible.
  useEffect(() => {
    refresh();
    const timer = setInterval(() => {
      if (!document.hidden) refresh();
    }, REFRESH_MS);
    const onVisibility = (): void => {
      if (!document.hidden) refresh();
    };
    document.addEventListener('visibilitychange', onVisibility);
    return () => {
      clearInterval(timer);
      document.removeEventListener('visibilitychange', onVisibility);
    };
  }, [refresh]);

  const minutes = stats?.minutes ?? [];
  const times = minutes.map((minute) => minute.start);
  const filtered = chatbotId !== ALL || provider !== ALL;

  return (
    <section class="dash" aria-label="Dashboard">
      <div class="dash-bar">
        <h2>Last hour</h2>
        <label>
          Chatbot
          <select
            value={chatbotId}
            onChange={(event) => setChatbotId((event.target as HTMLSelectElement).value)}
          >
            <option value={ALL}>All chatbots</option>
            {withSelected(stats?.chatbots ?? [], chatbotId).map((id) => (
              <option key={id} value={id}>
                {id}
              </option>
            ))}
          </select>
        </label>
        <label>
          Provider
          <select
            value={provider}
            onChange={(event) => setProvider((event.target as HTMLSelectElement).value)}
          >
            <option value={ALL}>All providers</option>
            {withSelected(stats?.providers ?? [], provider).map((id) => (
              <option key={id} value={id}>
                {id}
              </option>
            ))}
          </select>
        </label>
        <span class="dash-updated">
          {updatedAt === null
            ? 'Loading…'
            : `Updated ${clock(updatedAt, true)} · every ${REFRESH_MS / 1000} s`}
        </span>
      </div>
      {error !== null ? (
        <p class="rv-error dash-error" role="alert">
          The statistics could not be loaded: {error.message} <span class="rv-code-tag">{error.code}</span>
        </p>
      ) : null}
      {stats === null ? null : (
        <>
          <Tiles stats={stats} filtered={filtered} />
          <div class="dash-grid">
            <TtftChart minutes={minutes} times={times} />
            <TokensChart minutes={minutes} times={times} />
            <ActiveChart minutes={minutes} times={times} />
            <RunsChart minutes={minutes} times={times} />
          </div>
        </>
      )}
    </section>
  );
}

/** The options, plus the selected one when it is no longer in the window (so the select still shows it). */
function withSelected(options: string[], selected: string): string[] {
  return selected === ALL || options.includes(selected) ? options : [...options, selected].sort();
}

function Tiles({ stats, filtered }: { stats: StatsResponse; filtered: boolean }): VNode {
  const runs = sum(stats.minutes, (minute) => minute.runs);
  const failed = sum(stats.minutes, (minute) => minute.failed);
  const recent = stats.minutes.slice(-RECENT_MINUTES);
  const p50 = recentPercentile(recent, 'ttftP50Ms');
  const p95 = recentPercentile(recent, 'ttftP95Ms');
  return (
    <dl class="dash-tiles">
      <Tile label="Runs" value={String(runs)} note="in the last hour" />
      <Tile
        label="Error rate"
        value={runs === 0 ? '–' : percent(failed / runs)}
        note={`${failed} of ${runs} ${runs === 1 ? 'run' : 'runs'} failed`}
        alert={failed > 0}
      />
      <Tile label="TTFT p50" value={p50 === null ? '–' : milliseconds(p50)} note="last 5 minutes" />
      <Tile label="TTFT p95" value={p95 === null ? '–' : milliseconds(p95)} note="last 5 minutes" />
      <Tile
        label="Active streams"
        value={String(stats.activeStreams)}
        note={filtered ? 'now, all chatbots and providers' : 'now'}
      />
    </dl>
  );
}

function Tile(props: { label: string; value: string; note: string; alert?: boolean }): VNode {
  return (
    <div class={`dash-tile${props.alert === true ? ' dash-alert' : ''}`}>
      <dt>{props.label}</dt>
      <dd class="dash-value">{props.value}</dd>
      <dd class="dash-note">{props.note}</dd>
    </div>
  );
}

/**
 * The server keeps percentiles per minute only, so a figure over several minutes is the mean of the minutes'
 * percentiles weighted by their answered runs: exact when one minute has data, close otherwise.
 */
function recentPercentile(minutes: MinuteStats[], key: 'ttftP50Ms' | 'ttftP95Ms'): number | null {
  let weighted = 0;
  let weights = 0;
  for (const minute of minutes) {
    const value = minute[key];
    if (value === null) continue;
    const weight = Math.max(1, minute.runs - minute.failed);
    weighted += value * weight;
    weights += weight;
  }
  return weights === 0 ? null : weighted / weights;
}

interface ChartProps {
  minutes: MinuteStats[];
  times: number[];
}

function TtftChart({ minutes, times }: ChartProps): VNode {
  const series: LineSeries[] = [
    { name: 'p50', className: 'dash-s1', values: minutes.map((minute) => minute.ttftP50Ms) },
    { name: 'p95', className: 'dash-s2', values: minutes.map((minute) => minute.ttftP95Ms) },
  ];
  const last = lastIndex(minutes, (minute) => minute.ttftP50Ms !== null);
  const at = minutes[last];
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

function TokensChart({ minutes, times }: ChartProps): VNode {
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

function ActiveChart({ minutes, times }: ChartProps): VNode {
  const values = minutes.map((minute) => minute.activeStreamsMax);
  const layers: BarLayer[] = [{ name: 'Active streams', className: 'dash-s4', values }];
  const summary = `Active streams: ${values.at(-1) ?? 0} this minute, at most ${Math.max(0, ...values)} in the last hour`;
  return (
    <ChartCard title="Active streams" unit="most at once per minute, all chatbots">
      <BarChart title="Active streams" summary={summary} times={times} layers={layers} format={count} />
    </ChartCard>
  );
}

function RunsChart({ minutes, times }: ChartProps): VNode {
  const totals = new Map<string, number>();
  for (const minute of minutes) {
    for (const [code, n] of Object.entries(minute.errors)) totals.set(code, (totals.get(code) ?? 0) + n);
  }
  const codes = [...totals.keys()].sort(
    (a, b) => (totals.get(b) ?? 0) - (totals.get(a) ?? 0) || a.localeCompare(b),
  );
  const layers: BarLayer[] = codes.map((code, index) => ({
    name: code,
    className: `dash-e${index % 4}`,
    values: minutes.map((minute) => minute.errors[code] ?? 0),
  }));
  // A failure recorded without a code still counts as an error.
  const uncoded = minutes.map((minute) =>
    Math.max(0, minute.failed - sum(Object.values(minute.errors), (n) => n)),
  );
  if (uncoded.some((n) => n > 0)) layers.push({ name: 'other', className: 'dash-e-other', values: uncoded });
  const runs: BarLayer = {
    name: 'Runs',
    className: 'dash-runs',
    values: minutes.map((minute) => minute.runs),
  };

  const runsTotal = sum(runs.values, (n) => n);
  const failedTotal = sum(minutes, (minute) => minute.failed);
  const byCode = codes.map((code) => `${totals.get(code)} ${code}`).join(', ');
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

function ChartCard(props: {
  title: string;
  unit: string;
  series?: { name: string; className: string }[];
  children: ComponentChildren;
}): VNode {
  return (
    <figure class="dash-card">
      <figcaption>
        <h3>{props.title}</h3>
        <span class="dash-unit">{props.unit}</span>
      </figcaption>
      {props.children}
      {props.series !== undefined && props.series.length > 0 ? (
        <ul class="dash-legend" aria-label={`${props.title} legend`}>
          {props.series.map((series) => (
            <li key={series.name}>
              <span class={`dash-swatch ${series.className}`} aria-hidden="true" />
              {series.name}
            </li>
          ))}
        </ul>
      ) : null}
    </figure>
  );
}

// ---- Charts -------------------------------------------------------------------------------------------------------

export interface LineSeries {
  name: string;
  /** Sets the stroke colour (see dashboard.css). */
  className: string;
  /** One per minute; null where the minute has no value (drawn as a gap, never as zero). */
  values: (number | null)[];
}

export interface BarLayer {
  name: string;
  className: string;
  values: number[];
}

interface ChartBase {
  /** Names the hidden data table. */
  title: string;
  /** The accessible name of the drawing: what the latest value is. */
  summary: string;
  /** Epoch ms of each minute's start, oldest first. */
  times: number[];
  format: (value: number) => string;
}

const HEIGHT = 168;
const PAD = { top: 10, right: 10, bottom: 22, left: 48 };

interface Frame {
  plotWidth: number;
  plotHeight: number;
  /** Horizontal room per minute. */
  slot: number;
  /** A minute's x: its point (lines) or the middle of its band (bars). */
  x: (index: number) => number;
  y: (value: number) => number;
}

/** A line per series, broken where a minute has no value; a lone value is drawn as a dot. */
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

/** Bars per minute: the layers stacked, and optionally one drawn behind them from zero (runs behind errors). */
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

/** Axes, grid, time ticks, hover hints and the hidden data table shared by both charts. */
function ChartShell(
  props: ChartBase & {
    /** Minutes as bands (bars) rather than points (lines). */
    bands: boolean;
    max: number;
    integer: boolean;
    empty: boolean;
    columns: string[];
    rows: { time: number; cells: (number | null)[] }[];
    hint: (index: number) => string;
    children: (frame: Frame) => ComponentChildren;
  },
): VNode {
  const [box, width] = useWidth(480);
  const { times, format } = props;
  const ticks = yTicks(props.max, props.integer);
  const top = ticks.at(-1) ?? 1;
  const plotWidth = Math.max(10, width - PAD.left - PAD.right);
  const plotHeight = HEIGHT - PAD.top - PAD.bottom;
  const slot = props.bands
    ? plotWidth / Math.max(1, times.length)
    : plotWidth / Math.max(1, times.length - 1);
  const frame: Frame = {
    plotWidth,
    plotHeight,
    slot,
    x: (index) =>
      props.bands
        ? PAD.left + (index + 0.5) * slot
        : PAD.left + (times.length <= 1 ? plotWidth / 2 : index * slot),
    y: (value) => PAD.top + plotHeight - (Math.min(value, top) / top) * plotHeight,
  };
  const timeTicks = times.flatMap((time, index) => (new Date(time).getMinutes() % 15 === 0 ? [index] : []));

  return (
    <div class="dash-chart" ref={box}>
      <svg
        role="img"
        aria-label={props.summary}
        width={width}
        height={HEIGHT}
        viewBox={`0 0 ${width} ${HEIGHT}`}
      >
        <g class="dash-grid-lines" aria-hidden="true">
          {ticks.map((tick) => (
            <g key={tick}>
              <line x1={PAD.left} x2={PAD.left + plotWidth} y1={frame.y(tick)} y2={frame.y(tick)} />
              <text
                class="dash-axis"
                x={PAD.left - 6}
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
              y={HEIGHT - 6}
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
            x={PAD.left + plotWidth / 2}
            y={PAD.top + plotHeight / 2}
            text-anchor="middle"
          >
            No data in the last hour
          </text>
        ) : null}
        <g class="dash-hover">
          {times.map((time, index) => (
            <rect
              key={time}
              x={Math.max(PAD.left, frame.x(index) - slot / 2)}
              y={PAD.top}
              width={
                Math.min(frame.x(index) + slot / 2, PAD.left + plotWidth) -
                Math.max(PAD.left, frame.x(index) - slot / 2)
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

/** The element's width in CSS pixels, followed as it resizes. */
function useWidth(initial: number): [(element: HTMLDivElement | null) => void, number] {
  const [width, setWidth] = useState(initial);
  const element = useRef<HTMLDivElement | null>(null);
  useLayoutEffect(() => {
    const node = element.current;
    if (node === null) return undefined;
    const measure = (): void => setWidth(Math.max(120, Math.floor(node.clientWidth)));
    measure();
    const observer = new ResizeObserver(measure);
    observer.observe(node);
    return () => observer.disconnect();
  }, []);
  return [(node) => (element.current = node), width];
}

/** Four or so round steps from zero to just above the largest value. */
export function yTicks(max: number, integer: boolean): number[] {
  const raw = max > 0 ? max / 4 : 0.25;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step0 =
    [1, 2, 2.5, 5, 10].map((factor) => factor * magnitude).find((candidate) => candidate >= raw) ?? raw;
  const step = integer ? Math.max(1, Math.ceil(step0)) : step0;
  const top = Math.max(step, Math.ceil(max / step - 1e-9) * step);
  const ticks: number[] = [];
  for (let tick = 0; tick <= top + step / 2; tick += step) ticks.push(Number(tick.toPrecision(12)));
  return ticks;
}

/** The path of a line with gaps: a new subpath after each missing value. */
export function linePath(points: ({ x: number; y: number } | null)[]): string {
  let d = '';
  let drawing = false;
  for (const point of points) {
    if (point === null) {
      drawing = false;
      continue;
    }
    d += `${drawing ? 'L' : 'M'}${point.x.toFixed(1)} ${point.y.toFixed(1)}`;
    drawing = true;
  }
  return d;
}

function lastIndex<T>(items: T[], test: (item: T) => boolean): number {
  for (let index = items.length - 1; index >= 0; index -= 1) if (test(items[index] as T)) return index;
  return -1;
}

function sum<T>(items: readonly T[], value: (item: T) => number): number {
  return items.reduce((total, item) => total + value(item), 0);
}

function clock(time: number, seconds = false): string {
  const date = new Date(time);
  const parts = [date.getHours(), date.getMinutes(), ...(seconds ? [date.getSeconds()] : [])];
  return parts.map((part) => String(part).padStart(2, '0')).join(':');
}

function milliseconds(value: number): string {
  if (value >= 1000) return `${trim(value / 1000)} s`;
  return `${Math.round(value)} ms`;
}

function rate(value: number): string {
  return value >= 100 ? String(Math.round(value)) : trim(value);
}

function count(value: number): string {
  return String(Math.round(value));
}

function percent(ratio: number): string {
  return `${Number((ratio * 100).toFixed(1))}%`;
}

/** One decimal from 10 up, two below, no trailing zeros. */
function trim(value: number): string {
  return String(Number(value.toFixed(value >= 10 ? 1 : 2)));
}
