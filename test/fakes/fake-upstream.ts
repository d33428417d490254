// A real HTTP server that speaks OpenAI, Ollama and Anthropic wire formats (chat, and embeddings for OpenAI, Azure
// OpenAI and Ollama), with one shared fault machinery.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { createAnthropicFormat } from './anthropic-format.ts';
import { FAKE_EMBEDDING_DIMENSIONS } from './embeddings-format.ts';
import { generateTokens } from './generate-tokens.ts';
import { markdownAnswerTokens } from './markdown-answer.ts';
import { createOllamaFormat, DEFAULT_OLLAMA_MODELS, type OllamaModelInfo } from './ollama-format.ts';
import { createOpenAIFormat, OPENAI_DEFAULT_MODEL } from './openai-format.ts';
import {
  isRecord,
  type AnswerContext,
  type EmbeddingsWire,
  type ErrorOverrides,
  type Refusal,
  type FakeToolCall,
  type StreamEncoder,
  type ToolTurns,
  type WireFormat,
} from './wire-format.ts';

/**
 * How the fake answers one request. Embedding requests honour headersDelayMs, ttftMs (as computing time),
 * errorStatus, retryAfterSeconds, dropAfter and stallAfter (any value: drop or stall instead of answering) and
 * replay; the token knobs do not apply to them.
 */
export interface FakeScenario {
  /**
   * What the answer says. 'tokens' (the default): `tokens`, or tokens generated from `seed` and `tokenCount`.
   * 'markdown': a Markdown answer built from the request (see markdown-answer.ts): headings, a list, a table and a
   * code block citing [1]..[n], one per numbered source in the prompt; a condense request gets a short question.
   */
  answer?: 'tokens' | 'markdown';
  /** Exact tokens to stream; if absent, generated deterministically from `seed` and `tokenCount`. */
  tokens?: string[];
  /** Default 20. */
  tokenCount?: number;
  /** Default 1. */
  seed?: number;
  /** Delay before sending status and headers (default 0). */
  headersDelayMs?: number;
  /** Delay after headers before the first content chunk (default 0). */
  ttftMs?: number;
  /** Delay between content chunks (default 0, which yields with setImmediate between chunks). */
  interTokenMs?: number;
  /** Respond with this status and the format's error body before any token. */
  errorStatus?: number;
  /** With errorStatus: send a Retry-After header. */
  retryAfterSeconds?: number;
  /** After N content tokens, destroy the socket abruptly (no finish chunk, no terminal marker). */
  dropAfter?: number;
  /** After N content tokens, stop sending anything but keep the connection open. */
  stallAfter?: number;
  /** After N content tokens, send one chunk the client cannot parse, then continue normally. */
  malformedAfter?: number;
  /** After N content tokens, send the format's in-stream error object and end the response. */
  streamErrorAfter?: number;
  /** With streamErrorAfter: the kind of error, as an HTTP status (429, 500, 529 ...). Default 500. */
  streamErrorStatus?: number;
  /** Write each chunk that holds a multi-byte character in two TCP writes split inside that character. */
  splitMultibyte?: boolean;
  /**
   * In the format's own vocabulary ('length', 'max_tokens' ...); default that format's normal end, or its
   * length reason when the request's max tokens (max_tokens, max_completion_tokens, options.num_predict) cut
   * the answer short.
   */
  finishReason?: string;
  /** Reported usage; by default prompt = request message characters / 4, completion = tokens sent. */
  usage?: { promptTokens: number; completionTokens: number };
  /** Answer 200 with exactly these bytes instead of a generated answer (recorded fixtures). */
  replay?: { contentType: string; body: string };
  /**
   * Tool calls the answer makes after its text, in the format's own shape (OpenAI `delta.tool_calls` by index,
   * Anthropic `tool_use` blocks with `input_json_delta`, Ollama whole `message.tool_calls`), with the format's
   * tool-call finish reason. With calls, the answer has no text unless `tokens` or `tokenCount` is given. The fault
   * knobs count the chunks that stream the calls after the tokens: with 2 tokens, `dropAfter: 3` drops the
   * connection after the first tool call chunk.
   */
  toolCalls?: FakeToolCall[];
  /** Streamed arguments are cut into pieces of this many characters (default 8; Ollama sends calls whole). */
  argumentChunkChars?: number;
  /**
   * An agent's steps, chosen by the request itself: a request whose history holds N assistant turns that called
   * tools is answered with steps[N] (the last one beyond the end), so `[{toolCalls: [...]}, {tokens: [...]}]`
   * calls a tool first and answers in text once the results are sent. Every other field of this scenario is
   * ignored when steps is set.
   */
  steps?: FakeScenario[];
  /**
   * Hold the request open, sending nothing, until release(id) is called; then answer as the rest of the scenario
   * says. Lets a test decide the order requests finish in without timing anything.
   */
  held?: boolean;
}

