// The seam between the fake upstream's shared fault machinery and one provider's wire format.

import type { IncomingHttpHeaders } from 'node:http';

/** A tool call the fake makes, in every format. */
export interface FakeToolCall {
  /** The function's name. */
  name: string;
  /**
   * Its arguments: an object is sent as JSON (streamed in pieces); a string is sent exactly as written, so
   * `'{"query": "unterminated'` makes malformed arguments. (Ollama sends arguments as an object: a string there is
   * sent as a JSON string, which Rivulet passes through as the input text.)
   */
  arguments: Record<string, unknown> | string;
  /** Default `call_fake<request id>_<n>` (OpenAI), `toolu_fake<request id>_<n>` (Anthropic), none (Ollama). */
  id?: string;
}

/** A tool result found in a request, read the same way from every format. */
export interface FakeToolResult {
  /** OpenAI `tool_call_id`, Anthropic `tool_use_id`; Ollama sends none. */
  toolCallId?: string;
  /** Ollama `tool_name`; the others send none. */
  name?: string;
  content: string;
  /** Anthropic `is_error`. */
  isError?: boolean;
}

/** What a request carries about tools. */
export interface ToolTurns {
  /** Names of the tools the request offered, in order. */
  tools: string[];
  /** Tool results in the request's messages, in order. */
  results: FakeToolResult[];
  /** Tool calls in the request's earlier assistant turns, arguments as JSON text. */
  calls: { toolCallId?: string; name: string; inputText: string }[];
  /** How many earlier assistant turns called tools: the agent step this request is (0 for the first). */
  callTurns: number;
}

/** The names of `tools` in the shape OpenAI and Ollama share: `[{type: 'function', function: {name, ...}}]`. */
export function functionToolNames(tools: unknown): string[] {
  if (!Array.isArray(tools)) return [];
  return (tools as unknown[]).flatMap((tool) =>
    isRecord(tool) && isRecord(tool.function) && typeof tool.function.name === 'string'
      ? [tool.function.name]
      : [],
  );
}

/** A call's arguments as the JSON text the model wrote. */
export function argumentsText(call: FakeToolCall): string {
  return typeof call.arguments === 'string' ? call.arguments : JSON.stringify(call.arguments);
}

/** Text in pieces of `size` characters (at least one piece, maybe empty). */
export function pieces(text: string, size: number): string[] {
  const out: string[] = [];
  for (let start = 0; start < text.length; start += size) out.push(text.slice(start, start + size));
  return out.length === 0 ? [''] : out;
}

/** What a format needs to know about the answer it is serialising. */
export interface AnswerContext {
  /** The request's id in the fake's log, used for response ids. */
  requestId: number;
  model: string;
  /** Unix seconds when the request arrived. */
  created: number;
  body: Record<string, unknown>;
  /** The scenario's finish reason, in this format's own vocabulary; undefined means "the normal end". */
  finishReason: string | undefined;
  promptTokens: number;
  /** performance.now() when the request arrived, for formats that report durations. */
  startedAt: number;
  /** The calls this answer makes after its text (empty: a plain answer). */
  toolCalls: readonly FakeToolCall[];
  /** Whether the answer has text before its calls. */
  hasText: boolean;
  /** Streamed arguments are cut into pieces of this many characters. */
  argumentChunkChars: number;
}

export interface ErrorOverrides {
  message?: string;
  code?: string | null;
  param?: string | null;
}

/** A refusal before any answer: status plus what the error body should say. */
export interface Refusal {
  status: number;
  overrides: ErrorOverrides;
}

/** Serialises one streamed answer; every string is written to the socket as it is. */
export interface StreamEncoder {
  /** Chunks before the first token (role chunk, message_start, ...). */
  readonly head: readonly string[];
  /** Per-token hot path: the token already JSON-encoded in, one chunk out. */
  token(tokenJson: string): string;
  /** Chunks after the last token, terminal marker included. */
  tail(completionTokens: number): readonly string[];
  /**
   * The chunks that stream the context's tool calls, after the last token and before the tail (called only when
   * there are calls). The fault knobs (dropAfter, stallAfter ...) count them after the tokens.
   */
  toolChunks(): readonly string[];
  /** A chunk the client cannot parse. */
  readonly malformed: string;
  /** The format's in-stream error for an HTTP-like status (429 rate limit, 529 overloaded, ...). */
  error(status: number): string;
}

/** An embeddings endpoint served beside a format's chat endpoint; errors use the format's error bodies. */
export interface EmbeddingsWire {
  /** Whether this is an embeddings request path (query excluded). */
  handles(path: string): boolean;
  /** Checked once the body parsed: missing or malformed input, models it does not have. */
  refuseBody(body: Record<string, unknown>): Refusal | undefined;
  /** The 200 body for a body refuseBody accepted: one vector per input, in order. */
  answer(body: Record<string, unknown>): string;
}

export interface WireFormat {
  /** Whether this format answers chat requests on that path (query excluded). */
  handlesChat(path: string): boolean;
  /** Embeddings requests (OpenAI /v1/embeddings, Azure deployments, Ollama /api/embed), when the API has them. */
  readonly embeddings?: EmbeddingsWire;
  /** A GET listing (OpenAI /v1/models, Ollama /api/tags) served by the same port. */
  readonly listing?: { path: string; body: string };
  /** Checked before the body is read: missing or wrong credentials, missing version headers. */
  refuseHeaders(headers: IncomingHttpHeaders, requiredKey: string | undefined): Refusal | undefined;
  /** Checked once the body parsed: fields this provider requires, models it does not have. */
  refuseBody(body: Record<string, unknown>): Refusal | undefined;
  wantsStream(body: Record<string, unknown>): boolean;
  /** The request's limit on answer tokens, honoured by cutting the answer there; undefined: no limit. */
  maxTokens(body: Record<string, unknown>): number | undefined;
  /** The finish reason, in this format's vocabulary, of an answer cut by that limit. */
  readonly lengthReason: string;
  /** The finish reason, in this format's vocabulary, of an answer that calls tools. */
  readonly toolCallsReason: string;
  /** The tools, tool calls and tool results a request carries. */
  toolTurns(body: Record<string, unknown>): ToolTurns;
  readonly streamContentType: string;
  streamEncoder(context: AnswerContext): StreamEncoder;
  /** The non-streaming response body. */
  wholeAnswer(context: AnswerContext, text: string, completionTokens: number): string;
  /** The JSON body of an error status response. */
  errorBody(status: number, overrides: ErrorOverrides, model: string): string;
}

/** A limit on answer tokens as a request may give it: a non-negative integer, anything else is no limit. */
export function tokenLimit(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 ? value : undefined;
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
