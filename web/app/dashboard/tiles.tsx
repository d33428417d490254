// The summary tiles: runs and error rate of the hour, TTFT p50/p95 of the last 5 minutes, streams active now.

import type { VNode } from 'preact';
import type { StatsResponse } from '../../client/index.ts';
import { milliseconds, percent } from './format.ts';
import { sum } from './series.ts';

export function Tiles({ stats, filtered }: { stats: StatsResponse; filtered: boolean }): VNode {
  const runs = sum(stats.minutes, (minute) => minute.runs);
  const failed = sum(stats.minutes, (minute) => minute.failed);
  // Percentiles of the last minutes' answers merged by the server (a mean of per-minute percentiles is not one).
  const { ttftP50Ms, ttftP95Ms, minutes } = stats.recent;
  const recentNote = `last ${minutes} minutes`;
  return (
    <dl class="dash-tiles">
      <Tile label="Runs" value={String(runs)} note="in the last hour" />
      <Tile
        label="Error rate"
        value={runs === 0 ? '–' : percent(failed / runs)}
        note={`${failed} of ${runs} ${runs === 1 ? 'run' : 'runs'} failed`}
        alert={failed > 0}
      />
      <Tile label="TTFT p50" value={ttftP50Ms === null ? '–' : milliseconds(ttftP50Ms)} note={recentNote} />
      <Tile label="TTFT p95" value={ttftP95Ms === null ? '–' : milliseconds(ttftP95Ms)} note={recentNote} />
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