export interface UpstreamRequestLog {
  /** 1, 2, 3 ... in arrival order (restarts at 1 after reset()). */
  id: number;
  /** Parsed JSON request body (undefined until read, or when it was not JSON). */
  body: unknown;
  headers: Record<string, string | string[] | undefined>;
  /** Request path and query, e.g. '/openai/deployments/gpt/chat/completions?api-version=2024-10-21'. */
  url: string;
  scenario: FakeScenario;
  /** performance.now() when the request arrived. */
  startedAt: number;
  /** performance.now() when the first content chunk was written. */
  firstTokenAt?: number;
  tokensSent: number;
  /** Concatenation of the content tokens actually written. */
  textSent: string;
  /** True when the server wrote the whole answer including its terminal marker ([DONE], done:true, message_stop). */
  completed: boolean;
  /** The request's limit on answer tokens (max_tokens, max_completion_tokens, options.num_predict), if any. */
  maxTokens?: number;
  /** True when that limit cut the planned answer short. */
  truncated?: boolean;
  /** performance.now() when the response or its connection closed. */
  closedAt?: number;
  /** The tools offered, the tool calls and the tool results in the request (set once its body is read). */
  toolTurns?: ToolTurns;
  /** Chunks (lines, events) of tool calls written. */
  toolChunksSent: number;
  /** 'server' if this side ended it (completed, error status, drop, close()), 'client' if the client went first. */
  closedBy?: 'server' | 'client';
}

export interface FakeUpstream {
  /** Base URL: like OpenAI's https://api.openai.com/v1 from startFakeUpstream, the bare origin otherwise. */
  readonly url: string;
  /** http://host:port, without a path. */
  readonly origin: string;
  readonly port: number;
  readonly requests: readonly UpstreamRequestLog[];
  /** Default for all following requests. */
  setScenario(scenario: FakeScenario): void;
  /** Used first-in first-out by the next chat and embedding requests before falling back to the default. */
  enqueue(...scenarios: FakeScenario[]): void;
  /** Chat and embedding requests open right now (arrived, response not yet closed). */
  readonly openRequests: number;
  /** The most chat and embedding requests ever open at once (since start or reset()). */
  readonly peakOpenRequests: number;
  /** Lets a `held` request answer; false when no request with that id is being held. */
  release(id: number): boolean;
  /** Resolves once the request has arrived and its body has been read. */
  waitForRequest(id: number, timeoutMs?: number): Promise<UpstreamRequestLog>;
  /** Resolves once closedAt is set. */
  waitForClose(id: number, timeoutMs?: number): Promise<UpstreamRequestLog>;
  /**
   * The text a complete answer for that scenario (default: the current default) would contain, without a max
   * tokens limit. In markdown mode the answer depends on the request: this is the answer to a bare question.
   */
  fullText(scenario?: FakeScenario): string;
  /** Clears the log and the queue and restores the scenario given at start. */
  reset(): void;
  /** Closes the server and destroys open sockets, stalled ones included. */
  close(): Promise<void>;
}

