// The Rivulet client: start an answer, iterate its typed events, stop it, and survive network drops by resuming
// from the last event seen (Last-Event-ID over SSE, `resume` over WebSocket) with bounded, jittered retries.
// Zero runtime dependencies; runs in browsers and in Node 22+ (global fetch and WebSocket).

import type { Conversation, MessageMetadata, StoredMessage } from '../../src/core/conversation-store.ts';
import type { DoneEvent, ErrorEvent, RunEvent } from '../../src/core/events.ts';
import type { ChatAnswer } from '../../src/transports/encoders/aggregate.ts';
import type { StatsResponse } from '../../src/core/stats.ts';
import { createSseParser } from './sse-parser.ts';

export interface ChatRequest {
  message: string;
  conversationId?: string | undefined;
  chatbotId?: string | undefined;
  temperature?: number | undefined;
  maxTokens?: number | undefined;
  /**
   * Stored with the question and returned with the conversation's messages: a JSON object of at most 32 keys (1 to
   * 64 characters), 8 KB serialized, 16 levels deep (400 VALIDATION_FAILED beyond).
   */
  metadata?: MessageMetadata | undefined;
}

export interface RetryOptions {
  /** Reconnections in a row without receiving an event before giving up (default 6). */
  attempts?: number;
  /** First delay; each further attempt doubles it, with jitter (default 300 ms). */
  baseDelayMs?: number;
  /** Longest delay between attempts (default 8 s). */
  maxDelayMs?: number;
}

export type HeadersSource =
  Record<string, string> | (() => Record<string, string> | Promise<Record<string, string>>);

export interface ClientOptions {
  /** Server origin, e.g. "https://chat.example.com". Default: the page's origin in a browser. */
  baseUrl?: string;
  /** Extra request headers (an `Authorization` header, for example), or a function returning them per request. */
  headers?: HeadersSource;
  fetch?: typeof fetch;
  WebSocket?: typeof WebSocket;
  retry?: RetryOptions;
}

export interface StreamOptions {
  /** `sse` (default) or `websocket`. */
  transport?: 'sse' | 'websocket';
  /** Aborting disconnects without stopping the run: the server keeps it for a grace period, so it can be resumed. */
  signal?: AbortSignal;
  retry?: RetryOptions;
}

/** A failure the client can report: the server's error code, or a client-side one (NETWORK_ERROR, STREAM_INTERRUPTED). */
export class RivuletClientError extends Error {
  readonly code: string;
  /** HTTP status, when the failure was an HTTP answer. */
  readonly status: number | undefined;
  readonly retryable: boolean;

  constructor(
    code: string,
    message: string,
    options: { status?: number; retryable?: boolean; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'RivuletClientError';
    this.code = code;
    this.status = options.status;
    this.retryable = options.retryable ?? false;
  }
}

const DEFAULT_RETRY: Required<RetryOptions> = { attempts: 6, baseDelayMs: 300, maxDelayMs: 8000 };

type QueueItem = { event: RunEvent } | { end: true } | { failure: RivuletClientError };

/**
 * One answer as it streams. Iterate it with `for await` to get each event once, in order, whatever reconnections
 * happened underneath; `text` is the answer so far. The connection starts when the stream is created.
 */
export class ChatStream implements AsyncIterable<RunEvent> {
  /** Known from the response headers (SSE) or the `accepted` frame (WebSocket), before any event. */
  runId: string | undefined;
  /** The seq of the last event received: what a resume asks to continue after. */
  lastSeq = -1;
  /** The answer text so far (after `done`, the whole answer as the server stored it). */
  text = '';
  /** The terminal event, once it arrived. */
  terminal: DoneEvent | ErrorEvent | undefined;
  /** How many reconnection attempts were made (each after a backoff delay). */
  reconnects = 0;

  readonly #queue: QueueItem[] = [];
  #wake: (() => void) | undefined;
  #iterating = false;
  #finished = false;
  readonly #runIdWaiters: ((runId: string | undefined) => void)[] = [];
  /** Aborted when the consumer stops iterating before the end. */
  readonly #leave = new AbortController();
  /** Set when a WebSocket `resumed` frame said the run finished at or before our last seq: nothing will follow. */
  #caughtUp = false;

  private readonly client: RivuletClient;
  private readonly options: StreamOptions;

