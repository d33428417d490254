// The narrow language-model interface every provider adapter implements.

import type { FinishReason, Usage } from './events.ts';
import type { ProviderCall } from './observer.ts';
import type { Passage } from './retriever.ts';

/** A tool the model may call: its name, what it is for, and a JSON Schema (draft 2020-12 subset) of its input. */
export interface ToolDefinition {
  name: string;
  description: string;
  inputSchema: Record<string, unknown>;
}

/** A call the model asked for. `inputText` is the arguments as the model wrote them (JSON text, maybe malformed). */
export interface ToolCallRequest {
  toolCallId: string;
  name: string;
  inputText: string;
}

export type ChatMessage =
  | { role: 'system' | 'user'; content: string }
  /** An assistant turn: its text, and the tool calls it made (an agent step that called tools). */
  | { role: 'assistant'; content: string; toolCalls?: readonly ToolCallRequest[] }
  /** A tool's answer to one call: `content` is what the model reads (JSON text or an error message). */
  | { role: 'tool'; content: string; toolCallId: string; name: string; isError?: boolean };

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
  /** Tools the model may call in this step; absent or empty: a plain answer, no tools sent to the provider. */
  tools?: readonly ToolDefinition[];
}

export type StreamPart =
  | { type: 'text-delta'; text: string }
  | { type: 'usage'; usage: Usage }
  | { type: 'finish'; finishReason: FinishReason }
  /** The model began a tool call (its name is known, its input is about to stream). */
  | { type: 'tool-input-start'; toolCallId: string; name: string }
  /** A piece of a tool call's input (JSON text), as generated. */
  | { type: 'tool-input-delta'; toolCallId: string; delta: string }
  /**
   * A tool call is complete. `inputText` is the whole input as JSON text (`{}` when the model sent none); it may be
   * malformed JSON, which the agent loop reports to the model. Emitted before `finish` (reason `tool-calls`).
   */
  | { type: 'tool-call'; toolCallId: string; name: string; inputText: string }
  /** Emitted by a fallback chain while the call waits for a provider slot (see QueuedEvent). */
  | { type: 'queued'; provider: string; position: number; estimatedWaitMs: number | null }
  /**
   * Emitted by a fallback chain when it moves to the next provider. Without `restart` the next provider continues
   * the text already sent. With `restart` (the failed provider was in the middle of a tool call) the next provider
   * answers the step from the start: the text and the unfinished tool calls (no `tool-call` part) the failed
   * provider sent in this step are superseded. Providers emit `tool-call` parts together with `finish`, so a failed
   * attempt has none.
   */
  | { type: 'failover'; from: string; to: string; reason: string; restart?: boolean };

export interface StreamOptions {
  /** Aborting it must close the provider's HTTP request at once. */
  signal: AbortSignal;
  /** Called synchronously for each part as it is parsed; keep it cheap, it is the per-token hot path. */
  onPart: (part: StreamPart) => void;
  /**
   * Who the call is for (a principal's limit key): a provider queue (PROVIDER_MAX_CONCURRENT) takes turns between
   * requesters. Absent: the server's own calls (condensing, reranking), which share one turn.
   */
  requester?: string;
  /** Called after each provider request the call made (retries and failovers included), for traces. */
  onProviderCall?: (call: ProviderCall) => void;
  /**
   * The text this call has passed to onPart so far: its text-delta parts since it began, or since a `failover` part
   * with `restart`. A chain continuing on another provider after a failure sends it as the answer so far; a caller
   * that keeps the answer's text anyway says where it is, so the chain need not keep a second copy token by token.
   */
  textSoFar?: () => string;
}

export interface GenerateResult {
  text: string;
  /** The tool calls the model made (finish reason `tool-calls`); absent or empty when it answered in text. */
  toolCalls?: readonly ToolCallRequest[];
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