export interface FakeUpstreamOptions {
  port?: number;
  host?: string;
  scenario?: FakeScenario;
  /** OpenAI: bearer token or `api-key`; Anthropic: `x-api-key` (plus `anthropic-version`); Ollama: none. */
  requireApiKey?: string;
  /** What Ollama's /api/tags lists and /api/chat and /api/embed accept; default a chat model and an embedding model. */
  ollamaModels?: readonly OllamaModelInfo[];
  /** Size of the bag-of-words vectors when a request does not ask for one (OpenAI `dimensions`); default 64. */
  embeddingDimensions?: number;
}

export type { OllamaModelInfo } from './ollama-format.ts';
export type { FakeToolCall, FakeToolResult, ToolTurns } from './wire-format.ts';
export { DEFAULT_OLLAMA_MODELS } from './ollama-format.ts';
export {
  bagOfWords,
  contentWords,
  cosineSimilarity,
  FAKE_EMBEDDING_DIMENSIONS,
  OPENAI_DEFAULT_EMBEDDING_MODEL,
} from './embeddings-format.ts';

const DEFAULT_TOKEN_COUNT = 20;
const DEFAULT_SEED = 1;
const DEFAULT_ARGUMENT_CHUNK_CHARS = 8;
const DEFAULT_WAIT_MS = 5_000;
const MAX_BODY_BYTES = 8 * 1024 * 1024;
/** Long enough that, with Nagle off, the two halves of a split chunk leave in separate TCP segments. */
const SPLIT_GAP_MS = 2;
/** A benchmark opens ~1,000 streams at once; the default backlog (511) would refuse some of them. */
const LISTEN_BACKLOG = 4096;

interface TokenPlan {
  tokens: readonly string[];
  /** JSON.stringify of each token, so the per-chunk work is one string concatenation. */
  tokenJson: readonly string[];
  text: string;
}

// Keyed by scenario object so a thousand streams sharing the default share one plan; a scenario is
// therefore treated as immutable once a request has used it.
const planCache = new WeakMap<FakeScenario, TokenPlan>();
const EMPTY_PLAN: TokenPlan = { tokens: [], tokenJson: [], text: '' };

function planOf(tokens: readonly string[]): TokenPlan {
  return { tokens, tokenJson: tokens.map((token) => JSON.stringify(token)), text: tokens.join('') };
}

function planFor(scenario: FakeScenario): TokenPlan {
  const cached = planCache.get(scenario);
  if (cached !== undefined) return cached;
  // A turn that calls tools has no text unless the scenario asks for some.
  const defaultCount =
    scenario.toolCalls !== undefined && scenario.toolCalls.length > 0 ? 0 : DEFAULT_TOKEN_COUNT;
  const tokens =
    scenario.answer === 'markdown'
      ? markdownAnswerTokens({ messages: [] })
      : (scenario.tokens ??
        generateTokens(scenario.tokenCount ?? defaultCount, scenario.seed ?? DEFAULT_SEED));
  const plan = planOf(tokens);
  planCache.set(scenario, plan);
  return plan;
}

/** The answer to one request: the scenario's (built from the request in markdown mode), cut to its max tokens. */
function planForRequest(
  scenario: FakeScenario,
  body: Record<string, unknown>,
  maxTokens: number | undefined,
): { plan: TokenPlan; truncated: boolean } {
  const plan = scenario.answer === 'markdown' ? planOf(markdownAnswerTokens(body)) : planFor(scenario);
  if (maxTokens === undefined || plan.tokens.length <= maxTokens) return { plan, truncated: false };
  return { plan: planOf(plan.tokens.slice(0, maxTokens)), truncated: true };
}

function sendError(
  response: ServerResponse,
  body: string,
  status: number,
  extraHeaders: Record<string, string> = {},
): void {
  response.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    ...extraHeaders,
  });
  response.end(body);
}

