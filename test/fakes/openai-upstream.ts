// A real HTTP server that speaks OpenAI Chat Completions, with fault injection, for tests and benchmarks.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { performance } from 'node:perf_hooks';

export interface FakeScenario {
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
  /** Respond with this status and an OpenAI-style error body before any token. */
  errorStatus?: number;
  /** With errorStatus: send a Retry-After header. */
  retryAfterSeconds?: number;
  /** After N content tokens, destroy the socket abruptly (no finish chunk, no [DONE]). */
  dropAfter?: number;
  /** After N content tokens, stop sending anything but keep the connection open. */
  stallAfter?: number;
  /** After N content tokens, send one `data: {not json` event, then continue normally. */
  malformedAfter?: number;
  /** Write each chunk that holds a multi-byte character in two TCP writes split inside that character. */
  splitMultibyte?: boolean;
  /** Default 'stop'. */
  finishReason?: string;
  /** Reported usage; by default prompt = request message characters / 4, completion = tokens sent. */
  usage?: { promptTokens: number; completionTokens: number };
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
  /** True when the server wrote the whole answer including [DONE]. */
  completed: boolean;
  /** performance.now() when the response or its connection closed. */
  closedAt?: number;
  /** 'server' if this side ended it (completed, error status, drop, close()), 'client' if the client went first. */
  closedBy?: 'server' | 'client';
}

export interface FakeUpstream {
  /** Base URL, like OpenAI's https://api.openai.com/v1. */
  readonly url: string;
  readonly port: number;
  readonly requests: readonly UpstreamRequestLog[];
  /** Default for all following requests. */
  setScenario(scenario: FakeScenario): void;
  /** Used first-in first-out by the next chat completion requests before falling back to the default. */
  enqueue(...scenarios: FakeScenario[]): void;
  /** Resolves once the request has arrived and its body has been read. */
  waitForRequest(id: number, timeoutMs?: number): Promise<UpstreamRequestLog>;
  /** Resolves once closedAt is set. */
  waitForClose(id: number, timeoutMs?: number): Promise<UpstreamRequestLog>;
  /** The text a complete answer for that scenario (default: the current default) would contain. */
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
  requireApiKey?: string;
}

const DEFAULT_TOKEN_COUNT = 20;
const DEFAULT_SEED = 1;
const DEFAULT_WAIT_MS = 5_000;
const DEFAULT_MODEL = 'fake-model';
const MAX_BODY_BYTES = 8 * 1024 * 1024;
/** Long enough that, with Nagle off, the two halves of a split chunk leave in separate TCP segments. */
const SPLIT_GAP_MS = 2;
/** A benchmark opens ~1,000 streams at once; the default backlog (511) would refuse some of them. */
const LISTEN_BACKLOG = 4096;
const DONE_EVENT = 'data: [DONE]\n\n';
const MALFORMED_EVENT = 'data: {not json\n\n';

// Words a relay must pass through untouched; most of a generated answer is these.
const PLAIN_WORDS = [
  'the',
  'river',
  'carries',
  'answers',
  'through',
  'a',
  'stream',
  'of',
  'small',
  'tokens',
  'and',
  'every',
  'one',
  'must',
  'arrive',
  'in',
  'order',
  'without',
  'loss',
  'or',
  'change',
  'server',
  'client',
  'event',
  'reader',
  'quietly',
  'flows',
  'downstream',
];

// Each of these breaks a relay that builds SSE by hand or decodes bytes per chunk.
const HOSTILE_TOKENS = [
  '\n',
  '\r\n',
  '\r',
  '\ndata: x\n',
  '\n\n',
  '\nevent: y\n',
  '\nid: 3\n',
  ': colon first',
  '\n:not a comment',
  ' 😀',
  ' 👩‍💻',
  ' 漢字',
  '日本語',
  ' café',
  ' niño',
  ' line\u2028separator',
];

const PLAIN_SHARE = 0.7;

/** A small seeded PRNG, so generated answers and test drop points are reproducible. */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let mixed = state;
    mixed = Math.imul(mixed ^ (mixed >>> 15), mixed | 1);
    mixed ^= mixed + Math.imul(mixed ^ (mixed >>> 7), mixed | 61);
    return ((mixed ^ (mixed >>> 14)) >>> 0) / 4294967296;
  };
}

function pick<T>(items: readonly T[], random: () => number): T {
  const item = items[Math.floor(random() * items.length)];
  if (item === undefined) throw new Error('pick from an empty list');
  return item;
}

