// What the core reports for metrics and traces: run outcomes, phases, provider calls, hub reader events and provider
// faults. The core knows only this interface (no metrics or tracing library): src/observability/metrics.ts implements
// it with prom-client, src/observability/tracing.ts with the OpenTelemetry API. Labels stay small:
// chatbot and provider ids, error codes, phase names, never user, conversation or run ids.

import type { PhaseName } from './events.ts';

export type RunOutcomeStatus = 'complete' | 'stopped' | 'failed';

/** Whether the answer cache was consulted and answered: skipped when it is off or the question is a follow-up. */
export type CacheOutcome = 'hit' | 'miss' | 'skipped';

export interface RunLabels {
  chatbotId: string;
  /** The provider kind answering (the chain's first), or "extractive". */
  provider: string;
}

export interface RunOutcome {
  status: RunOutcomeStatus;
  /** Set when status is failed. */
  errorCode: string | undefined;
  cached: boolean;
  cache: CacheOutcome;
  /** Null when no token was sent. */
  ttftMs: number | null;
  totalMs: number;
  /** Output tokens: the provider's (or estimated) usage when known, otherwise the token events sent. */
  outputTokens: number;
  /** Prompt tokens the answer cost (0 for a cached answer). */
  inputTokens: number;
  phases: Partial<Record<PhaseName, number>>;
}

/** One provider request made for a run (each retry and failover is its own call). Times are epoch milliseconds. */
export interface ProviderCall {
  provider: string;
  model: string;
  streaming: boolean;
  startedAt: number;
  endedAt: number;
  /** Undefined when the call succeeded; else the error code (an abort is the run's stop reason). */
  errorCode: string | undefined;
}

/** One run's handle, labelled once at start so the per-token call stays cheap. */
export interface RunTrace {
  /** Time between two tokens from the provider, in milliseconds. Called on the token hot path. */
  tokenGap(ms: number): void;
  /** A pipeline phase ended; times are epoch milliseconds. */
  phaseEnded?(name: PhaseName, startedAt: number, endedAt: number): void;
  providerCall?(call: ProviderCall): void;
  /** Called exactly once, after the answer is stored. */
  finished(outcome: RunOutcome): void;
}

export interface RunObserver {
  runStarted(labels: RunLabels): RunTrace;
}

export interface HubObserver {
  /** A reader attached; `resumed` when it asked for events after a seq (Last-Event-ID, WebSocket resume). */
  readerAttached(resumed: boolean): void;
  /** A reader left while its run was still running (client disconnect, dropped socket). */
  readerDisconnected(): void;
  /** A write to a reader that was behind carried merged tokens. */
  mergedFrame(): void;
  /** The grace window expired with nobody reading; `aborted` when the policy stopped the generation. */
  graceExpired(aborted: boolean): void;
}

export interface ProviderObserver {
  /** A provider call failed (every attempt counts). `provider` is the provider kind. */
  providerError(provider: string, code: string): void;
  /** The same provider is asked again (backoff retry, or the non-streaming retry). */
  providerRetry(provider: string, code: string): void;
  /** The chain moved on to the next provider. */
  providerFailover(from: string, to: string): void;
}

/** The provider queue (PROVIDER_MAX_CONCURRENT). `provider` is the chain entry, `kind:model`. */
export interface ProviderQueueObserver {
  /** Calls waiting for a slot and calls holding one, for a provider, after every change. */
  providerQueue(provider: string, waiting: number, inFlight: number): void;
  /** How long one call waited for its slot, and how the wait ended (`left`: its run was stopped or abandoned). */
  providerQueueWait(provider: string, ms: number, outcome: 'admitted' | 'timeout' | 'left'): void;
}

export interface Observer extends RunObserver, HubObserver, ProviderObserver, ProviderQueueObserver {}

/** Both observers see every run (metrics and traces side by side). */
export function combineRunObservers(first: RunObserver, second: RunObserver): RunObserver {
  return {
    runStarted: (labels) => new CombinedTrace(first.runStarted(labels), second.runStarted(labels)),
  };
}

/** Two runs' traces as one: a class, not an object of closures, as it lives as long as its run (held streams). */
class CombinedTrace implements RunTrace {
  readonly #a: RunTrace;
  readonly #b: RunTrace;

  constructor(a: RunTrace, b: RunTrace) {
    this.#a = a;
    this.#b = b;
  }

  tokenGap(ms: number): void {
    this.#a.tokenGap(ms);
    this.#b.tokenGap(ms);
  }

  phaseEnded(name: PhaseName, startedAt: number, endedAt: number): void {
    this.#a.phaseEnded?.(name, startedAt, endedAt);
    this.#b.phaseEnded?.(name, startedAt, endedAt);
  }

  providerCall(call: ProviderCall): void {
    this.#a.providerCall?.(call);
    this.#b.providerCall?.(call);
  }

  finished(outcome: RunOutcome): void {
    this.#a.finished(outcome);
    this.#b.finished(outcome);
  }
}

const noopTrace: RunTrace = {
  tokenGap() {},
  finished() {},
};

/** Records nothing: the default for tests and callers that pass no observer (and METRICS_ENABLED=false). */
export const noopObserver: Observer = {
  runStarted: () => noopTrace,
  readerAttached() {},
  readerDisconnected() {},
  mergedFrame() {},
  graceExpired() {},
  providerError() {},
  providerRetry() {},
  providerFailover() {},
  providerQueue() {},
  providerQueueWait() {},
};
