// Rolling per-minute aggregates of the last hour, per chatbot and provider: what the dashboard draws without an
// external Prometheus (TTFT p50/p95, tokens/s, runs, errors by code, active streams).

import type { RunLabels, RunObserver, RunOutcome, RunTrace } from '../core/observer.ts';
import type { MinuteStats, OutcomeCounts, StatsSnapshot } from '../core/stats.ts';
import { weightedPercentile, type WeightedSample } from './percentile.ts';

export type { MinuteStats, OutcomeCounts, RecentStats, StatsResponse, StatsSnapshot } from '../core/stats.ts';

const MINUTE_MS = 60_000;
/** Values kept per minute and series for percentiles; beyond it a reservoir sample keeps them representative. */
const MAX_SAMPLES = 512;
/** The summary figures (the dashboard's tiles) cover the last minutes of the window. */
export const RECENT_MINUTES = 5;

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
  /** The whole server's peak (the hub's count, sampled). */
  activeStreamsMax: number;
  /** Each chatbot's peak: counted at every start and sample, so a view of some chatbots counts only theirs. */
  activeByChatbot: Map<string, number>;
}

export interface StatsFilter {
  /** One chatbot's figures. */
  chatbotId?: string;
  provider?: string;
  /**
   * The chatbots this view may show at all (an organisation admin's): figures, ids, providers, errors and active
   * streams of any other chatbot are left out. Undefined: every chatbot (admins of no organisation).
   */
  chatbotIds?: ReadonlySet<string>;
}

export interface RollingStatsOptions {
  windowMinutes?: number;
  now?: () => number;
  random?: () => number;
}

export class RollingStats implements RunObserver {
  private readonly windowMinutes: number;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly minutes: Minute[] = [];
  /** Runs streaming now, per chatbot (started and not yet finished). */
  private readonly active = new Map<string, number>();

  constructor(options: RollingStatsOptions = {}) {
    this.windowMinutes = options.windowMinutes ?? 60;
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
  }

  runStarted(labels: RunLabels): RunTrace {
    const chatbotId = labels.chatbotId;
    const now = (this.active.get(chatbotId) ?? 0) + 1;
    this.active.set(chatbotId, now);
    const activeByChatbot = this.currentMinute().activeByChatbot;
    activeByChatbot.set(chatbotId, Math.max(activeByChatbot.get(chatbotId) ?? 0, now));
    return new RollingRunTrace(this, labels);
  }

  /** A run ended (its trace's finished). */
  runFinished(labels: RunLabels, outcome: RunOutcome): void {
    const chatbotId = labels.chatbotId;
    const left = (this.active.get(chatbotId) ?? 1) - 1;
    if (left > 0) this.active.set(chatbotId, left);
    else this.active.delete(chatbotId);
    this.record(labels, outcome);
  }

  /** Called periodically (and on demand) with the number of runs streaming now. */
  sampleActiveStreams(active: number): void {
    const minute = this.currentMinute();
    minute.activeStreamsMax = Math.max(minute.activeStreamsMax, active);
    // A run that started in an earlier minute and still streams counts in this one too.
    for (const [chatbotId, count] of this.active) {
      minute.activeByChatbot.set(chatbotId, Math.max(minute.activeByChatbot.get(chatbotId) ?? 0, count));
    }
  }

  /** Runs streaming now: of the chatbots given, or of all. */
  activeStreams(chatbotIds?: ReadonlySet<string>): number {
    let total = 0;
    for (const [chatbotId, count] of this.active) {
      if (chatbotIds === undefined || chatbotIds.has(chatbotId)) total += count;
    }
    return total;
  }