/**
 * Deterministic tokens for a seed: about 70% plain words, the rest hostile tokens. Hostile tokens are dealt
 * from seeded shuffles of the whole list rather than drawn at random, so that a few dozen tokens already
 * cover every kind.
 */
export function generateTokens(count: number, seed: number): string[] {
  const random = mulberry32(seed);
  const tokens: string[] = [];
  let deck: string[] = [];
  for (let index = 0; index < count; index += 1) {
    if (random() < PLAIN_SHARE) {
      tokens.push(` ${pick(PLAIN_WORDS, random)}`);
      continue;
    }
    if (deck.length === 0) deck = shuffled(HOSTILE_TOKENS, random);
    const hostile = deck.pop();
    if (hostile !== undefined) tokens.push(hostile);
  }
  return tokens;
}

function shuffled(items: readonly string[], random: () => number): string[] {
  const copy = [...items];
  for (let index = copy.length - 1; index > 0; index -= 1) {
    const other = Math.floor(random() * (index + 1));
    const current = copy[index];
    const swapped = copy[other];
    if (current === undefined || swapped === undefined) continue;
    copy[index] = swapped;
    copy[other] = current;
  }
  return copy;
}

interface TokenPlan {
  tokens: readonly string[];
  /** JSON.stringify of each token, so the per-chunk work is one string concatenation. */
  tokenJson: readonly string[];
  text: string;
}

// Keyed by scenario object so a thousand streams sharing the default share one plan; a scenario is
// therefore treated as immutable once a request has used it.
const planCache = new WeakMap<FakeScenario, TokenPlan>();

function planFor(scenario: FakeScenario): TokenPlan {
  const cached = planCache.get(scenario);
  if (cached !== undefined) return cached;
  const tokens =
    scenario.tokens ??
    generateTokens(scenario.tokenCount ?? DEFAULT_TOKEN_COUNT, scenario.seed ?? DEFAULT_SEED);
  const plan: TokenPlan = {
    tokens,
    tokenJson: tokens.map((token) => JSON.stringify(token)),
    text: tokens.join(''),
  };
  planCache.set(scenario, plan);
  return plan;
}

interface ErrorShape {
  type: string;
  code: string | null;
  message: string;
}

function errorShapeFor(status: number): ErrorShape {
  switch (status) {
    case 400:
      return { type: 'invalid_request_error', code: null, message: 'Invalid request (fake upstream).' };
    case 401:
      return {
        type: 'invalid_request_error',
        code: 'invalid_api_key',
        message: 'Incorrect API key provided (fake upstream).',
      };
    case 403:
      return { type: 'permission_error', code: null, message: 'Permission denied (fake upstream).' };
    case 404:
      return {
        type: 'invalid_request_error',
        code: 'model_not_found',
        message: 'Not found (fake upstream).',
      };
    case 429:
      return {
        type: 'rate_limit_error',
        code: 'rate_limit_exceeded',
        message: 'Rate limit reached for requests (fake upstream). Please try again later.',
      };
    default:
      if (status >= 500) {
        return {
          type: 'server_error',
          code: null,
          message: 'The server had an error while processing your request (fake upstream).',
        };
      }
      return { type: 'invalid_request_error', code: null, message: `Request failed with status ${status}.` };
  }
}