/** Index just after the lead byte of the first multi-byte character, or -1 when the chunk is all ASCII. */
function splitPoint(bytes: Buffer): number {
  for (let index = 0; index < bytes.length; index += 1) {
    const byte = bytes[index];
    if (byte !== undefined && byte >= 0xc0) return index + 1;
  }
  return -1;
}

function textLength(content: unknown): number {
  if (typeof content === 'string') return content.length;
  if (!Array.isArray(content)) return 0;
  let total = 0;
  for (const part of content as unknown[]) {
    const text = isRecord(part) ? part.text : undefined;
    if (typeof text === 'string') total += text.length;
  }
  return total;
}

/** Characters of every message, plus Anthropic's top-level system prompt. */
function promptCharacters(body: Record<string, unknown>): number {
  let total = textLength(body.system);
  const messages = body.messages;
  if (!Array.isArray(messages)) return total;
  for (const message of messages as unknown[]) {
    if (isRecord(message)) total += textLength(message.content);
  }
  return total;
}

/** One chat request in flight. */
interface Exchange {
  readonly log: UpstreamRequestLog;
  readonly request: IncomingMessage;
  readonly response: ServerResponse;
  /** The scenario answering; a steps scenario is replaced by its step once the body is read. */
  scenario: FakeScenario;
  /** What this request is answered with; set once its body is read. */
  plan: TokenPlan;
  /** Set before this side ends or destroys the response, so the close handler can tell who went first. */
  serverEnded: boolean;
  closed: boolean;
  timer: NodeJS.Timeout | undefined;
  immediate: NodeJS.Immediate | undefined;
}

function later(exchange: Exchange, delayMs: number, next: () => void): void {
  if (exchange.closed) return;
  const run = (): void => {
    exchange.timer = undefined;
    exchange.immediate = undefined;
    if (!exchange.closed) next();
  };
  // Even with no delay, yield to the event loop so one fast stream cannot starve a thousand others.
  if (delayMs > 0) exchange.timer = setTimeout(run, delayMs);
  else exchange.immediate = setImmediate(run);
}

/** Writes one chunk (split if the scenario asks), calls onWritten once it is handed to the socket, next once writable. */
function send(
  exchange: Exchange,
  chunk: string,
  onWritten: (() => void) | undefined,
  next: () => void,
): void {
  if (exchange.closed) return;
  const { response } = exchange;
  const finish = (data: string | Buffer): void => {
    const flushed = response.write(data);
    onWritten?.();
    if (flushed) {
      next();
      return;
    }
    response.once('drain', () => {
      if (!exchange.closed) next();
    });
  };
  if (exchange.scenario.splitMultibyte === true) {
    const bytes = Buffer.from(chunk, 'utf8');
    const cut = splitPoint(bytes);
    if (cut > 0) {
      response.write(bytes.subarray(0, cut));
      exchange.timer = setTimeout(() => {
        exchange.timer = undefined;
        if (!exchange.closed) finish(bytes.subarray(cut));
      }, SPLIT_GAP_MS);
      return;
    }
  }
  finish(chunk);
}

function sendAll(exchange: Exchange, chunks: readonly string[], next: () => void, from = 0): void {
  const chunk = chunks[from];
  if (chunk === undefined) {
    next();
    return;
  }
  send(exchange, chunk, undefined, () => sendAll(exchange, chunks, next, from + 1));
}

function endByServer(exchange: Exchange, completed: boolean): void {
  exchange.serverEnded = true;
  exchange.log.completed = completed;
  exchange.response.end();
}

function dropConnection(exchange: Exchange): void {
  exchange.serverEnded = true;
  exchange.request.socket.destroy();
}

function completionTokens(exchange: Exchange, sent: number): number {
  return exchange.scenario.usage?.completionTokens ?? sent;
}