  constructor(
    client: RivuletClient,
    start: { request: ChatRequest } | { runId: string; lastSeq: number },
    options: StreamOptions,
  ) {
    this.client = client;
    const signal =
      options.signal === undefined
        ? this.#leave.signal
        : AbortSignal.any([options.signal, this.#leave.signal]);
    this.options = { ...options, signal };
    if ('runId' in start) {
      this.runId = start.runId;
      this.lastSeq = start.lastSeq;
    }
    const connect = (options.transport ?? 'sse') === 'websocket' ? this.#runWebSocket : this.#runSse;
    const request = 'request' in start ? start.request : undefined;
    connect.call(this, request).then(
      () => this.#finish({ end: true }),
      (error: unknown) => this.#finish({ failure: toClientError(error) }),
    );
  }

  /** Resolves with the run id as soon as the server named it (undefined if the request failed before that). */
  waitForRunId(): Promise<string | undefined> {
    if (this.runId !== undefined || this.#finished) return Promise.resolve(this.runId);
    return new Promise((resolve) => this.#runIdWaiters.push(resolve));
  }

  /**
   * Stops the run on the server: the provider request is aborted and the stream ends with `done`
   * (`finishReason: "aborted"`) carrying the partial answer. Resolves true when a running answer was stopped.
   */
  async stop(): Promise<boolean> {
    // stop() itself waits for the run id and sends the one stop request. (The connection loops used to send a
    // second one as soon as the id was known; that one usually won, so this stop() got `stopped: false` and
    // resolved false although it stopped the run, and a failure of the extra request was an unhandled rejection.)
    const runId = await this.waitForRunId();
    if (runId === undefined || this.terminal !== undefined) return false;
    return this.client.stopRun(runId);
  }

  /** Reads to the end: the terminal event and the whole text. Throws on a failure that is not a run `error` event. */
  async result(): Promise<{ text: string; terminal: DoneEvent | ErrorEvent | undefined }> {
    for await (const _event of this) {
      // Consuming is enough: text and terminal are kept as events arrive.
    }
    return { text: this.text, terminal: this.terminal };
  }

  async *[Symbol.asyncIterator](): AsyncIterator<RunEvent> {
    if (this.#iterating) throw new Error('A ChatStream can be iterated once.');
    this.#iterating = true;
    try {
      for (;;) {
        const item = this.#queue.shift();
        if (item === undefined) {
          await new Promise<void>((resolve) => (this.#wake = resolve));
          continue;
        }
        if ('event' in item) yield item.event;
        else if ('failure' in item) throw item.failure;
        else return;
      }
    } finally {
      // Leaving the loop early (break, return, a throw in its body) disconnects, like aborting the signal: the
      // run goes on on the server and can be resumed.
      if (!this.#finished) this.#leave.abort();
    }
  }

  #push(item: QueueItem): void {
    this.#queue.push(item);
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  #finish(item: QueueItem): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#setRunId(this.runId);
    this.#push(item);
  }

  #setRunId(runId: string | undefined): void {
    this.runId = runId;
    if (runId === undefined && !this.#finished) return;
    for (const waiter of this.#runIdWaiters.splice(0)) waiter(runId);
  }

  /** Takes an event unless it was already delivered (a resume replays from the last seq the server knows). */
  #accept(event: RunEvent): void {
    if (event.seq <= this.lastSeq || this.terminal !== undefined) return;
    this.lastSeq = event.seq;
    if (event.type === 'start' && this.runId === undefined) this.#setRunId(event.runId);
    if (event.type === 'token') this.text += event.text;
    else if (event.type === 'done') {
      this.text = event.text;
      this.terminal = event;
    } else if (event.type === 'error') this.terminal = event;
    this.#push({ event });
  }

  get #aborted(): boolean {
    return this.options.signal?.aborted === true;
  }

  /** Waits before the next attempt, or throws once the attempts in a row are spent. */
  async #backoff(attempt: number, cause: unknown): Promise<void> {
    const retry = { ...DEFAULT_RETRY, ...this.client.retry, ...this.options.retry };
    if (attempt > retry.attempts) {
      throw new RivuletClientError(
        'STREAM_INTERRUPTED',
        `The connection dropped and ${retry.attempts} attempts to resume the answer failed.`,
        { retryable: true, cause },
      );
    }
    const delay =
      Math.min(retry.maxDelayMs, retry.baseDelayMs * 2 ** (attempt - 1)) * (0.5 + Math.random() / 2);
    await sleep(delay, this.options.signal);
    this.reconnects++;
  }

  /**
   * The reconnection loop both transports share: `connect(first)` makes one connection and reads it until it ends;
   * it returns true when the stream is over (terminal event, or nothing more to read) and false when it was cut.
   * A cut is resumed after a backoff; a refusal (4xx) is final, and so is a failure before the server named the
   * run: there is nothing to resume, and asking again could ask twice.
   */
  async #reconnecting(
    first: boolean,
    connect: (first: boolean) => Promise<boolean>,
    cut: string,
  ): Promise<void> {
    let attempt = 0;
    while (!this.#aborted) {
      const seqBefore = this.lastSeq;
      let cause: unknown;
      try {
        const isFirst = first;
        first = false;
        if (await connect(isFirst)) return;
        // A connection closed by our own signal is a disconnect, not a drop: no reconnection (and no error).
        if (this.#aborted) return;
        cause = new Error(cut);
      } catch (error) {
        if (this.#aborted) return;
        if (error instanceof RivuletClientError && !error.retryable) throw error;
        if (this.runId === undefined) throw toClientError(error);
        cause = error;
      }
      attempt = this.lastSeq > seqBefore ? 1 : attempt + 1;
      await this.#backoff(attempt, cause);
    }
  }

  #runSse(request: ChatRequest | undefined): Promise<void> {
    return this.#reconnecting(
      request !== undefined,
      async (first) => {
        const response = first
          ? await this.client.request('/api/chat/stream', {
              method: 'POST',
              json: request,
              accept: 'text/event-stream',
              signal: this.options.signal,
            })
          : await this.client.request(`/api/runs/${encodeURIComponent(this.runId ?? '')}/events`, {
              accept: 'text/event-stream',
              headers: this.lastSeq >= 0 ? { 'last-event-id': `${this.runId}:${this.lastSeq}` } : {},
              signal: this.options.signal,
            });
        if (first) this.#setRunId(response.headers.get('x-run-id') ?? undefined);
        // 204: the server holds nothing after our last event, so the terminal event was already delivered.
        if (response.status === 204) return true;
        await this.#readSse(response);
        return this.terminal !== undefined;
      },
      'the stream ended before its terminal event',
    );
  }

  async #readSse(response: Response): Promise<void> {
    if (response.body === null) return;
    const parser = createSseParser();
    const decoder = new TextDecoder();
    const reader = response.body.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        for (const frame of parser.push(decoder.decode(value, { stream: true }))) {
          this.#accept(JSON.parse(frame.data) as RunEvent);
        }
        if (this.terminal !== undefined) break;
      }
    } finally {
      reader.cancel().catch(() => undefined);
    }
  }

  #runWebSocket(request: ChatRequest | undefined): Promise<void> {
    return this.#reconnecting(
      request !== undefined,
      async (first) => {
        const message = first
          ? { type: 'chat', ...request, requestId: 'chat' }
          : { type: 'resume', runId: this.runId, lastSeq: this.lastSeq, requestId: 'resume' };
        await this.#readWebSocket(message);
        return this.terminal !== undefined || this.#caughtUp;
      },
      'the socket closed before the terminal event',
    );
  }