function sendError(
  response: ServerResponse,
  status: number,
  overrides: { message?: string; code?: string | null; param?: string | null } = {},
  extraHeaders: Record<string, string> = {},
): void {
  const shape = errorShapeFor(status);
  const body = JSON.stringify({
    error: {
      message: overrides.message ?? shape.message,
      type: shape.type,
      param: overrides.param ?? null,
      code: overrides.code === undefined ? shape.code : overrides.code,
    },
  });
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

function promptCharacters(body: Record<string, unknown>): number {
  const messages = body.messages;
  if (!Array.isArray(messages)) return 0;
  let total = 0;
  for (const message of messages as unknown[]) {
    if (typeof message !== 'object' || message === null) continue;
    const content = (message as { content?: unknown }).content;
    if (typeof content === 'string') {
      total += content.length;
    } else if (Array.isArray(content)) {
      for (const part of content as unknown[]) {
        const text =
          typeof part === 'object' && part !== null ? (part as { text?: unknown }).text : undefined;
        if (typeof text === 'string') total += text.length;
      }
    }
  }
  return total;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** One chat completion request in flight. */
interface Exchange {
  readonly log: UpstreamRequestLog;
  readonly request: IncomingMessage;
  readonly response: ServerResponse;
  readonly scenario: FakeScenario;
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

function streamAnswer(
  exchange: Exchange,
  body: Record<string, unknown>,
  model: string,
  created: number,
): void {
  const { scenario, response, log } = exchange;
  const plan = planFor(scenario);
  const interTokenMs = scenario.interTokenMs ?? 0;
  const streamOptions = body.stream_options;
  const includeUsage = isRecord(streamOptions) && streamOptions.include_usage === true;
  const head = `data: {"id":"chatcmpl-${log.id}","object":"chat.completion.chunk","created":${created},"model":${JSON.stringify(model)},"choices":`;
  const tokenTail = '},"finish_reason":null}]}\n\n';
  const tokenHead = `${head}[{"index":0,"delta":{"content":`;
  let malformedSent = false;

  if (scenario.splitMultibyte === true) exchange.request.socket.setNoDelay(true);
  response.writeHead(200, {
    'content-type': 'text/event-stream',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
  });
  // Headers go out now, not with the first chunk, so ttftMs is measured from a response the client can see.
  response.flushHeaders();

  const finishStream = (): void => {
    const finishChunk = `${head}[{"index":0,"delta":{},"finish_reason":${JSON.stringify(scenario.finishReason ?? 'stop')}}]}\n\n`;
    send(exchange, finishChunk, undefined, () => {
      const end = (): void => {
        exchange.serverEnded = true;
        log.completed = true;
        response.end(DONE_EVENT);
      };
      if (!includeUsage) {
        end();
        return;
      }
      const promptTokens = scenario.usage?.promptTokens ?? Math.ceil(promptCharacters(body) / 4);
      const completionTokens = scenario.usage?.completionTokens ?? log.tokensSent;
      const usage = `{"prompt_tokens":${promptTokens},"completion_tokens":${completionTokens},"total_tokens":${promptTokens + completionTokens}}`;
      send(exchange, `${head}[],"usage":${usage}}\n\n`, undefined, end);
    });
  };

  const emitToken = (index: number): void => {
    if (scenario.malformedAfter === index && !malformedSent) {
      malformedSent = true;
      send(exchange, MALFORMED_EVENT, undefined, () => emitToken(index));
      return;
    }
    if (scenario.dropAfter === index) {
      exchange.serverEnded = true;
      exchange.request.socket.destroy();
      return;
    }
    // Stalling is simply scheduling nothing: the socket stays open until the client or close() ends it.
    if (scenario.stallAfter === index) return;
    const token = plan.tokens[index];
    const tokenJson = plan.tokenJson[index];
    if (token === undefined || tokenJson === undefined) {
      finishStream();
      return;
    }
    if (index === 0) log.firstTokenAt = performance.now();
    send(
      exchange,
      tokenHead + tokenJson + tokenTail,
      () => {
        log.tokensSent += 1;
        log.textSent += token;
      },
      () => later(exchange, interTokenMs, () => emitToken(index + 1)),
    );
  };

  const roleChunk = `${head}[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}\n\n`;
  const start = (): void => send(exchange, roleChunk, undefined, () => emitToken(0));
  const ttftMs = scenario.ttftMs ?? 0;
  if (ttftMs > 0) later(exchange, ttftMs, start);
  else start();
}

function answerWhole(
  exchange: Exchange,
  body: Record<string, unknown>,
  model: string,
  created: number,
): void {
  const { scenario, response, log } = exchange;
  const plan = planFor(scenario);
  // A non-streaming call takes as long as the stream would have, so timeouts behave alike.
  const generationMs =
    (scenario.ttftMs ?? 0) + (scenario.interTokenMs ?? 0) * Math.max(0, plan.tokens.length - 1);
  later(exchange, generationMs, () => {
    if (scenario.dropAfter !== undefined) {
      exchange.serverEnded = true;
      exchange.request.socket.destroy();
      return;
    }
    if (scenario.stallAfter !== undefined) return;
    const promptTokens = scenario.usage?.promptTokens ?? Math.ceil(promptCharacters(body) / 4);
    const completionTokens = scenario.usage?.completionTokens ?? plan.tokens.length;
    const payload = JSON.stringify({
      id: `chatcmpl-${log.id}`,
      object: 'chat.completion',
      created,
      model,
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: plan.text, refusal: null },
          logprobs: null,
          finish_reason: scenario.finishReason ?? 'stop',
        },
      ],
      usage: {
        prompt_tokens: promptTokens,
        completion_tokens: completionTokens,
        total_tokens: promptTokens + completionTokens,
      },
    });
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
      () => {
        exchange.serverEnded = true;
        log.completed = true;
        response.end();
      },
    );
  });
}

