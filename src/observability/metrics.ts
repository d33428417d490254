// Prometheus metrics with prom-client: implements the core's Observer and serves the text format for GET /metrics.
// One Registry per app (tests start many apps in one process). Labels: chatbot, provider, code, phase, status,
// cached (and `to` on failovers) — bounded sets from configuration and the error catalogue, never user or run ids.
// Every metric is listed in docs/operations.md.

import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Observer, RunLabels, RunOutcome, RunTrace } from '../core/observer.ts';
import type { RunHubStats } from '../core/run-hub.ts';
import { RunHistogram, type RunTally } from './run-histogram.ts';

const PREFIX = 'rivulet_';

/** Seconds. TTFT spans a cached answer (milliseconds) to a cold model behind retries (tens of seconds). */
const TTFT_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 20, 60];
const DURATION_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300];
const PHASE_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const GAP_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Seconds. A queue wait spans none at all (a free slot) to PROVIDER_QUEUE_TIMEOUT_MS (60 s by default). */
const QUEUE_WAIT_BUCKETS = [0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120];
const TOKENS_PER_SECOND_BUCKETS = [1, 5, 10, 20, 30, 50, 75, 100, 150, 200, 300, 500, 1000, 2000];

/**
 * How often the event loop lag percentiles sample the loop. prom-client's default, 10 ms, woke an idle server 100
 * times a second; stalls longer than this are always seen, shorter ones by chance.
 */
const EVENT_LOOP_SAMPLE_MS = 100;

export interface MetricsOptions {
  /** Node process metrics (CPU, memory, event loop lag, GC, handles), prefixed rivulet_. Default true. */
  processMetrics?: boolean;
}

export class Metrics implements Observer {
  readonly registry = new Registry();
  private hubStats: (() => RunHubStats) | undefined;

  private readonly runsStarted: Counter<'chatbot' | 'provider'>;
  private readonly runsFinished: Counter<'chatbot' | 'provider' | 'status' | 'cached'>;
  private readonly runsFailed: Counter<'chatbot' | 'provider' | 'code'>;
  private readonly outputTokens: Counter<'chatbot' | 'provider'>;
  private readonly cacheHits: Counter<'chatbot'>;
  private readonly cacheMisses: Counter<'chatbot'>;
  // A run's end figures: RunHistograms, whose observe costs a fraction of prom-client's (see run-histogram.ts).
  private readonly ttft: RunHistogram<'chatbot' | 'provider' | 'cached'>;
  private readonly duration: RunHistogram<'chatbot' | 'provider' | 'status'>;
  private readonly phase: RunHistogram<'chatbot' | 'phase'>;
  private readonly tokenGap: RunHistogram<'chatbot' | 'provider'>;
  private readonly tokensPerSecond: RunHistogram<'chatbot' | 'provider'>;
  private readonly readersAttached: Counter;
  private readonly resumes: Counter;
  private readonly disconnects: Counter;
  private readonly mergedFrames: Counter;
  private readonly graceExpiries: Counter;
  private readonly graceAborts: Counter;
  private readonly providerErrors: Counter<'provider' | 'code'>;
  private readonly providerRetries: Counter<'provider' | 'code'>;
  private readonly providerFailovers: Counter<'provider' | 'to'>;
  private readonly compressorsOpen: Gauge<'encoding'>;
  private readonly compressionInput: Counter<'encoding'>;
  private readonly compressionOutput: Counter<'encoding'>;
  private readonly queueLength: Gauge<'provider'>;
  private readonly queueInFlight: Gauge<'provider'>;
  private readonly queueWait: Histogram<'provider' | 'outcome'>;

