// Event model v1: the one discriminated union every transport encodes (see docs/protocol.md).

export type PhaseName = 'history' | 'enhance' | 'cache' | 'retrieve' | 'rerank' | 'generate';

/**
 * Why an answer ended. `tool-calls`: a provider's step ended to call tools (a stream part, never a run's `done`);
 * `max-steps`: an agent answer used its step cap (the chatbot's `maxSteps`) and the model still asked for tools.
 */
export type FinishReason =
  'stop' | 'length' | 'content-filter' | 'tool-calls' | 'max-steps' | 'aborted' | 'error' | 'other';

export interface Usage {
  inputTokens: number;
  outputTokens: number;
  /** True when the count was estimated locally because the provider did not report it. */
  estimated?: boolean;
}

export interface Source {
  /** The citation number as a string: "1" is cited as [1]. */
  id: string;
  documentId: string;
  chunkId?: string;
  title: string;
  uri?: string;
  snippet: string;
  score: number;
}

export interface Timings {
  ttftMs: number | null;
  totalMs: number;
  phases: Partial<Record<PhaseName, number>>;
}

export interface StartEvent {
  type: 'start';
  seq: number;
  runId: string;
  conversationId: string;
  messageId: string;
  chatbotId: string;
  provider: string;
  model: string;
}

export interface PhaseEvent {
  type: 'phase';
  seq: number;
  name: PhaseName;
  state: 'start' | 'end';
  /** Present on `end`. */
  durationMs?: number;
  /** An agent answer's step this phase belongs to (1-based); absent in answers without tools. */
  step?: number;
}

/**
 * An agent answer's step (one model call, then the tools it asked for) starts or ends. Only answers of chatbots with
 * tools have steps; the text of a step is its `token` events between its `start` and `end`.
 */
export interface StepEvent {
  type: 'step';
  seq: number;
  /** 1-based. */
  step: number;
  state: 'start' | 'end';
  /** On `end`: `tool-calls` when the step called tools, else how the model's answer ended. */
  finishReason?: FinishReason;
}

/**
 * How well the sources matched the question, comparable across questions, collections and models (see
 * docs/protocol.md, "How well the sources matched").
 */
export interface SourceMatch {
  /**
   * `strong`: one source holds at least 60% of the question's search terms; `weak`: fewer, or the sources were found
   * by meaning alone (vector search); `none`: nothing matched (the answer has no grounding).
   */
  quality: 'strong' | 'weak' | 'none';
  /** The best source's share of the question's distinct search terms, 0 to 1 (two decimals). */
  topScore: number;
  /** How many of the question's search terms the best source holds. */
  matchedTerms: number;
  /** The question's distinct search terms (stopwords dropped, stemmed, as BM25 searches them). */
  queryTerms: number;
  /** The highest cosine similarity between the question and a source, when vector search ran (model-dependent). */
  similarity?: number;
}

export interface SourcesEvent {
  type: 'sources';
  seq: number;
  sources: Source[];
  match: SourceMatch;
}

export interface TokenEvent {
  type: 'token';
  seq: number;
  text: string;
}

/** The model began a tool call: its input streams next as `tool-input-delta` events, then `tool-call`. */
export interface ToolInputStartEvent {
  type: 'tool-input-start';
  seq: number;
  toolCallId: string;
  name: string;
  step: number;
}

/** A piece of a tool call's input (JSON text) as the model writes it. */
export interface ToolInputDeltaEvent {
  type: 'tool-input-delta';
  seq: number;
  toolCallId: string;
  delta: string;
}

/** A tool call with its complete input (the parsed JSON; the text as written when it is not valid JSON). */
export interface ToolCallEvent {
  type: 'tool-call';
  seq: number;
  toolCallId: string;
  name: string;
  input: unknown;
  /** The step that made the call; absent only in logs written before steps existed. */
  step?: number;
}

/** A coded reason a tool call failed; the model reads the same code and message. */
export interface ToolError {
  code: string;
  message: string;
}