  /** One socket's life: send the command, take frames until the run ends or the socket closes. */
  #readWebSocket(command: object): Promise<void> {
    const Socket = this.client.webSocket;
    return new Promise<void>((resolve, reject) => {
      const socket = new Socket(this.client.webSocketUrl());
      let settled = false;
      const settle = (failure?: unknown): void => {
        if (settled) return;
        settled = true;
        this.options.signal?.removeEventListener('abort', onAbort);
        if (socket.readyState === socket.OPEN || socket.readyState === socket.CONNECTING) socket.close(1000);
        if (failure === undefined) resolve();
        else reject(failure instanceof Error ? failure : new Error('WebSocket failure'));
      };
      const onAbort = (): void => settle();
      this.options.signal?.addEventListener('abort', onAbort);
      socket.addEventListener('open', () => {
        // Browsers cannot put headers on a WebSocket: the configured credentials go in a first `auth` message.
        void this.client.webSocketAuth().then((auth) => {
          if (socket.readyState !== socket.OPEN) return;
          if (auth !== undefined) socket.send(JSON.stringify(auth));
          socket.send(JSON.stringify(command));
        }, settle);
      });
      socket.addEventListener('message', (message: MessageEvent) => {
        if (typeof message.data !== 'string') return;
        const frame = JSON.parse(message.data) as WsServerFrame;
        if (frame.type === 'accepted') {
          this.#setRunId(frame.runId);
        } else if (frame.type === 'event') {
          this.#accept(frame.event);
          if (this.terminal !== undefined) settle();
        } else if (frame.type === 'resumed') {
          // The WebSocket counterpart of SSE's 204: the run finished at or before the seq we resumed after, so no
          // event will follow. Without this the socket waited forever (resume(runId, {lastSeq: <terminal seq>})).
          if (frame.state === 'finished' && frame.lastSeq <= frame.afterSeq) {
            this.#caughtUp = true;
            settle();
          }
        } else if (frame.type === 'error') {
          const { code, message: text, status, retryable } = frame.error;
          settle(new RivuletClientError(code, text, { status, retryable }));
        }
      });
      socket.addEventListener('error', () => settle(new Error('WebSocket error')));
      socket.addEventListener('close', (event: CloseEvent) => {
        if (event.code === 1008) {
          settle(
            new RivuletClientError('UNAUTHORIZED', event.reason || 'The server refused this connection.'),
          );
        } else settle(new Error(`WebSocket closed (${event.code})`));
      });
    });
  }
}

