// The narrow language-model interface every provider adapter implements.

import type { FinishReason, Usage } from './events.ts';
import type { ProviderCall } from './observer.ts';
import type { Passage } from './retriever.ts';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export interface GenerateRequest {
  messages: ChatMessage[];
  temperature?: number;
  maxTokens?: number;
  /**
   * The model to ask instead of the provider's configured one (a chatbot's own model). A fallback chain gives it to
   * its first provider only: another provider would not know the name.
   */
  model?: string;
  /**
   * The chain's providers to use, in order, by `kind` or `kind:model` (a chatbot's own chain); absent or matching
   * none: the whole configured chain.
   */
  providers?: readonly string[];
  /**
   * The numbered passages the prompt cites ([1] is passages[0]). Language models read them in `messages`; an
   * answerer that quotes instead of writing (the extractive answerer) uses them directly.
   */
  passages?: readonly Passage[];
  /**
   * Silence from the provider (before the first byte, or between parts) that fails the call, in place of the
   * configured LLM_STALL_MS: a chatbot's `limits.stallTimeoutMs`.
   */
  stallMs?: number;
}

export type StreamPart =
  | { type: 'text-delta'; text: string }
  | { type: 'usage'; usage: Usage }
  | { type: 'finish'; finishReason: FinishReason }
  /** Emitted by a fallback chain when it moves to the next provider. */
  | { type: 'failover'; from: string; to: string; reason: string };

export interface StreamOptions {
  /** Aborting it must close the provider's HTTP request at once. */
  signal: AbortSignal;
  /** Called synchronously for each part as it is parsed; keep it cheap, it is the per-token hot path. */
  onPart: (part: StreamPart) => void;
  /** Called after each provider request the call made (retries and failovers included), for traces. */
  onProviderCall?: (call: ProviderCall) => void;
}

export interface GenerateResult {
  text: string;
  usage: Usage | null;
  finishReason: FinishReason;
}

export interface LanguageModel {
  /** Provider name for events, logs and metrics (e.g. "openai", "ollama"). */
  readonly provider: string;
  readonly model: string;
  /**
   * Streams one completion. Resolves when the provider finished the answer; rejects with a RivuletError
   * (UPSTREAM_* codes) on failure, or with the signal's reason when aborted.
   */
  stream(request: GenerateRequest, options: StreamOptions): Promise<void>;
  /** One completion without streaming (STREAMING_RESPONSE=false, or the fallback when streaming fails). */
  generate(request: GenerateRequest, options: { signal: AbortSignal }): Promise<GenerateResult>;
  /** Who will answer a request (provider and model), for the `start` event and metrics; default: this model's. */
  describe?(request: Pick<GenerateRequest, 'model' | 'providers'>): { provider: string; model: string };
  /** Releases pooled connections. */
  close?(): Promise<void>;
}
