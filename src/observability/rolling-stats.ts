// Rolling per-minute aggregates of the last hour, per chatbot and provider: what the dashboard draws without an
// external Prometheus (TTFT p50/p95, tokens/s, runs, errors by code, active streams).

import type { RunLabels, RunObserver, RunOutcome, RunTrace } from '../core/observer.ts';

const MINUTE_MS = 60_000;
/** Values kept per minute and series for percentiles; beyond it a reservoir sample keeps them representative. */
const MAX_SAMPLES = 512;

/** Answers by outcome, and failures by code. */
export interface OutcomeCounts {
  runs: number;
  complete: number;
  stopped: number;
  failed: number;
  cached: number;
  errors: Record<string, number>;
}

interface Series extends OutcomeCounts {
  chatbotId: string;
  provider: string;
  ttftMs: number[];
  tokensPerSecond: number[];
  seen: { ttft: number; tps: number };
}

interface Minute {
  start: number;
  series: Map<string, Series>;
  activeStreamsMax: number;
}

export interface MinuteStats extends OutcomeCounts {
  /** Epoch ms of the minute's start. */
  start: number;
  ttftP50Ms: number | null;
  ttftP95Ms: number | null;
  tokensPerSecondP50: number | null;
  /** Most runs streaming at once during the minute (sampled). */
  activeStreamsMax: number;
}

export interface StatsSnapshot {
  windowMinutes: number;
  /** Oldest first; minutes with no runs are present with zeros, so a chart's x axis is regular. */
  minutes: MinuteStats[];
  chatbots: string[];
  providers: string[];
}

export interface RollingStatsOptions {
  windowMinutes?: number;
  now?: () => number;
  random?: () => number;
}

export function percentile(values: readonly number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = values.toSorted((a, b) => a - b);
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index] ?? null;
}

export class RollingStats implements RunObserver {
  private readonly windowMinutes: number;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly minutes: Minute[] = [];

  constructor(options: RollingStatsOptions = {}) {
    this.windowMinutes = options.windowMinutes ?? 60;
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
  }

  runStarted(labels: RunLabels): RunTrace {
    return {
      tokenGap() {},
      finished: (outcome) => this.record(labels, outcome),
    };
  }

  /** Called periodically (and on demand) with the number of runs streaming now. */
  sampleActiveStreams(active: number): void {
    const minute = this.currentMinute();
    minute.activeStreamsMax = Math.max(minute.activeStreamsMax, active);
  }

  snapshot(filter: { chatbotId?: string; provider?: string } = {}): StatsSnapshot {
    const current = Math.floor(this.now() / MINUTE_MS) * MINUTE_MS;
    this.prune(current);
    const byStart = new Map(this.minutes.map((minute) => [minute.start, minute]));
    const chatbots = new Set<string>();
    const providers = new Set<string>();
    const minutes: MinuteStats[] = [];
    for (let index = this.windowMinutes - 1; index >= 0; index -= 1) {
      const start = current - index * MINUTE_MS;
      const minute = byStart.get(start);
      const stats: MinuteStats = {
        start,
        runs: 0,
        complete: 0,
        stopped: 0,
        failed: 0,
        cached: 0,
        errors: {},
        ttftP50Ms: null,
        ttftP95Ms: null,
        tokensPerSecondP50: null,
        activeStreamsMax: minute?.activeStreamsMax ?? 0,
      };
      const ttft: number[] = [];
      const tps: number[] = [];
      for (const series of minute?.series.values() ?? []) {
        chatbots.add(series.chatbotId);
        providers.add(series.provider);
        if (filter.chatbotId !== undefined && series.chatbotId !== filter.chatbotId) continue;
        if (filter.provider !== undefined && series.provider !== filter.provider) continue;
        stats.runs += series.runs;
        stats.complete += series.complete;
        stats.stopped += series.stopped;
        stats.failed += series.failed;
        stats.cached += series.cached;
        for (const [code, count] of Object.entries(series.errors)) {
          stats.errors[code] = (stats.errors[code] ?? 0) + count;
        }
        ttft.push(...series.ttftMs);
        tps.push(...series.tokensPerSecond);
      }
      stats.ttftP50Ms = percentile(ttft, 50);
      stats.ttftP95Ms = percentile(ttft, 95);
      stats.tokensPerSecondP50 = percentile(tps, 50);
      minutes.push(stats);
    }
    return {
      windowMinutes: this.windowMinutes,
      minutes,
      chatbots: [...chatbots].sort(),
      providers: [...providers].sort(),
    };
  }

  private record(labels: RunLabels, outcome: RunOutcome): void {
    const minute = this.currentMinute();
    const key = `${labels.chatbotId}\u0000${labels.provider}`;
    let series = minute.series.get(key);
    if (series === undefined) {
      series = {
        chatbotId: labels.chatbotId,
        provider: labels.provider,
        runs: 0,
        complete: 0,
        stopped: 0,
        failed: 0,
        cached: 0,
        errors: {},
        ttftMs: [],
        tokensPerSecond: [],
        seen: { ttft: 0, tps: 0 },
      };
      minute.series.set(key, series);
    }
    series.runs += 1;
    series[outcome.status] += 1;
    if (outcome.cached) series.cached += 1;
    if (outcome.status === 'failed' && outcome.errorCode !== undefined) {
      series.errors[outcome.errorCode] = (series.errors[outcome.errorCode] ?? 0) + 1;
    }
    if (outcome.ttftMs !== null) {
      series.seen.ttft += 1;
      this.keep(series.ttftMs, outcome.ttftMs, series.seen.ttft);
    }
    const generateMs = outcome.phases.generate;
    if (outcome.status === 'complete' && !outcome.cached && generateMs !== undefined && generateMs > 0) {
      series.seen.tps += 1;
      this.keep(series.tokensPerSecond, outcome.outputTokens / (generateMs / 1000), series.seen.tps);
    }
  }

  /** Reservoir sampling: every value seen has the same chance of being among the kept ones. */
  private keep(values: number[], value: number, seen: number): void {
    if (values.length < MAX_SAMPLES) {
      values.push(value);
      return;
    }
    const slot = Math.floor(this.random() * seen);
    if (slot < MAX_SAMPLES) values[slot] = value;
  }

  private currentMinute(): Minute {
    const start = Math.floor(this.now() / MINUTE_MS) * MINUTE_MS;
    const last = this.minutes.at(-1);
    // Same minute, or a clock that stepped back: keep adding to the newest minute.
    if (last !== undefined && start <= last.start) return last;
    const minute: Minute = { start, series: new Map(), activeStreamsMax: 0 };
    this.minutes.push(minute);
    this.prune(start);
    return minute;
  }

  private prune(current: number): void {
    const oldest = current - (this.windowMinutes - 1) * MINUTE_MS;
    while (this.minutes.length > 0 && (this.minutes[0]?.start ?? 0) < oldest) this.minutes.shift();
  }
}