  snapshot(filter: StatsFilter = {}): StatsSnapshot {
    const allowed = filter.chatbotIds;
    // The chatbots whose figures go into the minutes (and their active streams).
    const counted = (chatbotId: string): boolean =>
      (allowed === undefined || allowed.has(chatbotId)) &&
      (filter.chatbotId === undefined || chatbotId === filter.chatbotId);
    const perChatbot = allowed !== undefined || filter.chatbotId !== undefined;
    const current = Math.floor(this.now() / MINUTE_MS) * MINUTE_MS;
    this.prune(current);
    const byStart = new Map(this.minutes.map((minute) => [minute.start, minute]));
    const chatbots = new Set<string>();
    const providers = new Set<string>();
    const minutes: MinuteStats[] = [];
    const recent = { ttft: [] as WeightedSample[], tps: [] as WeightedSample[] };
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
        activeStreamsMax: 0,
      };
      if (!perChatbot) stats.activeStreamsMax = minute?.activeStreamsMax ?? 0;
      else {
        for (const [chatbotId, peak] of minute?.activeByChatbot ?? []) {
          if (counted(chatbotId)) stats.activeStreamsMax += peak;
        }
      }
      const ttft: WeightedSample[] = [];
      const tps: WeightedSample[] = [];
      for (const series of minute?.series.values() ?? []) {
        if (allowed !== undefined && !allowed.has(series.chatbotId)) continue;
        chatbots.add(series.chatbotId);
        providers.add(series.provider);
        if (!counted(series.chatbotId)) continue;
        if (filter.provider !== undefined && series.provider !== filter.provider) continue;
        stats.runs += series.runs;
        stats.complete += series.complete;
        stats.stopped += series.stopped;
        stats.failed += series.failed;
        stats.cached += series.cached;
        for (const [code, count] of Object.entries(series.errors)) {
          stats.errors[code] = (stats.errors[code] ?? 0) + count;
        }
        ttft.push(...weighted(series.ttftMs, series.seen.ttft));
        tps.push(...weighted(series.tokensPerSecond, series.seen.tps));
      }
      stats.ttftP50Ms = weightedPercentile(ttft, 50);
      stats.ttftP95Ms = weightedPercentile(ttft, 95);
      stats.tokensPerSecondP50 = weightedPercentile(tps, 50);
      if (index < RECENT_MINUTES) {
        recent.ttft.push(...ttft);
        recent.tps.push(...tps);
      }
      minutes.push(stats);
    }
    const lastMinutes = minutes.slice(-RECENT_MINUTES);
    return {
      windowMinutes: this.windowMinutes,
      minutes,
      chatbots: [...chatbots].sort(),
      providers: [...providers].sort(),
      recent: {
        minutes: lastMinutes.length,
        runs: lastMinutes.reduce((sum, minute) => sum + minute.runs, 0),
        failed: lastMinutes.reduce((sum, minute) => sum + minute.failed, 0),
        ttftP50Ms: weightedPercentile(recent.ttft, 50),
        ttftP95Ms: weightedPercentile(recent.ttft, 95),
        tokensPerSecondP50: weightedPercentile(recent.tps, 50),
      },
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
    const minute: Minute = { start, series: new Map(), activeStreamsMax: 0, activeByChatbot: new Map() };
    this.minutes.push(minute);
    this.prune(start);
    return minute;
  }

  private prune(current: number): void {
    const oldest = current - (this.windowMinutes - 1) * MINUTE_MS;
    while (this.minutes.length > 0 && (this.minutes[0]?.start ?? 0) < oldest) this.minutes.shift();
  }
}

/** A series' kept values, each standing for its share of the values seen (1 until the reservoir is full). */
function weighted(kept: readonly number[], seen: number): WeightedSample[] {
  const weight = kept.length === 0 ? 0 : Math.max(1, seen / kept.length);
  return kept.map((value) => ({ value, weight }));
}

/** One run's entry in the stats: a class, not an object of closures, as it lives as long as its run (held streams). */
class RollingRunTrace implements RunTrace {
  readonly #stats: RollingStats;
  readonly #labels: RunLabels;

  constructor(stats: RollingStats, labels: RunLabels) {
    this.#stats = stats;
    this.#labels = labels;
  }

  tokenGap(): void {}

  finished(outcome: RunOutcome): void {
    this.#stats.runFinished(this.#labels, outcome);
  }
}