type WsServerFrame =
  | { type: 'accepted'; requestId?: string; runId: string }
  | { type: 'event'; runId: string; event: RunEvent }
  | { type: 'stopped'; runId: string; stopped: boolean }
  | { type: 'resumed'; runId: string; state: 'running' | 'finished'; afterSeq: number; lastSeq: number }
  | {
      type: 'error';
      requestId?: string;
      runId?: string;
      error: { code: string; message: string; status: number; retryable: boolean };
    };

export interface ConversationPage {
  conversations: Conversation[];
  nextCursor: string | null;
}

export interface UploadProgress {
  /** Bytes sent so far and in total (the request body). */
  loaded: number;
  total: number;
}

export class RivuletClient {
  readonly baseUrl: string;
  readonly retry: RetryOptions | undefined;
  readonly #fetch: typeof fetch;
  readonly #headers: HeadersSource | undefined;
  readonly #webSocket: typeof WebSocket | undefined;

  constructor(options: ClientOptions = {}) {
    const origin = typeof location === 'undefined' ? undefined : location.origin;
    const baseUrl = options.baseUrl ?? origin;
    if (baseUrl === undefined) throw new TypeError('RivuletClient needs a baseUrl outside a browser.');
    this.baseUrl = baseUrl.replace(/\/+$/, '');
    this.retry = options.retry;
    this.#fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.#headers = options.headers;
    this.#webSocket = options.WebSocket ?? globalThis.WebSocket;
  }