export interface ToolResultEvent {
  type: 'tool-result';
  seq: number;
  toolCallId: string;
  name: string;
  /** What the tool returned; null when it failed (see `error`). */
  output: unknown;
  /** Present when the call failed: the tool erred, timed out, was not found or its input was invalid. */
  error?: ToolError;
  durationMs?: number;
}

/**
 * The `to` of a failover when every provider failed before the first token and the answer quotes the retrieved
 * passages instead (LLM_EXTRACTIVE_FALLBACK): clients show it under a banner; `reason` is the chain's error code.
 */
export const EXTRACTIVE_PROVIDER = 'extractive';

/**
 * The answer waits for a provider slot (PROVIDER_MAX_CONCURRENT): sent when it starts waiting and each time its place
 * changes, then once with `position: 0` when its turn comes and the request goes to the provider.
 */
export interface QueuedEvent {
  type: 'queued';
  seq: number;
  /** The chain entry waited for, `kind:model` (as in `failover`). */
  provider: string;
  /** 1: next in line; 0: admitted, leaving the queue now. */
  position: number;
  /** A rough estimate from recent call durations on this instance; null until a call has finished. */
  estimatedWaitMs: number | null;
}

export interface FailoverEvent {
  type: 'failover';
  seq: number;
  from: string;
  to: string;
  reason: string;
}

export interface UsageEvent {
  type: 'usage';
  seq: number;
  inputTokens: number;
  outputTokens: number;
  estimated?: boolean;
}

export interface DoneEvent {
  type: 'done';
  seq: number;
  finishReason: FinishReason;
  text: string;
  usage: Usage | null;
  cached: boolean;
  timings: Timings;
}

export interface ErrorEvent {
  type: 'error';
  seq: number;
  code: string;
  message: string;
  retryable: boolean;
}

export type RunEvent =
  | StartEvent
  | PhaseEvent
  | StepEvent
  | SourcesEvent
  | TokenEvent
  | ToolInputStartEvent
  | ToolInputDeltaEvent
  | ToolCallEvent
  | ToolResultEvent
  | QueuedEvent
  | FailoverEvent
  | UsageEvent
  | DoneEvent
  | ErrorEvent;

export type RunEventType = RunEvent['type'];

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** What a producer appends: the hub assigns `seq`. */
export type RunEventInput = DistributiveOmit<RunEvent, 'seq'>;

export const RUN_EVENT_TYPES: readonly RunEventType[] = [
  'start',
  'phase',
  'step',
  'sources',
  'token',
  'tool-input-start',
  'tool-input-delta',
  'tool-call',
  'tool-result',
  'queued',
  'failover',
  'usage',
  'done',
  'error',
];

/** A run ends with exactly one terminal event. */
export function isTerminal(event: Pick<RunEvent, 'type'>): event is DoneEvent | ErrorEvent {
  return event.type === 'done' || event.type === 'error';
}

/**
 * The JSON of an event, `type` and `seq` first (withSeq builds every event with those keys leading; a token with
 * exactly its three fields). Serialised, not concatenated: a run's log keeps every token's JSON, and a concatenation
 * is a tree of string pieces (about 190 bytes for a short token) where the serialiser writes one flat string (about 70).
 */
export function encodeEvent(event: RunEvent): string {
  return JSON.stringify(event);
}

/** The terminal `error` event's input for a coded error: its code, its message and whether a retry may succeed. */
export function errorEventInput(error: {
  readonly code: string;
  readonly message: string;
  readonly retryable: boolean;
}): RunEventInput & { type: 'error' } {
  return { type: 'error', code: error.code, message: error.message, retryable: error.retryable };
}

/** Builds the event for a producer's input with `type` and `seq` leading, as `encodeEvent` writes them. */
export function withSeq(input: RunEventInput, seq: number): RunEvent {
  if (input.type === 'token') return { type: 'token', seq, text: input.text };
  // Object.assign keeps `type` and `seq` as the first keys (the input's own `type` overwrites in place).
  return Object.assign({ type: input.type, seq }, input);
}