  constructor(options: MetricsOptions = {}) {
    const registers = [this.registry];
    if (options.processMetrics ?? true) {
      collectDefaultMetrics({
        register: this.registry,
        prefix: PREFIX,
        eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS,
      });
    }
    const counter = <L extends string>(name: string, help: string, labelNames: readonly L[]) =>
      new Counter<L>({ name: PREFIX + name, help, labelNames, registers });
    const histogram = <L extends string>(
      name: string,
      help: string,
      labelNames: readonly L[],
      buckets: number[],
    ) => new Histogram<L>({ name: PREFIX + name, help, labelNames, buckets, registers });
    const runHistogram = <L extends string>(
      name: string,
      help: string,
      labelNames: readonly L[],
      buckets: number[],
    ) => new RunHistogram<L>({ name: PREFIX + name, help, labelNames, buckets, registers });

    this.runsStarted = counter('runs_started_total', 'Chat runs started.', ['chatbot', 'provider']);
    this.runsFinished = counter(
      'runs_finished_total',
      'Chat runs finished, by status (complete, stopped, failed) and whether the answer came from the cache.',
      ['chatbot', 'provider', 'status', 'cached'],
    );
    this.runsFailed = counter('runs_failed_total', 'Failed chat runs by error code.', [
      'chatbot',
      'provider',
      'code',
    ]);
    this.outputTokens = counter(
      'output_tokens_total',
      'Output tokens generated (provider usage, or counted locally); cached answers generate none.',
      ['chatbot', 'provider'],
    );
    this.cacheHits = counter('answer_cache_hits_total', 'Questions answered from the answer cache.', [
      'chatbot',
    ]);
    this.cacheMisses = counter(
      'answer_cache_misses_total',
      'Answer cache lookups that found nothing (follow-ups and a disabled cache are not looked up).',
      ['chatbot'],
    );
    this.ttft = runHistogram(
      'ttft_seconds',
      'Time from the start of a run to its first token.',
      ['chatbot', 'provider', 'cached'],
      TTFT_BUCKETS,
    );
    this.duration = runHistogram(
      'run_duration_seconds',
      'Total duration of a run, by status.',
      ['chatbot', 'provider', 'status'],
      DURATION_BUCKETS,
    );
    this.phase = runHistogram(
      'phase_duration_seconds',
      'Duration of each pipeline phase (history, enhance, cache, retrieve, rerank, generate).',
      ['chatbot', 'phase'],
      PHASE_BUCKETS,
    );
    // Per token: each run counts its gaps locally and adds them when it ends (see run-histogram.ts).
    this.tokenGap = runHistogram(
      'inter_token_gap_seconds',
      'Time between two consecutive tokens from the provider (a run adds its gaps when it ends).',
      ['chatbot', 'provider'],
      GAP_BUCKETS,
    );
    this.tokensPerSecond = runHistogram(
      'tokens_per_second',
      'Per completed generated run: output tokens / generate-phase seconds.',
      ['chatbot', 'provider'],
      TOKENS_PER_SECOND_BUCKETS,
    );
    this.readersAttached = counter(
      'readers_attached_total',
      'Readers attached to runs (all transports).',
      [],
    );
    this.resumes = counter(
      'resumes_total',
      'Readers that resumed after a seq (SSE Last-Event-ID, WebSocket resume with lastSeq).',
      [],
    );
    this.disconnects = counter(
      'reader_disconnects_total',
      'Readers that went away while their run was still running.',
      [],
    );
    this.mergedFrames = counter(
      'merged_frames_total',
      'Writes to a slow or resuming reader whose tokens were merged.',
      [],
    );
    this.graceExpiries = counter(
      'grace_expired_total',
      'Runs whose grace window expired with no reader.',
      [],
    );
    this.graceAborts = counter(
      'grace_aborts_total',
      'Runs aborted because their grace window expired with no reader (RUN_DISCONNECT_POLICY=abort).',
      [],
    );
    this.providerErrors = counter('provider_errors_total', 'Failed provider calls, every attempt.', [
      'provider',
      'code',
    ]);
    this.providerRetries = counter(
      'provider_retries_total',
      'Provider calls retried on the same provider (backoff, or without streaming).',
      ['provider', 'code'],
    );
    this.providerFailovers = counter(
      'provider_failovers_total',
      'Failovers from one provider to the next in the chain.',
      ['provider', 'to'],
    );
    this.queueLength = new Gauge({
      name: `${PREFIX}provider_queue_length`,
      help: 'Provider calls waiting for a slot (PROVIDER_MAX_CONCURRENT), per chain entry, on this instance.',
      labelNames: ['provider'],
      registers,
    });
    this.queueInFlight = new Gauge({
      name: `${PREFIX}provider_calls_in_flight`,
      help: 'Provider calls holding a slot (PROVIDER_MAX_CONCURRENT), per chain entry, on this instance.',
      labelNames: ['provider'],
      registers,
    });
    this.queueWait = histogram(
      'provider_queue_wait_seconds',
      'Time a provider call waited for a slot (0 when one was free), by outcome: admitted, timeout, left (stopped).',
      ['provider', 'outcome'],
      QUEUE_WAIT_BUCKETS,
    );

    this.compressorsOpen = new Gauge({
      name: `${PREFIX}stream_compressors_open`,
      help: 'Compressed streams open (STREAM_COMPRESSION): each holds a compressor of about 150 KB (gzip) or 330 KB (br).',
      labelNames: ['encoding'],
      registers,
    });
    this.compressionInput = counter(
      'stream_compression_input_bytes_total',
      'Bytes of frames written into stream compressors, counted when each stream ends.',
      ['encoding'],
    );
    this.compressionOutput = counter(
      'stream_compression_output_bytes_total',
      'Compressed bytes those streams put on the wire, counted when each stream ends.',
      ['encoding'],
    );

    const stats = (): RunHubStats | undefined => this.hubStats?.();
    const gauge = (name: string, help: string, read: (value: RunHubStats) => number) =>
      new Gauge({
        name: PREFIX + name,
        help,
        registers,
        collect() {
          const value = stats();
          if (value !== undefined) this.set(read(value));
        },
      });
    gauge('active_runs', 'Runs still generating.', (value) => value.activeRuns);
    gauge('active_readers', 'Readers attached to runs (SSE, NDJSON, WebSocket).', (value) => value.readers);
    gauge(
      'retained_runs',
      'Runs held by the hub, running or finished within retention.',
      (value) => value.runs,
    );
    gauge('run_log_bytes', 'Encoded bytes of the event logs the hub holds.', (value) => value.bytes);
  }

