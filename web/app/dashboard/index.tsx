// The metrics dashboard: the last hour per minute from the server's own rolling aggregates (GET /api/stats), per
// chatbot and provider: TTFT p50/p95, tokens/s, active streams, runs and errors by code. No external Prometheus.
// Charts are small hand-written SVG components, themed by the --rv-* variables (so dark mode follows).

import type { VNode } from 'preact';
import { useState } from 'preact/hooks';
import type { RivuletClient } from '../../client/index.ts';
import { ActiveChart } from './active-chart.tsx';
import { ALL, FilterSelect } from './filter-select.tsx';
import { clock } from './format.ts';
import { RunsChart } from './runs-chart.tsx';
import { Tiles } from './tiles.tsx';
import { TokensChart } from './tokens-chart.tsx';
import { TtftChart } from './ttft-chart.tsx';
import { REFRESH_MS, useStats } from './use-stats.ts';
import './dashboard.css';

export function DashboardView({ client }: { client: RivuletClient }): VNode {
  const [chatbotId, setChatbotId] = useState(ALL);
  const [provider, setProvider] = useState(ALL);
  const { stats, error, updatedAt } = useStats(client, {
    ...(chatbotId === ALL ? {} : { chatbotId }),
    ...(provider === ALL ? {} : { provider }),
  });
  const minutes = stats?.minutes ?? [];
  const times = minutes.map((minute) => minute.start);

  return (
    <section class="dash" aria-label="Dashboard">
      <div class="dash-bar">
        <h2>Last hour</h2>
        <FilterSelect
          label="Chatbot"
          allLabel="All chatbots"
          options={stats?.chatbots ?? []}
          value={chatbotId}
          onChange={setChatbotId}
        />
        <FilterSelect
          label="Provider"
          allLabel="All providers"
          options={stats?.providers ?? []}
          value={provider}
          onChange={setProvider}
        />
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
          <Tiles stats={stats} filtered={chatbotId !== ALL || provider !== ALL} />
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
