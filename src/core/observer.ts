// What the core reports for metrics: run outcomes, hub reader events and provider faults. The core knows only this
// interface (no metrics library); src/observability/metrics.ts implements it with prom-client. Labels stay small:
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
  phases: Partial<Record<PhaseName, number>>;
}

/** One run's handle, labelled once at start so the per-token call stays cheap. */
export interface RunTrace {
  /** Time between two tokens from the provider, in milliseconds. Called on the token hot path. */
  tokenGap(ms: number): void;
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

export interface Observer extends RunObserver, HubObserver, ProviderObserver {}

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
};