export function startFakeUpstream(options: FakeUpstreamOptions = {}): Promise<FakeUpstream> {
  const host = options.host ?? '127.0.0.1';
  const initialScenario: FakeScenario = options.scenario ?? {};
  const requireApiKey = options.requireApiKey;

  let defaultScenario = initialScenario;
  let queue: FakeScenario[] = [];
  let logs: UpstreamRequestLog[] = [];
  let nextId = 1;
  let shuttingDown = false;
  const bodyRead = new WeakSet<UpstreamRequestLog>();
  const waiters = new Set<() => boolean>();

  const notify = (): void => {
    for (const waiter of waiters) {
      if (waiter()) waiters.delete(waiter);
    }
  };

  // OpenAI sends the key as a bearer token; Azure OpenAI and Azure AI model inference send it as `api-key`.
  const authorized = (request: IncomingMessage): boolean =>
    requireApiKey === undefined ||
    request.headers.authorization === `Bearer ${requireApiKey}` ||
    request.headers['api-key'] === requireApiKey;

  const handleChat = (request: IncomingMessage, response: ServerResponse): void => {
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
    };
    nextId += 1;
    logs.push(log);
    const exchange: Exchange = {
      log,
      request,
      response,
      scenario: log.scenario,
      serverEnded: false,
      closed: false,
      timer: undefined,
      immediate: undefined,
    };

    response.on('close', () => {
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

      const reject = (status: number, overrides: Parameters<typeof sendError>[2]): void => {
        exchange.serverEnded = true;
        sendError(response, status, overrides);
      };
      if (!authorized(request)) {
        reject(401, {});
        return;
      }
      if (tooLarge) {
        reject(413, { message: 'Request body too large (fake upstream).' });
        return;
      }
      if (parseFailed || !isRecord(parsed)) {
        reject(400, {
          message:
            "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly.)",
        });
        return;
      }
      const body = parsed;
      if (!Array.isArray(body.messages)) {
        reject(400, { message: "Missing required parameter: 'messages'.", param: 'messages' });
        return;
      }

      const { scenario } = exchange;
      const model = typeof body.model === 'string' ? body.model : DEFAULT_MODEL;
      const created = Math.floor(Date.now() / 1000);
      const respond = (): void => {
        if (scenario.errorStatus !== undefined) {
          const headers: Record<string, string> = {};
          if (scenario.retryAfterSeconds !== undefined)
            headers['retry-after'] = String(scenario.retryAfterSeconds);
          exchange.serverEnded = true;
          sendError(response, scenario.errorStatus, {}, headers);
          return;
        }
        if (body.stream === true) streamAnswer(exchange, body, model, created);
        else answerWhole(exchange, body, model, created);
      };
      const headersDelayMs = scenario.headersDelayMs ?? 0;
      if (headersDelayMs > 0) later(exchange, headersDelayMs, respond);
      else respond();
    });
  };

  const handleModels = (request: IncomingMessage, response: ServerResponse): void => {
    request.resume();
    if (!authorized(request)) {
      sendError(response, 401);
      return;
    }
    const body = JSON.stringify({
      object: 'list',
      data: [{ id: DEFAULT_MODEL, object: 'model', created: 1_700_000_000, owned_by: 'rivulet-fake' }],
    });
    response.writeHead(200, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
    });
    response.end(body);
  };

  const server: Server = createServer({ noDelay: true }, (request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    // /v1/chat/completions (OpenAI), /openai/deployments/<name>/chat/completions (Azure OpenAI),
    // /models/chat/completions (Azure AI model inference): one wire format, the path and query are logged.
    if (path?.endsWith('/chat/completions') === true && request.method === 'POST') {
      handleChat(request, response);
      return;
    }
    if (path === '/v1/models' && request.method === 'GET') {
      handleModels(request, response);
      return;
    }
    request.resume();
    sendError(response, 404, {
      message: `Unknown request URL: ${request.method ?? 'GET'} ${path ?? '/'} (fake upstream).`,
      code: 'unknown_url',
    });
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
      resolve({
        url: `http://${urlHost}:${port}/v1`,
        port,
        get requests(): readonly UpstreamRequestLog[] {
          return logs;
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