  get webSocket(): typeof WebSocket {
    if (this.#webSocket === undefined)
      throw new TypeError('No WebSocket implementation: pass one in ClientOptions.');
    return this.#webSocket;
  }

  webSocketUrl(): string {
    return `${this.baseUrl.replace(/^http/, 'ws')}/api/ws`;
  }

  /** Starts an answer and streams it. */
  chat(request: ChatRequest, options: StreamOptions = {}): ChatStream {
    return new ChatStream(this, { request }, options);
  }

  /** Joins a run that is streaming (or finished within the retention window), after `lastSeq` (default: from the start). */
  resume(runId: string, options: StreamOptions & { lastSeq?: number } = {}): ChatStream {
    return new ChatStream(this, { runId, lastSeq: options.lastSeq ?? -1 }, options);
  }

  /** The non-streaming path: one JSON answer once it is complete. */
  async complete(request: ChatRequest, options: { signal?: AbortSignal } = {}): Promise<ChatAnswer> {
    const response = await this.request('/api/chat', {
      method: 'POST',
      json: request,
      signal: options.signal,
    });
    return (await response.json()) as ChatAnswer;
  }

  /** Stops a run; true when it was running. */
  async stopRun(runId: string): Promise<boolean> {
    const response = await this.request(`/api/runs/${encodeURIComponent(runId)}/stop`, { method: 'POST' });
    return ((await response.json()) as { stopped: boolean }).stopped;
  }

  async listConversations(options: { limit?: number; after?: string } = {}): Promise<ConversationPage> {
    const query = new URLSearchParams();
    if (options.limit !== undefined) query.set('limit', String(options.limit));
    if (options.after !== undefined) query.set('after', options.after);
    const suffix = query.size > 0 ? `?${query.toString()}` : '';
    return (await (await this.request(`/api/conversations${suffix}`)).json()) as ConversationPage;
  }

  async conversationMessages(
    conversationId: string,
  ): Promise<{ conversation: Conversation; messages: StoredMessage[] }> {
    const response = await this.request(`/api/conversations/${encodeURIComponent(conversationId)}/messages`);
    return (await response.json()) as { conversation: Conversation; messages: StoredMessage[] };
  }

  /** GET /api/stats (admins): the last hour per minute, the last 5 minutes merged, the streams active now. */
  async stats(filter: { chatbotId?: string; provider?: string } = {}): Promise<StatsResponse> {
    const query = new URLSearchParams();
    if (filter.chatbotId !== undefined) query.set('chatbotId', filter.chatbotId);
    if (filter.provider !== undefined) query.set('provider', filter.provider);
    const response = await this.request(`/api/stats${query.size > 0 ? `?${query.toString()}` : ''}`);
    return (await response.json()) as StatsResponse;
  }

  async deleteConversation(conversationId: string): Promise<void> {
    await this.request(`/api/conversations/${encodeURIComponent(conversationId)}`, { method: 'DELETE' });
  }

  /** Gives a conversation its owner's title (one line, 1 to 200 characters); its place in the list is kept. */
  async renameConversation(conversationId: string, title: string): Promise<Conversation> {
    const response = await this.request(`/api/conversations/${encodeURIComponent(conversationId)}`, {
      method: 'PATCH',
      json: { title },
    });
    return (await response.json()) as Conversation;
  }

  /**
   * Sends a request with the configured headers; a non-2xx answer throws RivuletClientError with the server's code
   * (5xx and 429 are marked retryable), a network failure throws NETWORK_ERROR.
   */
  async request(
    path: string,
    init: {
      method?: string;
      json?: unknown;
      accept?: string;
      headers?: Record<string, string>;
      signal?: AbortSignal | undefined;
    } = {},
  ): Promise<Response> {
    const headers: Record<string, string> = { ...(await this.headers()), ...init.headers };
    if (init.accept !== undefined) headers.accept = init.accept;
    if (init.json !== undefined) headers['content-type'] = 'application/json';
    let response: Response;
    try {
      response = await this.#fetch(`${this.baseUrl}${path}`, {
        method: init.method ?? 'GET',
        headers,
        body: init.json === undefined ? null : JSON.stringify(init.json),
        signal: init.signal ?? null,
      });
    } catch (error) {
      if (init.signal?.aborted === true) throw error;
      throw new RivuletClientError('NETWORK_ERROR', 'The server could not be reached.', {
        retryable: true,
        cause: error,
      });
    }
    if (!response.ok) throw await errorFromResponse(response);
    return response;
  }

  /**
   * The `auth` message a WebSocket sends first, from the configured headers: the bearer token of `Authorization`,
   * or an anonymous visitor's `X-Session-Id`; undefined when there are no credentials (an open install).
   */
  async webSocketAuth(): Promise<{ type: 'auth'; token?: string; sessionId?: string } | undefined> {
    const headers = Object.fromEntries(
      Object.entries(await this.headers()).map(([name, value]) => [name.toLowerCase(), value]),
    );
    const token = /^Bearer\s+(\S+)$/i.exec(headers.authorization ?? '')?.[1];
    if (token !== undefined) return { type: 'auth', token };
    const sessionId = headers['x-session-id'];
    return sessionId === undefined ? undefined : { type: 'auth', sessionId };
  }

  /** The headers configured for every request (resolved when given as a function). */
  async headers(): Promise<Record<string, string>> {
    const source = this.#headers;
    if (source === undefined) return {};
    return typeof source === 'function' ? await source() : source;
  }
}

export async function errorFromResponse(response: Response): Promise<RivuletClientError> {
  let code = `HTTP_${response.status}`;
  let message = `The server answered ${response.status}.`;
  try {
    const body = (await response.json()) as { error?: { code?: unknown; message?: unknown } };
    if (typeof body.error?.code === 'string') code = body.error.code;
    if (typeof body.error?.message === 'string') message = body.error.message;
  } catch {
    // Not our JSON (a proxy's error page): keep the status.
  }
  const retryable = response.status >= 500 || response.status === 429;
  return new RivuletClientError(code, message, { status: response.status, retryable });
}

function toClientError(error: unknown): RivuletClientError {
  if (error instanceof RivuletClientError) return error;
  return new RivuletClientError('NETWORK_ERROR', 'The connection to the server failed.', {
    retryable: true,
    cause: error,
  });
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted === true) {
      resolve();
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