  /** Feeds the active runs / readers gauges at each scrape. */
  watchHub(stats: () => RunHubStats): void {
    this.hubStats = stats;
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }

  runStarted(labels: RunLabels): RunTrace {
    const chatbot = labels.chatbotId;
    const provider = labels.provider;
    this.runsStarted.inc({ chatbot, provider });
    // Labelled once per run; the per-token call only counts into the run's own buckets.
    return new MetricsRunTrace(this, chatbot, provider, this.tokenGap.tally({ chatbot, provider }));
  }

  /** A run ended (its trace's finished). */
  runFinished(chatbot: string, provider: string, outcome: RunOutcome): void {
    const cached = String(outcome.cached);
    this.runsFinished.inc({ chatbot, provider, status: outcome.status, cached });
    if (outcome.status === 'failed') {
      this.runsFailed.inc({ chatbot, provider, code: outcome.errorCode ?? 'INTERNAL' });
    }
    if (outcome.cache === 'hit') this.cacheHits.inc({ chatbot });
    else if (outcome.cache === 'miss') this.cacheMisses.inc({ chatbot });
    if (outcome.ttftMs !== null) this.ttft.observe({ chatbot, provider, cached }, outcome.ttftMs / 1000);
    this.duration.observe({ chatbot, provider, status: outcome.status }, outcome.totalMs / 1000);
    for (const [phase, ms] of Object.entries(outcome.phases)) {
      this.phase.observe({ chatbot, phase }, ms / 1000);
    }
    if (outcome.outputTokens > 0) this.outputTokens.inc({ chatbot, provider }, outcome.outputTokens);
    const generateMs = outcome.phases.generate;
    if (outcome.status === 'complete' && !outcome.cached && generateMs !== undefined && generateMs > 0) {
      if (outcome.outputTokens > 0) {
        this.tokensPerSecond.observe({ chatbot, provider }, outcome.outputTokens / (generateMs / 1000));
      }
    }
  }

  readerAttached(resumed: boolean): void {
    this.readersAttached.inc();
    if (resumed) this.resumes.inc();
  }

  readerDisconnected(): void {
    this.disconnects.inc();
  }

  mergedFrame(): void {
    this.mergedFrames.inc();
  }

  graceExpired(aborted: boolean): void {
    this.graceExpiries.inc();
    if (aborted) this.graceAborts.inc();
  }

  providerError(provider: string, code: string): void {
    this.providerErrors.inc({ provider, code });
  }

  providerRetry(provider: string, code: string): void {
    this.providerRetries.inc({ provider, code });
  }

  providerFailover(from: string, to: string): void {
    this.providerFailovers.inc({ provider: from, to });
  }

  compressorOpened(encoding: string): void {
    this.compressorsOpen.inc({ encoding });
  }

  compressorClosed(encoding: string, inputBytes: number, outputBytes: number): void {
    this.compressorsOpen.dec({ encoding });
    this.compressionInput.inc({ encoding }, inputBytes);
    this.compressionOutput.inc({ encoding }, outputBytes);
  }

  providerQueue(provider: string, waiting: number, inFlight: number): void {
    this.queueLength.set({ provider }, waiting);
    this.queueInFlight.set({ provider }, inFlight);
  }

  providerQueueWait(provider: string, ms: number, outcome: 'admitted' | 'timeout' | 'left'): void {
    this.queueWait.observe({ provider, outcome }, ms / 1000);
  }
}

/** One run's metrics: a class, not an object of closures, as it lives as long as its run (held streams). */
class MetricsRunTrace implements RunTrace {
  readonly #metrics: Metrics;
  readonly #chatbot: string;
  readonly #provider: string;
  readonly #gaps: RunTally;

  constructor(metrics: Metrics, chatbot: string, provider: string, gaps: RunTally) {
    this.#metrics = metrics;
    this.#chatbot = chatbot;
    this.#provider = provider;
    this.#gaps = gaps;
  }

  tokenGap(ms: number): void {
    this.#gaps.observe(ms / 1000);
  }

  finished(outcome: RunOutcome): void {
    this.#gaps.commit();
    this.#metrics.runFinished(this.#chatbot, this.#provider, outcome);
  }
}