function streamAnswer(exchange: Exchange, format: WireFormat, context: AnswerContext): void {
  const { scenario, response, log, plan } = exchange;
  const encoder: StreamEncoder = format.streamEncoder(context);
  const interTokenMs = scenario.interTokenMs ?? 0;
  let malformedSent = false;
  const toolChunks = context.toolCalls.length > 0 ? encoder.toolChunks() : [];

  if (scenario.splitMultibyte === true) exchange.request.socket.setNoDelay(true);
  response.writeHead(200, {
    'content-type': format.streamContentType,
    'cache-control': 'no-cache',
    connection: 'keep-alive',
  });
  // Headers go out now, not with the first chunk, so ttftMs is measured from a response the client can see.
  response.flushHeaders();

  const emitToken = (index: number): void => {
    if (scenario.malformedAfter === index && !malformedSent) {
      malformedSent = true;
      send(exchange, encoder.malformed, undefined, () => emitToken(index));
      return;
    }
    if (scenario.streamErrorAfter === index) {
      send(exchange, encoder.error(scenario.streamErrorStatus ?? 500), undefined, () =>
        endByServer(exchange, false),
      );
      return;
    }
    if (scenario.dropAfter === index) {
      dropConnection(exchange);
      return;
    }
    // Stalling is simply scheduling nothing: the socket stays open until the client or close() ends it.
    if (scenario.stallAfter === index) return;
    const token = plan.tokens[index];
    const tokenJson = plan.tokenJson[index];
    if (token === undefined || tokenJson === undefined) {
      const toolChunk = toolChunks[index - plan.tokens.length];
      if (toolChunk !== undefined) {
        send(
          exchange,
          toolChunk,
          () => {
            log.toolChunksSent += 1;
          },
          () => later(exchange, interTokenMs, () => emitToken(index + 1)),
        );
        return;
      }
      sendAll(exchange, encoder.tail(completionTokens(exchange, log.tokensSent)), () =>
        endByServer(exchange, true),
      );
      return;
    }
    if (index === 0) log.firstTokenAt = performance.now();
    send(
      exchange,
      encoder.token(tokenJson),
      () => {
        log.tokensSent += 1;
        log.textSent += token;
      },
      () => later(exchange, interTokenMs, () => emitToken(index + 1)),
    );
  };

  const start = (): void => sendAll(exchange, encoder.head, () => emitToken(0));
  const ttftMs = scenario.ttftMs ?? 0;
  if (ttftMs > 0) later(exchange, ttftMs, start);
  else start();
}

function answerWhole(exchange: Exchange, format: WireFormat, context: AnswerContext): void {
  const { scenario, response, log, plan } = exchange;
  // A non-streaming call takes as long as the stream would have, so timeouts behave alike.
  const generationMs =
    (scenario.ttftMs ?? 0) + (scenario.interTokenMs ?? 0) * Math.max(0, plan.tokens.length - 1);
  later(exchange, generationMs, () => {
    if (scenario.dropAfter !== undefined) {
      dropConnection(exchange);
      return;
    }
    if (scenario.stallAfter !== undefined) return;
    const payload = format.wholeAnswer(context, plan.text, completionTokens(exchange, plan.tokens.length));
    if (scenario.splitMultibyte === true) exchange.request.socket.setNoDelay(true);
    response.writeHead(200, { 'content-type': 'application/json' });
    log.firstTokenAt = performance.now();
    send(
      exchange,
      payload,
      () => {
        log.tokensSent = plan.tokens.length;
        log.textSent = plan.text;
      },
      () => endByServer(exchange, true),
    );
  });
}

/** The whole embeddings answer at once, after ttftMs of "computing"; dropAfter and stallAfter cut it off. */
function answerEmbeddings(exchange: Exchange, wire: EmbeddingsWire, body: Record<string, unknown>): void {
  const { scenario, response, log } = exchange;
  later(exchange, scenario.ttftMs ?? 0, () => {
    if (scenario.dropAfter !== undefined) {
      dropConnection(exchange);
      return;
    }
    if (scenario.stallAfter !== undefined) return;
    const payload = wire.answer(body);
    response.writeHead(200, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(payload),
    });
    log.firstTokenAt = performance.now();
    send(exchange, payload, undefined, () => endByServer(exchange, true));
  });
}

