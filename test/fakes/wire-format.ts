// The seam between the fake upstream's shared fault machinery and one provider's wire format.

import type { IncomingHttpHeaders } from 'node:http';

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
