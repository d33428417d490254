// What GET /api/stats answers: the dashboard's rolling figures (per minute, and the last minutes as one span). The
// shapes only, so the client SDK can type them without the server's aggregation code (src/observability).

/** Answers by outcome, and failures by code. */
export interface OutcomeCounts {
  runs: number;
  complete: number;
  stopped: number;
  failed: number;
  cached: number;
  errors: Record<string, number>;
}

export interface MinuteStats extends OutcomeCounts {
  /** Epoch ms of the minute's start. */
  start: number;
  ttftP50Ms: number | null;
  ttftP95Ms: number | null;
  tokensPerSecondP50: number | null;
  /**
   * Most runs streaming at once during the minute: the whole server's (sampled) when unfiltered; for a view of some
   * chatbots, the sum of each one's peak (exact for one chatbot, an upper bound for several).
   */
  activeStreamsMax: number;
}

/** Figures over the last few minutes (RECENT_MINUTES), from their samples merged (never averaged percentiles). */
export interface RecentStats {
  minutes: number;
  runs: number;
  failed: number;
  ttftP50Ms: number | null;
  ttftP95Ms: number | null;
  tokensPerSecondP50: number | null;
}

export interface StatsSnapshot {
  windowMinutes: number;
  /** Oldest first; minutes with no runs are present with zeros, so a chart's x axis is regular. */
  minutes: MinuteStats[];
  /** Chatbots with runs in the window (only those in `chatbotIds` when the view is limited to some). */
  chatbots: string[];
  /** Providers that answered them. */
  providers: string[];
  /** The last few minutes as one span (the dashboard's TTFT tiles). */
  recent: RecentStats;
}

/** GET /api/stats: the snapshot, and the runs streaming now. */
export interface StatsResponse extends StatsSnapshot {
  /** Runs streaming now (of the chatbots in view; the whole server's when unfiltered). */
  activeStreams: number;
}