function replayAnswer(exchange: Exchange, replay: { contentType: string; body: string }): void {
  exchange.response.writeHead(200, { 'content-type': replay.contentType });
  send(exchange, replay.body, undefined, () => endByServer(exchange, true));
}

export function startFakeUpstream(options: FakeUpstreamOptions = {}): Promise<FakeUpstream> {
  return startServer(options, '/v1');
}

/** The fake as Ollama at its default address would be: base URL without a path, /api/chat and /api/tags. */
export function startFakeOllama(options: FakeUpstreamOptions = {}): Promise<FakeUpstream> {
  return startServer(options, '');
}

/** The fake as api.anthropic.com would be: base URL without a path, /v1/messages. */
export function startFakeAnthropic(options: FakeUpstreamOptions = {}): Promise<FakeUpstream> {
  return startServer(options, '');
}

function startServer(options: FakeUpstreamOptions, basePath: string): Promise<FakeUpstream> {
  const host = options.host ?? '127.0.0.1';
  const initialScenario: FakeScenario = options.scenario ?? {};
  const requireApiKey = options.requireApiKey;
  const embeddingDimensions = options.embeddingDimensions ?? FAKE_EMBEDDING_DIMENSIONS;
  const openAI = createOpenAIFormat(embeddingDimensions);
  const formats: readonly WireFormat[] = [
    openAI,
    createOllamaFormat(options.ollamaModels ?? DEFAULT_OLLAMA_MODELS, embeddingDimensions),
    createAnthropicFormat(),
  ];

  let defaultScenario = initialScenario;
  let queue: FakeScenario[] = [];
  let logs: UpstreamRequestLog[] = [];
  let nextId = 1;
  let shuttingDown = false;
  let openRequests = 0;
  let peakOpenRequests = 0;
  /** Held requests' answers, by request id, run by release(id). */
  const held = new Map<number, () => void>();
  const bodyRead = new WeakSet<UpstreamRequestLog>();
  const waiters = new Set<() => boolean>();

  const notify = (): void => {
    for (const waiter of waiters) {
      if (waiter()) waiters.delete(waiter);
    }
  };

  /** A chat request, or with `embeddings` an embedding request; both share logging, refusals and faults. */
  const handleChat = (
    format: WireFormat,
    request: IncomingMessage,
    response: ServerResponse,
    embeddings?: EmbeddingsWire,
  ): void => {
    const log: UpstreamRequestLog = {
      id: nextId,
      body: undefined,
      headers: { ...request.headers },
      url: request.url ?? '/',
      scenario: queue.shift() ?? defaultScenario,
      startedAt: performance.now(),
      tokensSent: 0,
      textSent: '',
      completed: false,
      toolChunksSent: 0,
    };
    nextId += 1;
    logs.push(log);
    openRequests += 1;
    peakOpenRequests = Math.max(peakOpenRequests, openRequests);
    const exchange: Exchange = {
      log,
      request,
      response,
      scenario: log.scenario,
      plan: EMPTY_PLAN,
      serverEnded: false,
      closed: false,
      timer: undefined,
      immediate: undefined,
    };

    response.on('close', () => {
      openRequests -= 1;
      held.delete(log.id);
      log.closedAt = performance.now();
      exchange.closed = true;
      if (exchange.timer !== undefined) clearTimeout(exchange.timer);
      if (exchange.immediate !== undefined) clearImmediate(exchange.immediate);
      log.closedBy = exchange.serverEnded || shuttingDown ? 'server' : 'client';
      notify();
    });

    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) tooLarge = true;
      else chunks.push(chunk);
    });
    request.on('error', () => {
      // The client went away mid-body; the response close handler records it.
    });
    request.on('end', () => {
      if (exchange.closed) return;
      const raw = Buffer.concat(chunks).toString('utf8');
      let parsed: unknown;
      let parseFailed = false;
      try {
        parsed = JSON.parse(raw);
      } catch {
        parseFailed = true;
      }
      log.body = parsed;
      bodyRead.add(log);
      notify();

      const model =
        isRecord(parsed) && typeof parsed.model === 'string' ? parsed.model : OPENAI_DEFAULT_MODEL;
      const refuse = (refusal: Refusal): void => {
        exchange.serverEnded = true;
        sendError(response, format.errorBody(refusal.status, refusal.overrides, model), refusal.status);
      };
      const headerRefusal = format.refuseHeaders(request.headers, requireApiKey);
      if (headerRefusal !== undefined) {
        refuse(headerRefusal);
        return;
      }
      if (tooLarge) {
        refuse({ status: 413, overrides: { message: 'Request body too large (fake upstream).' } });
        return;
      }
      if (parseFailed || !isRecord(parsed)) {
        refuse({
          status: 400,
          overrides: {
            message:
              "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly.)",
          },
        });
        return;
      }
      const body = parsed;
      const bodyRefusal = (embeddings ?? format).refuseBody(body);
      if (bodyRefusal !== undefined) {
        refuse(bodyRefusal);
        return;
      }

      if (embeddings === undefined) {
        const turns = format.toolTurns(body);
        log.toolTurns = turns;
        const { steps } = exchange.scenario;
        if (steps !== undefined && steps.length > 0) {
          exchange.scenario = steps[Math.min(turns.callTurns, steps.length - 1)]!;
          log.scenario = exchange.scenario;
        }
      }
      const { scenario } = exchange;
      const maxTokens = embeddings === undefined ? format.maxTokens(body) : undefined;
      if (maxTokens !== undefined) log.maxTokens = maxTokens;
      if (embeddings === undefined && scenario.replay === undefined) {
        const { plan, truncated } = planForRequest(scenario, body, maxTokens);
        exchange.plan = plan;
        log.truncated = truncated;
      }
      const toolCalls = scenario.toolCalls ?? [];
      const context: AnswerContext = {
        requestId: log.id,
        model,
        created: Math.floor(Date.now() / 1000),
        body,
        finishReason:
          scenario.finishReason ??
          (log.truncated === true
            ? format.lengthReason
            : toolCalls.length > 0
              ? format.toolCallsReason
              : undefined),
        promptTokens: scenario.usage?.promptTokens ?? Math.ceil(promptCharacters(body) / 4),
        startedAt: log.startedAt,
        toolCalls,
        hasText: exchange.plan.tokens.length > 0,
        argumentChunkChars: Math.max(1, scenario.argumentChunkChars ?? DEFAULT_ARGUMENT_CHUNK_CHARS),
      };
      const respond = (): void => {
        if (scenario.errorStatus !== undefined) {
          const headers: Record<string, string> = {};
          if (scenario.retryAfterSeconds !== undefined)
            headers['retry-after'] = String(scenario.retryAfterSeconds);
          exchange.serverEnded = true;
          sendError(
            response,
            format.errorBody(scenario.errorStatus, {}, model),
            scenario.errorStatus,
            headers,
          );
          return;
        }
        if (scenario.replay !== undefined) replayAnswer(exchange, scenario.replay);
        else if (embeddings !== undefined) answerEmbeddings(exchange, embeddings, body);
        else if (format.wantsStream(body)) streamAnswer(exchange, format, context);
        else answerWhole(exchange, format, context);
      };
      const headersDelayMs = scenario.headersDelayMs ?? 0;
      const go = (): void => {
        if (headersDelayMs > 0) later(exchange, headersDelayMs, respond);
        else respond();
      };
      if (scenario.held === true) held.set(log.id, go);
      else go();
    });
  };

  const handleListing = (
    format: WireFormat,
    listing: string,
    request: IncomingMessage,
    response: ServerResponse,
  ): void => {
    request.resume();
    const refusal = format.refuseHeaders(request.headers, requireApiKey);
    if (refusal !== undefined) {
      sendError(response, format.errorBody(refusal.status, refusal.overrides, ''), refusal.status);
      return;
    }
    response.writeHead(200, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(listing),
    });
    response.end(listing);
  };

  const server: Server = createServer({ noDelay: true }, (request, response) => {
    const path = (request.url ?? '/').split('?')[0] ?? '/';
    if (request.method === 'POST') {
      const format = formats.find((candidate) => candidate.handlesChat(path));
      if (format !== undefined) {
        handleChat(format, request, response);
        return;
      }
      const embedder = formats.find((candidate) => candidate.embeddings?.handles(path) === true);
      if (embedder?.embeddings !== undefined) {
        handleChat(embedder, request, response, embedder.embeddings);
        return;
      }
    }
    if (request.method === 'GET') {
      const format = formats.find((candidate) => candidate.listing?.path === path);
      if (format?.listing !== undefined) {
        handleListing(format, format.listing.body, request, response);
        return;
      }
    }
    request.resume();
    const overrides: ErrorOverrides = {
      message: `Unknown request URL: ${request.method ?? 'GET'} ${path} (fake upstream).`,
      code: 'unknown_url',
    };
    sendError(response, openAI.errorBody(404, overrides, ''), 404);
  });

  // closeAllConnections() misses sockets that connected but never sent a request line.
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });

  const waitFor = (
    id: number,
    timeoutMs: number,
    ready: (log: UpstreamRequestLog) => boolean,
    what: string,
  ): Promise<UpstreamRequestLog> =>
    new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const check = (): boolean => {
        const log = logs.find((entry) => entry.id === id);
        if (log === undefined || !ready(log)) return false;
        if (timer !== undefined) clearTimeout(timer);
        resolve(log);
        return true;
      };
      if (check()) return;
      timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`fake upstream: request ${id} was not ${what} within ${timeoutMs} ms`));
      }, timeoutMs);
      waiters.add(check);
    });

  let closing: Promise<void> | undefined;

  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: options.port ?? 0, host, backlog: LISTEN_BACKLOG }, () => {
      server.off('error', reject);
      const port = (server.address() as AddressInfo).port;
      const urlHost = host.includes(':') ? `[${host}]` : host;
      const origin = `http://${urlHost}:${port}`;
      resolve({
        url: `${origin}${basePath}`,
        origin,
        port,
        get requests(): readonly UpstreamRequestLog[] {
          return logs;
        },
        get openRequests(): number {
          return openRequests;
        },
        get peakOpenRequests(): number {
          return peakOpenRequests;
        },
        release(id: number): boolean {
          const answer = held.get(id);
          if (answer === undefined) return false;
          held.delete(id);
          answer();
          return true;
        },
        setScenario(scenario: FakeScenario): void {
          defaultScenario = scenario;
        },
        enqueue(...scenarios: FakeScenario[]): void {
          queue.push(...scenarios);
        },
        waitForRequest(id: number, timeoutMs = DEFAULT_WAIT_MS): Promise<UpstreamRequestLog> {
          return waitFor(id, timeoutMs, (log) => bodyRead.has(log) || log.closedAt !== undefined, 'received');
        },
        waitForClose(id: number, timeoutMs = DEFAULT_WAIT_MS): Promise<UpstreamRequestLog> {
          return waitFor(id, timeoutMs, (log) => log.closedAt !== undefined, 'closed');
        },
        fullText(scenario?: FakeScenario): string {
          return planFor(scenario ?? defaultScenario).text;
        },
        reset(): void {
          logs = [];
          queue = [];
          nextId = 1;
          peakOpenRequests = openRequests;
          defaultScenario = initialScenario;
        },
        close(): Promise<void> {
          closing ??= new Promise<void>((resolveClose) => {
            shuttingDown = true;
            server.close(() => resolveClose());
            server.closeAllConnections();
            for (const socket of sockets) socket.destroy();
          });
          return closing;
        },
      });
    });
  });
}
