// What one answer's run has recorded so far: its phases and timings, the text sent, sources, usage and outcome,
// and the `done` ending held until the answer is stored. The phases of the chat pipeline share it.

import type { DoneEvent, FinishReason, PhaseName, Source, SourceMatch, Timings, Usage } from '../events.ts';
import type { Logger } from '../logger.ts';
import type { CacheOutcome, RunOutcomeStatus, RunTrace } from '../observer.ts';
import type { ChatMessage } from '../provider.ts';
import type { RunProducer } from '../run-hub.ts';
import type { AgentStep } from './phases/agent.ts';

export interface RunRecorderOptions {
  run: RunProducer;
  trace: RunTrace;
  /** When the run started (performance.now()); default: now. */
  startedAt?: number;
  /** Counts an answer's tokens locally (see ChatPipelineDeps.estimateUsage). */
  estimateUsage?: ((messages: readonly ChatMessage[], output: string) => Promise<Usage>) | undefined;
  logger: Logger;
}

export class RunRecorder {
  /** Each phase's duration in milliseconds, in the order the phases ran. */
  readonly phases: Partial<Record<PhaseName, number>> = {};
  /** The text sent to the readers so far. */
  text = '';
  /** Token events sent. */
  tokenCount = 0;
  /** Time to the first token sent; null until then. */
  ttftMs: number | null = null;
  usage: Usage | null = null;
  /** A fallback chain moved to another provider: the usage it reported covers only the last provider's part. */
  failedOver = false;
  /** Replayed from the answer cache. */
  cached = false;
  cacheOutcome: CacheOutcome = 'skipped';
  /** Set once, when the sources are sent (checkpoints compare them by identity). */
  sources: Source[] = [];
  /** The prompt the answer is generated from; empty until it is built. */
  prompt: ChatMessage[] = [];
  finishReason: FinishReason = 'stop';
  /** How the answer is stored once it ends. */
  status: RunOutcomeStatus = 'complete';
  errorCode: string | undefined;
  /**
   * The `done` event, held until the answer is stored: readers learn the answer ended only once it is saved, and an
   * answer that could not be saved (the database went away) ends with STORE_UNAVAILABLE instead.
   */
  ending: Omit<DoneEvent, 'seq'> | undefined;
  /** An agent answer's steps (text, tool calls and results), stored with it; undefined without tools. */
  steps: AgentStep[] | undefined;
  /** When the answer was stored as streaming; undefined until then. */
  answerCreatedAt: number | undefined;

  /** The run's metrics and trace handle. */
  readonly trace: RunTrace;
  readonly #run: RunProducer;
  readonly #startedAt: number;
  readonly #estimateUsage: RunRecorderOptions['estimateUsage'];
  readonly #logger: Logger;
  #currentPhase: { name: PhaseName; startedAt: number; step: number | undefined } | undefined;
  #lastTokenAt = 0;
  #timings: Timings | undefined;

  constructor(options: RunRecorderOptions) {
    this.#run = options.run;
    this.trace = options.trace;
    this.#startedAt = options.startedAt ?? performance.now();
    this.#estimateUsage = options.estimateUsage;
    this.#logger = options.logger;
  }

  /** `step`: the agent step the phase belongs to (answers with tools); a phase run in several steps adds up. */
  beginPhase(name: PhaseName, step?: number): void {
    this.#currentPhase = { name, startedAt: performance.now(), step };
    this.#run.append(
      step === undefined
        ? { type: 'phase', name, state: 'start' }
        : { type: 'phase', name, state: 'start', step },
    );
  }

  /** Ends the phase that is running, if any (a failure ends it where it stopped). */
  endPhase(): void {
    const phase = this.#currentPhase;
    if (phase === undefined) return;
    const endedAt = performance.now();
    const durationMs = roundMs(endedAt - phase.startedAt);
    this.phases[phase.name] = roundMs((this.phases[phase.name] ?? 0) + durationMs);
    this.#run.append(
      phase.step === undefined
        ? { type: 'phase', name: phase.name, state: 'end', durationMs }
        : { type: 'phase', name: phase.name, state: 'end', durationMs, step: phase.step },
    );
    this.trace.phaseEnded?.(
      phase.name,
      performance.timeOrigin + phase.startedAt,
      performance.timeOrigin + endedAt,
    );
    this.#currentPhase = undefined;
  }

  /**
   * The answer's timings, read once, at its end: the first call (holding the `done`, or the run's end without one)
   * fixes them, so the stored answer carries the figures its readers got and a reload shows the same ones.
   */
  timings(): Timings {
    this.#timings ??= {
      ttftMs: this.ttftMs,
      totalMs: roundMs(performance.now() - this.#startedAt),
      phases: this.phases,
    };
    return this.#timings;
  }

  /** Sends a piece of the answer. */
  emitToken(piece: string): void {
    if (piece.length === 0) return;
    // Once the hub has ended the run (caps, timeout) nothing more is sent, so nothing more is stored.
    if (this.#run.append({ type: 'token', text: piece }) === -1) return;
    if (this.ttftMs === null) this.ttftMs = roundMs(performance.now() - this.#startedAt);
    this.text += piece;
    this.tokenCount += 1;
  }

  /** Sends a piece the provider streamed, measuring the gap since the previous one. */
  emitProviderToken(piece: string): void {
    const now = performance.now();
    if (this.#lastTokenAt !== 0) this.trace.tokenGap(now - this.#lastTokenAt);
    this.#lastTokenAt = now;
    this.emitToken(piece);
  }

  /**
   * Sends the sources the answer cites; they go out before its first token. The array is not changed afterwards (the
   * run's log and the conversation store hold it): more sources come as a new array.
   */
  sendSources(sources: Source[], match: SourceMatch): void {
    this.sources = sources;
    this.#run.append({ type: 'sources', sources, match });
  }

  /** Holds the `done` ending with what was recorded so far (sent once the answer is stored). */
  holdDone(): void {
    this.ending = {
      type: 'done',
      finishReason: this.finishReason,
      text: this.text,
      usage: this.usage,
      cached: this.cached,
      timings: this.timings(),
    };
  }

  /**
   * Estimates the usage where the provider reported none, or only part of it (a failover); keeps what is known when
   * there is no estimator, no prompt yet, or the estimate fails.
   */
  async settleUsage(): Promise<void> {
    if ((this.usage !== null && !this.failedOver) || this.#estimateUsage === undefined) return;
    if (this.prompt.length === 0) return;
    try {
      this.usage = await this.#estimateUsage(this.prompt, this.text);
    } catch (error) {
      this.#logger.warn({ runId: this.#run.runId, err: error }, 'usage estimate failed');
    }
  }
}

export function roundMs(value: number): number {
  return Math.round(value * 10) / 10;
}
