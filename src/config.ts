// Configuration from the environment (and .env), validated at start with messages that say what to fix.

import { isIP } from 'node:net';
import { z } from 'zod';
import type { DisconnectPolicy } from './core/run-hub.ts';

const integer = (fallback: number, min = 0) => z.coerce.number().int().min(min).default(fallback);
const optionalText = z
  .string()
  .optional()
  .transform((value) => (value === undefined || value.trim() === '' ? undefined : value.trim()));

/** Accepts true/false, 1/0, yes/no in any case (seed 000 writes STREAMING_RESPONSE=True). */
const booleanText = (fallback: boolean) =>
  z
    .string()
    .optional()
    .transform((value, context) => {
      if (value === undefined || value.trim() === '') return fallback;
      const normalised = value.trim().toLowerCase();
      if (['true', '1', 'yes', 'on'].includes(normalised)) return true;
      if (['false', '0', 'no', 'off'].includes(normalised)) return false;
      context.addIssue({ code: 'custom', message: 'expected true or false' });
      return z.NEVER;
    });

/** One of `values`, in any case and with surrounding spaces; unset or empty: `fallback`. */
const caseless = <const T extends readonly [string, ...string[]]>(values: T, fallback: T[number]) =>
  z
    .string()
    .optional()
    .transform((value) => (value ?? '').trim().toLowerCase() || fallback)
    .pipe(z.enum(values));

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
/** `auto`: readable lines on a terminal, JSON lines otherwise (a file, a pipe, journald, a log shipper). */
export const LOG_FORMATS = ['auto', 'json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export const PROVIDER_KINDS = [
  'openai-compatible',
  'openai',
  'azure-openai',
  'azure-ai',
  'ollama',
  'anthropic',
] as const;
export type ProviderKind = (typeof PROVIDER_KINDS)[number];

export const EMBEDDING_PROVIDER_KINDS = ['openai-compatible', 'openai', 'azure-openai', 'ollama'] as const;
export type EmbeddingProviderKind = (typeof EMBEDDING_PROVIDER_KINDS)[number];

const schema = z.object({
  HOST: z.string().default('127.0.0.1'),
  PORT: integer(3000).pipe(z.number().max(65_535)),
  // Any case: seed 004 writes LOG_LEVEL=DEBUG.
  LOG_LEVEL: caseless(LOG_LEVELS, 'info'),
  LOG_FORMAT: caseless(LOG_FORMATS, 'auto'),
  LLM_PROVIDER: z.enum(['auto', 'none', ...PROVIDER_KINDS]).default('auto'),
  LLM_BASE_URL: optionalText.pipe(z.url().optional()),
  LLM_API_KEY: optionalText,
  LLM_MODEL: optionalText,
  LLM_API_VERSION: optionalText,
  OPENAI_API_KEY: optionalText,
  AZURE_OPENAI_API_KEY: optionalText,
  AZURE_OPENAI_ENDPOINT: optionalText.pipe(z.url().optional()),
  AZURE_OPENAI_DEPLOYMENT: optionalText,
  AZURE_AI_API_KEY: optionalText,
  AZURE_AI_ENDPOINT: optionalText.pipe(z.url().optional()),
  ANTHROPIC_API_KEY: optionalText,
  OLLAMA_HOST: optionalText,
  LLM_FALLBACK: optionalText,
  LLM_STALL_MS: integer(30_000, 100),
  STREAMING_RESPONSE: booleanText(true),
  LLM_RETRIES: integer(2),
  LLM_RETRY_BASE_MS: integer(250),
  LLM_RETRY_MAX_MS: integer(4_000),
  LLM_FAILOVER_CONTINUE: booleanText(true),
  LLM_BREAKER_FAILURES: integer(5, 1),
  LLM_BREAKER_COOLDOWN_MS: integer(30_000),
  EMBEDDING_PROVIDER: z.enum(['auto', 'none', ...EMBEDDING_PROVIDER_KINDS]).default('auto'),
  EMBEDDING_MODEL: optionalText,
  EMBEDDING_BASE_URL: optionalText.pipe(z.url().optional()),
  EMBEDDING_API_KEY: optionalText,
  EMBEDDING_API_VERSION: optionalText,
  EMBEDDING_DIMENSIONS: optionalText.pipe(z.coerce.number<string>().int().min(1).max(8192).optional()),
  // Not trimmed: e5-style prefixes end with a space ("query: ").
  EMBEDDING_QUERY_PREFIX: z.string().default(''),
  EMBEDDING_DOCUMENT_PREFIX: z.string().default(''),
  SYSTEM_PROMPT: optionalText,
  HISTORY_LIMIT: integer(20),
  MAX_MESSAGE_CHARS: integer(32_000, 1),
  BODY_LIMIT_BYTES: integer(1_048_576, 1024),
  RUN_GRACE_MS: integer(30_000),
  RUN_DISCONNECT_POLICY: z.enum(['abort', 'finish']).default('abort'),
  RUN_RETENTION_MS: integer(300_000),
  RUN_MAX_DURATION_MS: integer(300_000, 1),
  RUN_MAX_EVENTS: integer(100_000, 16),
  RUN_MAX_BYTES: integer(16 * 1024 * 1024, 4096),
  RUN_RETAINED_MAX_BYTES: integer(256 * 1024 * 1024, 4096),
  RUN_CHECKPOINT_MS: integer(1000),
  RUN_MAX_READERS: integer(64, 1),
  MAX_READERS: integer(2048, 1),
  SSE_PING_MS: integer(15_000, 10),
  SSE_RETRY_MS: integer(2_000),
  SSE_DRAIN_TIMEOUT_MS: integer(30_000, 100),
  WS_PING_MS: integer(30_000, 10),
  SHUTDOWN_GRACE_MS: integer(25_000),
  DATA_DIR: z.string().trim().min(1).default('./data'),
  SAMPLE_CORPUS: booleanText(true),
  DOCUMENT_MAX_BYTES: integer(50 * 1024 * 1024, 1024),
  DOCUMENT_MAX_EXPANDED_BYTES: integer(32 * 1024 * 1024, 1024),
  DOCUMENT_MAX_CHUNKS: integer(10_000, 1),
  DOCUMENT_PARSE_WORKERS: integer(2, 1).pipe(z.number().max(64)),
  DOCUMENT_PARSE_TIMEOUT_MS: integer(60_000, 100),
  DOCUMENT_PARSE_MEMORY_MB: integer(1024, 64),
  RETRIEVAL_TOP_K: integer(6, 1).pipe(z.number().max(50)),
  RETRIEVAL_CANDIDATES: integer(40, 1).pipe(z.number().max(1000)),
  RETRIEVAL_RRF_K: integer(60, 1),
  QUERY_ENHANCE: booleanText(true),
  RERANK: z.enum(['off', 'llm']).default('off'),
  ANSWER_CACHE: booleanText(true),
  ANSWER_CACHE_SIMILARITY: z.coerce.number().min(0.5).max(1).default(0.95),
  ANSWER_CACHE_MAX_ENTRIES: integer(10_000, 1),
  METRICS_ENABLED: booleanText(true),
  TRACING: booleanText(false),
  ENABLE_FRONTEND_STREAMING: booleanText(true),
  WEB_DIST_DIR: optionalText,
  AUTH_MODE: z.enum(['auto', 'open', 'required']).default('auto'),
  AUTH_JWT_SECRET: optionalText.refine(
    (value) => value === undefined || value.length >= 32,
    'must be at least 32 characters (an HS256 key shorter than its hash is weak)',
  ),
  AUTH_JWKS_URL: optionalText.refine(
    (value) => value === undefined || /^https?:\/\//.test(value),
    'must be an http(s) URL of a JSON Web Key Set',
  ),
  AUTH_JWT_ALGORITHMS: optionalText,
  AUTH_JWT_ISSUER: optionalText,
  AUTH_JWT_AUDIENCE: optionalText,
  AUTH_CLOCK_SKEW_SECONDS: integer(30).pipe(z.number().max(300)),
  // Not empty: AUTH_ADMIN_ROLE= would make any token with `"role": ""` an admin.
  AUTH_ORG_CLAIM: z.string().trim().min(1, 'must name a claim').default('org'),
  AUTH_ADMIN_ROLE: z.string().trim().min(1, 'must name a role').default('admin'),
  AUTH_TOKEN_IN_URL: booleanText(false),
  LIMITS: z.enum(['auto', 'on', 'off']).default('auto'),
  RATE_LIMIT_PER_IP: integer(600),
  RATE_LIMIT_PER_PRINCIPAL: integer(120),
  MAX_STREAMS_PER_PRINCIPAL: integer(4),
  TOKENS_PER_DAY_PER_PRINCIPAL: integer(1_000_000),
  MAX_CONVERSATION_MESSAGES: integer(1000, 2),
  CORS_ORIGINS: z
    .string()
    .optional()
    .transform((value, context) => {
      const trimmed = value?.trim() ?? '';
      if (trimmed === '') return undefined;
      if (trimmed === '*') return '*' as const;
      const origins = trimmed
        .split(',')
        .map((origin) => origin.trim())
        .filter((origin) => origin !== '');
      for (const origin of origins) {
        if (!isOrigin(origin)) {
          context.addIssue({
            code: 'custom',
            message: `"${origin}" is not an origin like https://example.com`,
          });
          return z.NEVER;
        }
      }
      return origins;
    }),
  TRUST_PROXY: z
    .string()
    .optional()
    .transform((value, context) => {
      const parsed = parseTrustProxy(value ?? '');
      if (typeof parsed === 'string') {
        context.addIssue({ code: 'custom', message: parsed });
        return z.NEVER;
      }
      return parsed;
    }),
});

/**
 * The proxies whose X-Forwarded-For is believed: off (the socket's address is the client's), their addresses and
 * CIDR ranges (or proxy-addr's names loopback, linklocal, uniquelocal), or the number of proxy hops in front. A
 * string is the reason the value was refused.
 */
export function parseTrustProxy(value: string): TrustProxy | string {
  const trimmed = value.trim();
  if (['', 'false', '0', 'no', 'off'].includes(trimmed.toLowerCase())) return false;
  if (['true', 'yes', 'on', '*'].includes(trimmed.toLowerCase())) {
    return (
      'trusting every address would let any client choose the address its limits count by (X-Forwarded-For is ' +
      'whatever it sends): give the proxy addresses, like 127.0.0.1 or 10.0.0.0/8, or the number of proxies in front'
    );
  }
  if (/^\d+$/.test(trimmed)) {
    const hops = Number(trimmed);
    return hops <= 32 ? hops : 'a number of proxy hops must be at most 32';
  }
  const entries = trimmed
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
  for (const entry of entries) {
    if (!isProxyAddress(entry)) {
      return `"${entry}" is not an IP address, a CIDR range (10.0.0.0/8, fd00::/8), loopback, linklocal or uniquelocal`;
    }
    // A /0 range is every address: the same as `true`, refused for the same reason.
    if (/\/0+$/.test(entry)) {
      return `"${entry}" trusts every address, which would let any client choose the address its limits count by: give the proxies' addresses`;
    }
  }
  return entries;
}

const PROXY_ADDRESS_NAMES = new Set(['loopback', 'linklocal', 'uniquelocal']);

function isProxyAddress(entry: string): boolean {
  if (PROXY_ADDRESS_NAMES.has(entry)) return true;
  const [address = '', prefix, ...rest] = entry.split('/');
  const family = isIP(address);
  if (family === 0 || rest.length > 0) return false;
  if (prefix === undefined) return true;
  return /^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128);
}

/** scheme://host[:port] with nothing after it: what a browser sends in `Origin`. */
function isOrigin(value: string): boolean {
  try {
    return new URL(value).origin === value;
  } catch {
    return false;
  }
}

/** One provider in the chain. */
export interface ProviderConfig {
  kind: ProviderKind;
  model: string;
  /** Base URL (openai-compatible, openai) or resource endpoint (Azure). */
  baseUrl: string | undefined;
  apiKey: string | undefined;
  apiVersion: string | undefined;
}

export interface LlmConfig {
  /** The primary provider first, then the fallbacks in order; empty when Ollama is to be detected at start. */
  chain: ProviderConfig[];
  /** With LLM_PROVIDER=auto and nothing configured: the Ollama host to probe for an installed chat model. */
  detectOllamaAt: string | undefined;
  stallMs: number;
  streaming: boolean;
  retries: number;
  retryBaseMs: number;
  retryMaxMs: number;
  continueAfterFailure: boolean;
  breakerFailures: number;
  breakerCooldownMs: number;
}

/** The embedding model; undefined when none is configured (EMBEDDING_PROVIDER=none, or auto without a model). */
export interface EmbeddingConfig {
  kind: EmbeddingProviderKind;
  /** Model name (for Azure OpenAI the deployment). */
  model: string;
  /** Base URL (openai-compatible, openai), resource endpoint (Azure), or Ollama host; undefined: the default. */
  baseUrl: string | undefined;
  apiKey: string | undefined;
  /** Azure `api-version`. */
  apiVersion: string | undefined;
  /** Expected vector size; also sent as `dimensions` to text-embedding-3 models. Learnt from the model if unset. */
  dimensions: number | undefined;
  /** Put before every query / every document text (e5, bge instructions); empty by default. */
  queryPrefix: string;
  documentPrefix: string;
  /** From LLM_STALL_MS, LLM_RETRIES, LLM_RETRY_BASE_MS, LLM_RETRY_MAX_MS. */
  stallMs: number;
  retries: number;
  retryBaseMs: number;
  retryMaxMs: number;
}

export interface Config {
  host: string;
  port: number;
  logLevel: LogLevel;
  /** How log lines are written (LOG_FORMAT); `auto` is resolved against stdout when the logger is made. */
  logFormat: LogFormat;
  /** Undefined when no provider is configured. */
  llm: LlmConfig | undefined;
  embedding: EmbeddingConfig | undefined;
  /** How long a graceful shutdown lets running answers finish before cutting them. */
  shutdownGraceMs: number;
  /** Directory of the SQLite file, or ":memory:" for a database that lives as long as the process (tests). */
  dataDir: string;
  /** Ingest the bundled sample corpus into the default collection on a fresh install (a new database). */
  sampleCorpus: boolean;
  documentMaxBytes: number;
  /** Uploaded and ingested files are parsed (loaded and chunked) in child processes with these limits. */
  documentParsing: DocumentParsingConfig;
  retrieval: {
    /** Sources given to the model (and sent to the client). */
    topK: number;
    /** Candidates taken from each retriever (BM25, vectors) before fusion. */
    candidates: number;
    /** Reciprocal rank fusion constant. */
    rrfK: number;
    /** Condense a follow-up question with the history (one cheap LLM call; skipped without an LLM). */
    enhance: boolean;
    /** Rerank the fused candidates with the LLM as judge. */
    rerank: 'off' | 'llm';
  };
  cache: { enabled: boolean; minSimilarity: number; maxEntriesPerChatbot: number };
  systemPrompt: string | undefined;
  historyLimit: number;
  maxMessageChars: number;
  bodyLimitBytes: number;
  run: {
    graceMs: number;
    disconnectPolicy: DisconnectPolicy;
    retentionMs: number;
    maxDurationMs: number;
    maxEvents: number;
    maxBytes: number;
    retainedMaxBytes: number;
    /**
     * How often a streaming answer's text so far is saved, so a crash (SIGKILL, OOM kill, power loss) keeps it as an
     * interrupted answer; 0: only when the answer ends.
     */
    checkpointMs: number;
    /** Readers one run may have at once (TOO_MANY_READERS beyond); applies in every auth mode. */
    maxReadersPerRun: number;
    /** Readers of all runs in this process (TOO_MANY_READERS beyond); applies in every auth mode. */
    maxReaders: number;
  };
  sse: { pingMs: number; retryMs: number; drainTimeoutMs: number };
  ws: { pingMs: number };
  /** Serve Prometheus metrics on GET /metrics. */
  metricsEnabled: boolean;
  /** Report OpenTelemetry spans (to the SDK the process registers). */
  tracing: boolean;
  web: {
    /** The web app and widget stream answers; false shows whole answers through POST /api/chat (seed 000). */
    streaming: boolean;
    /**
     * Origins allowed to call the API from a browser (the widget on your site), or '*' for any. Unset: any where
     * auth is required (credentials are bearer tokens no other site can read), but only loopback pages on an open
     * install, so a website a local user visits cannot drive the local API.
     */
    corsOrigins: '*' | 'loopback' | string[];
    /** The built app and widget (`npm run build:web`); undefined: dist/web in this checkout. */
    distDir: string | undefined;
  };
  auth: AuthConfig;
  limits: LimitsConfig;
  /**
   * Whose X-Forwarded-For to believe (TRUST_PROXY): false, the default, takes the socket's address as the client's
   * (a proxy in front then makes all visitors one address); a list of proxy addresses and CIDR ranges; or a number
   * of proxy hops, for when the proxies' addresses are not known and nothing reaches Rivulet but through them.
   */
  trustProxy: TrustProxy;
}

export type TrustProxy = false | number | string[];

/** JWT algorithms Rivulet accepts at all; `none` is never one of them. */
export const JWT_ALGORITHMS = [
  'HS256',
  'HS384',
  'HS512',
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'ES256',
  'ES384',
  'EdDSA',
];

export interface AuthConfig {
  /**
   * `open`: no auth, every request acts as the local admin (a fresh install on a loopback address). `required`:
   * every API request needs a JWT or an API key, or a session id for a public chatbot.
   */
  mode: 'open' | 'required';
  jwt:
    | {
        secret: string | undefined;
        jwksUrl: string | undefined;
        algorithms: string[];
        issuer: string | undefined;
        audience: string | undefined;
        clockSkewSeconds: number;
        orgClaim: string;
        adminRole: string;
      }
    | undefined;
  /** Accept `?access_token=` (WebSocket and EventSource cannot send headers); off because URLs land in logs. */
  tokenInUrl: boolean;
}

export interface LimitsConfig {
  /** Rate limits, concurrent streams and token budgets are enforced (on when auth is required, unless LIMITS=off). */
  enabled: boolean;
  /** Requests per minute to the API from one IP address; 0: no limit. */
  perIpPerMinute: number;
  /** Requests per minute from one principal; 0: no limit. */
  perPrincipalPerMinute: number;
  /** Answers one principal may stream at once; 0: no limit. */
  streamsPerPrincipal: number;
  /** Tokens one principal may spend per UTC day; 0: no limit. */
  tokensPerDayPerPrincipal: number;
  /** Messages a conversation may hold before a new question is refused (start a new conversation). */
  maxConversationMessages: number;
}

/** Limits on parsing one document, so that no upload can stall or exhaust the server. */
export interface DocumentParsingConfig {
  /** Worker threads that parse files at once; more files wait their turn. */
  workers: number;
  /** Wall-clock time one file may take to parse; the worker is then terminated (DOCUMENT_PARSE_TIMEOUT). */
  timeoutMs: number;
  /** A parse process's JavaScript heap (old generation), in MB; past it the process dies (DOCUMENT_TOO_COMPLEX). */
  memoryMb: number;
  /** Bytes a DOCX's XML parts or a PDF's Flate streams may inflate to (DOCUMENT_EXPANDS_TOO_BIG). */
  maxExpandedBytes: number;
  /** Chunks one document may make (DOCUMENT_TOO_MANY_CHUNKS). */
  maxChunks: number;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => `  ${issue.path.join('.')}: ${issue.message}`);
    throw new ConfigError(`Invalid configuration:\n${lines.join('\n')}`);
  }
  const values = parsed.data;
  const llm = resolveLlm(values);
  const auth = resolveAuth(values);
  // Without auth every request acts as the local admin: a page that may call the API may do anything.
  if (auth.mode === 'open' && values.CORS_ORIGINS === '*') {
    fail(
      'CORS_ORIGINS',
      'is *, but no auth is configured: any website the user visits could act as the local admin. List the origins ' +
        '(pages on this machine are always allowed) or turn auth on',
    );
  }
  return {
    host: values.HOST,
    port: values.PORT,
    logLevel: values.LOG_LEVEL,
    logFormat: values.LOG_FORMAT,
    llm,
    embedding: resolveEmbedding(values, llm),
    shutdownGraceMs: values.SHUTDOWN_GRACE_MS,
    dataDir: values.DATA_DIR,
    sampleCorpus: values.SAMPLE_CORPUS,
    documentMaxBytes: values.DOCUMENT_MAX_BYTES,
    documentParsing: {
      workers: values.DOCUMENT_PARSE_WORKERS,
      timeoutMs: values.DOCUMENT_PARSE_TIMEOUT_MS,
      memoryMb: values.DOCUMENT_PARSE_MEMORY_MB,
      maxExpandedBytes: values.DOCUMENT_MAX_EXPANDED_BYTES,
      maxChunks: values.DOCUMENT_MAX_CHUNKS,
    },
    retrieval: {
      topK: values.RETRIEVAL_TOP_K,
      candidates: values.RETRIEVAL_CANDIDATES,
      rrfK: values.RETRIEVAL_RRF_K,
      enhance: values.QUERY_ENHANCE,
      rerank: values.RERANK,
    },
    cache: {
      enabled: values.ANSWER_CACHE,
      minSimilarity: values.ANSWER_CACHE_SIMILARITY,
      maxEntriesPerChatbot: values.ANSWER_CACHE_MAX_ENTRIES,
    },
    systemPrompt: values.SYSTEM_PROMPT,
    historyLimit: values.HISTORY_LIMIT,
    maxMessageChars: values.MAX_MESSAGE_CHARS,
    bodyLimitBytes: values.BODY_LIMIT_BYTES,
    run: {
      graceMs: values.RUN_GRACE_MS,
      disconnectPolicy: values.RUN_DISCONNECT_POLICY,
      retentionMs: values.RUN_RETENTION_MS,
      maxDurationMs: values.RUN_MAX_DURATION_MS,
      maxEvents: values.RUN_MAX_EVENTS,
      maxBytes: values.RUN_MAX_BYTES,
      retainedMaxBytes: values.RUN_RETAINED_MAX_BYTES,
      checkpointMs: values.RUN_CHECKPOINT_MS,
      maxReadersPerRun: values.RUN_MAX_READERS,
      maxReaders: values.MAX_READERS,
    },
    sse: {
      pingMs: values.SSE_PING_MS,
      retryMs: values.SSE_RETRY_MS,
      drainTimeoutMs: values.SSE_DRAIN_TIMEOUT_MS,
    },
    ws: { pingMs: values.WS_PING_MS },
    metricsEnabled: values.METRICS_ENABLED,
    tracing: values.TRACING,
    web: {
      streaming: values.ENABLE_FRONTEND_STREAMING,
      corsOrigins: values.CORS_ORIGINS ?? (auth.mode === 'open' ? 'loopback' : '*'),
      distDir: values.WEB_DIST_DIR,
    },
    auth,
    limits: {
      enabled: values.LIMITS === 'on' || (values.LIMITS === 'auto' && auth.mode === 'required'),
      perIpPerMinute: values.RATE_LIMIT_PER_IP,
      perPrincipalPerMinute: values.RATE_LIMIT_PER_PRINCIPAL,
      streamsPerPrincipal: values.MAX_STREAMS_PER_PRINCIPAL,
      tokensPerDayPerPrincipal: values.TOKENS_PER_DAY_PER_PRINCIPAL,
      maxConversationMessages: values.MAX_CONVERSATION_MESSAGES,
    },
    trustProxy: values.TRUST_PROXY,
  };
}

type Values = z.infer<typeof schema>;

function resolveAuth(values: Values): AuthConfig {
  const secret = values.AUTH_JWT_SECRET;
  const jwksUrl = values.AUTH_JWKS_URL;
  if (secret !== undefined && jwksUrl !== undefined) {
    fail('AUTH_JWT_SECRET', 'set AUTH_JWT_SECRET (HS256) or AUTH_JWKS_URL (RS256/ES256), not both');
  }
  const jwtConfigured = secret !== undefined || jwksUrl !== undefined;
  if (values.AUTH_MODE === 'open' && jwtConfigured) {
    fail('AUTH_MODE', 'is open, but a JWT secret or JWKS URL is set: use AUTH_MODE=required (or auto)');
  }
  const defaults = secret !== undefined ? ['HS256'] : ['RS256', 'ES256'];
  const algorithms = values.AUTH_JWT_ALGORITHMS?.split(',').map((name) => name.trim()) ?? defaults;
  for (const algorithm of algorithms) {
    if (!JWT_ALGORITHMS.includes(algorithm)) {
      fail('AUTH_JWT_ALGORITHMS', `"${algorithm}" is not one of ${JWT_ALGORITHMS.join(', ')}`);
    }
    // A symmetric algorithm with a public key set (or the reverse) is the classic key-confusion attack.
    if (algorithm.startsWith('HS') !== (secret !== undefined) && jwtConfigured) {
      fail(
        'AUTH_JWT_ALGORITHMS',
        `"${algorithm}" does not fit ${secret !== undefined ? 'a shared secret' : 'a JWKS URL'}`,
      );
    }
  }
  return {
    mode:
      values.AUTH_MODE === 'required' || (values.AUTH_MODE === 'auto' && jwtConfigured) ? 'required' : 'open',
    jwt: jwtConfigured
      ? {
          secret,
          jwksUrl,
          algorithms,
          issuer: values.AUTH_JWT_ISSUER,
          audience: values.AUTH_JWT_AUDIENCE,
          clockSkewSeconds: values.AUTH_CLOCK_SKEW_SECONDS,
          orgClaim: values.AUTH_ORG_CLAIM,
          adminRole: values.AUTH_ADMIN_ROLE,
        }
      : undefined,
    tokenInUrl: values.AUTH_TOKEN_IN_URL,
  };
}

/** 127.0.0.0/8, ::1 and localhost: addresses only this machine can reach. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '').toLowerCase();
  return bare === 'localhost' || bare === '::1' || /^127(\.\d{1,3}){3}$/.test(bare);
}

/** Refuses to serve an open (auth-less) API on an address other machines can reach. */
export function assertSafeToServe(config: Pick<Config, 'host' | 'auth'>): void {
  if (config.auth.mode === 'open' && !isLoopbackHost(config.host)) {
    throw new ConfigError(
      `Refusing to start: HOST=${config.host} is reachable from other machines and no auth is configured, so anyone ` +
        'could use the API (and your model budget). Set AUTH_JWT_SECRET or AUTH_JWKS_URL, or AUTH_MODE=required ' +
        'and create API keys with `rivulet keys create`; or listen on 127.0.0.1.',
    );
  }
}

const fail = (variable: string, message: string): never => {
  throw new ConfigError(`Invalid configuration:\n  ${variable}: ${message}`);
};

function resolveLlm(values: Values): LlmConfig | undefined {
  if (values.LLM_PROVIDER === 'none') return undefined;
  const primary = resolvePrimary(values);
  // Nothing configured: the server will look for a local Ollama when it starts (see resolveLanguageModel).
  const detectOllamaAt = primary === undefined ? (values.OLLAMA_HOST ?? '') : undefined;
  const fallbacks = (values.LLM_FALLBACK ?? '')
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '')
    .map((entry) => parseFallback(entry, values));
  return {
    chain: primary === undefined ? [] : [primary, ...fallbacks],
    detectOllamaAt,
    stallMs: values.LLM_STALL_MS,
    streaming: values.STREAMING_RESPONSE,
    retries: values.LLM_RETRIES,
    retryBaseMs: values.LLM_RETRY_BASE_MS,
    retryMaxMs: values.LLM_RETRY_MAX_MS,
    continueAfterFailure: values.LLM_FAILOVER_CONTINUE,
    breakerFailures: values.LLM_BREAKER_FAILURES,
    breakerCooldownMs: values.LLM_BREAKER_COOLDOWN_MS,
  };
}

/** The provider named by LLM_PROVIDER, or with `auto` the first one whose usual variables are set. */
function resolvePrimary(values: Values): ProviderConfig | undefined {
  const kind =
    values.LLM_PROVIDER === 'auto' || values.LLM_PROVIDER === 'none'
      ? detectKind(values)
      : values.LLM_PROVIDER;
  if (kind === undefined) return undefined;
  const model = values.LLM_MODEL ?? (kind === 'azure-openai' ? values.AZURE_OPENAI_DEPLOYMENT : undefined);
  // Ollama without a model: the start-up probe picks an installed chat model.
  if (kind === 'ollama' && model === undefined) return undefined;
  if (model === undefined) {
    return fail(
      kind === 'azure-openai' ? 'AZURE_OPENAI_DEPLOYMENT' : 'LLM_MODEL',
      `required with provider ${kind}`,
    );
  }
  return providerConfig(kind, model, values.LLM_BASE_URL, values, 'LLM_BASE_URL');
}

function detectKind(values: Values): ProviderKind | undefined {
  if (values.LLM_BASE_URL !== undefined) return 'openai-compatible';
  if (values.AZURE_OPENAI_ENDPOINT !== undefined && values.AZURE_OPENAI_API_KEY !== undefined)
    return 'azure-openai';
  if (values.AZURE_AI_ENDPOINT !== undefined && values.AZURE_AI_API_KEY !== undefined) return 'azure-ai';
  if (values.OPENAI_API_KEY !== undefined) return 'openai';
  if (values.ANTHROPIC_API_KEY !== undefined) return 'anthropic';
  // An explicit OLLAMA_HOST with a model names Ollama; without a model the start-up probe picks one.
  if (values.OLLAMA_HOST !== undefined && values.LLM_MODEL !== undefined) return 'ollama';
  return undefined;
}

/** LLM_FALLBACK entries read `<kind>:<model>` or `<kind>:<model>@<base URL>`; keys come from the usual variables. */
function parseFallback(entry: string, values: Values): ProviderConfig {
  const match = /^([a-z-]+):([^@]+?)(?:@(.+))?$/.exec(entry);
  const kind = match?.[1];
  if (match === null || kind === undefined || !(PROVIDER_KINDS as readonly string[]).includes(kind)) {
    return fail(
      'LLM_FALLBACK',
      `"${entry}" is not <provider>:<model>[@<base URL>] with provider one of ${PROVIDER_KINDS.join(', ')}`,
    );
  }
  const baseUrl = match[3];
  if (baseUrl !== undefined && !URL.canParse(baseUrl))
    return fail('LLM_FALLBACK', `"${baseUrl}" is not a URL`);
  return providerConfig(kind as ProviderKind, match[2]!, baseUrl, values, 'LLM_FALLBACK');
}

function providerConfig(
  kind: ProviderKind,
  model: string,
  baseUrl: string | undefined,
  values: Values,
  variable: string,
): ProviderConfig {
  const apiVersion = values.LLM_API_VERSION;
  switch (kind) {
    case 'openai-compatible':
      if (baseUrl === undefined)
        return fail(
          variable,
          'a base URL is required for openai-compatible (e.g. http://127.0.0.1:11434/v1)',
        );
      return { kind, model, baseUrl, apiKey: values.LLM_API_KEY, apiVersion };
    case 'openai': {
      const apiKey = values.OPENAI_API_KEY ?? values.LLM_API_KEY;
      if (apiKey === undefined) return fail('OPENAI_API_KEY', 'required with provider openai');
      return { kind, model, baseUrl, apiKey, apiVersion };
    }
    case 'azure-openai': {
      const endpoint = baseUrl ?? values.AZURE_OPENAI_ENDPOINT;
      const apiKey = values.AZURE_OPENAI_API_KEY ?? values.LLM_API_KEY;
      if (endpoint === undefined) return fail('AZURE_OPENAI_ENDPOINT', 'required with provider azure-openai');
      if (apiKey === undefined) return fail('AZURE_OPENAI_API_KEY', 'required with provider azure-openai');
      return { kind, model, baseUrl: endpoint, apiKey, apiVersion };
    }
    case 'azure-ai': {
      const endpoint = baseUrl ?? values.AZURE_AI_ENDPOINT;
      const apiKey = values.AZURE_AI_API_KEY ?? values.LLM_API_KEY;
      if (endpoint === undefined) return fail('AZURE_AI_ENDPOINT', 'required with provider azure-ai');
      if (apiKey === undefined) return fail('AZURE_AI_API_KEY', 'required with provider azure-ai');
      return { kind, model, baseUrl: endpoint, apiKey, apiVersion };
    }
    case 'ollama':
      return { kind, model, baseUrl: baseUrl ?? values.OLLAMA_HOST, apiKey: undefined, apiVersion };
    case 'anthropic': {
      const apiKey = values.ANTHROPIC_API_KEY ?? values.LLM_API_KEY;
      if (apiKey === undefined) return fail('ANTHROPIC_API_KEY', 'required with provider anthropic');
      return { kind, model, baseUrl, apiKey, apiVersion };
    }
    default: {
      const unreachable: never = kind;
      return fail(variable, `unknown provider ${String(unreachable)}`);
    }
  }
}

/** The embedding provider that goes with an LLM provider, when that family has one. */
const EMBEDDING_KIND_FOR: Record<ProviderKind, EmbeddingProviderKind | undefined> = {
  'openai-compatible': 'openai-compatible',
  openai: 'openai',
  'azure-openai': 'azure-openai',
  'azure-ai': undefined,
  ollama: 'ollama',
  anthropic: undefined,
};

/**
 * EMBEDDING_PROVIDER, or with `auto` and EMBEDDING_MODEL set the LLM's own family (a local Ollama when the LLM is
 * to be detected at start). URL, key and API version default to the LLM's when the families match, then to the
 * provider's usual variables.
 */
function resolveEmbedding(values: Values, llm: LlmConfig | undefined): EmbeddingConfig | undefined {
  if (values.EMBEDDING_PROVIDER === 'none') return undefined;
  const model = values.EMBEDDING_MODEL;
  const primary = llm?.chain[0];
  let kind: EmbeddingProviderKind;
  if (values.EMBEDDING_PROVIDER === 'auto') {
    if (model === undefined) return undefined;
    const llmKind = primary?.kind ?? (llm?.detectOllamaAt === undefined ? undefined : 'ollama');
    const matching = llmKind === undefined ? undefined : EMBEDDING_KIND_FOR[llmKind];
    if (matching === undefined) {
      return fail(
        'EMBEDDING_MODEL',
        `set, but EMBEDDING_PROVIDER=auto has no embedding provider to use it with (the LLM provider is ${llmKind ?? 'none'}); set EMBEDDING_PROVIDER to one of ${EMBEDDING_PROVIDER_KINDS.join(', ')}`,
      );
    }
    kind = matching;
  } else {
    kind = values.EMBEDDING_PROVIDER;
    if (model === undefined) {
      return fail(
        'EMBEDDING_MODEL',
        `required with EMBEDDING_PROVIDER=${kind}${kind === 'azure-openai' ? ' (the deployment name)' : ''}`,
      );
    }
  }
  const same = primary?.kind === kind ? primary : undefined;
  const common = {
    kind,
    model,
    apiVersion: values.EMBEDDING_API_VERSION ?? same?.apiVersion,
    dimensions: values.EMBEDDING_DIMENSIONS,
    queryPrefix: values.EMBEDDING_QUERY_PREFIX,
    documentPrefix: values.EMBEDDING_DOCUMENT_PREFIX,
    stallMs: values.LLM_STALL_MS,
    retries: values.LLM_RETRIES,
    retryBaseMs: values.LLM_RETRY_BASE_MS,
    retryMaxMs: values.LLM_RETRY_MAX_MS,
  };
  const baseUrl = values.EMBEDDING_BASE_URL ?? same?.baseUrl;
  switch (kind) {
    case 'openai-compatible':
      if (baseUrl === undefined) {
        return fail(
          'EMBEDDING_BASE_URL',
          'a base URL is required for openai-compatible embeddings (e.g. http://127.0.0.1:11434/v1)',
        );
      }
      return { ...common, baseUrl, apiKey: values.EMBEDDING_API_KEY ?? same?.apiKey };
    case 'openai': {
      const apiKey = values.EMBEDDING_API_KEY ?? same?.apiKey ?? values.OPENAI_API_KEY;
      if (apiKey === undefined) {
        return fail('EMBEDDING_API_KEY', 'required with EMBEDDING_PROVIDER=openai (or set OPENAI_API_KEY)');
      }
      return { ...common, baseUrl, apiKey };
    }
    case 'azure-openai': {
      const endpoint = baseUrl ?? values.AZURE_OPENAI_ENDPOINT;
      const apiKey = values.EMBEDDING_API_KEY ?? same?.apiKey ?? values.AZURE_OPENAI_API_KEY;
      if (endpoint === undefined) {
        return fail(
          'EMBEDDING_BASE_URL',
          'required with EMBEDDING_PROVIDER=azure-openai (or set AZURE_OPENAI_ENDPOINT)',
        );
      }
      if (apiKey === undefined) {
        return fail(
          'EMBEDDING_API_KEY',
          'required with EMBEDDING_PROVIDER=azure-openai (or set AZURE_OPENAI_API_KEY)',
        );
      }
      return { ...common, baseUrl: endpoint, apiKey };
    }
    case 'ollama':
      return { ...common, baseUrl: baseUrl ?? values.OLLAMA_HOST, apiKey: values.EMBEDDING_API_KEY };
    default: {
      const unreachable: never = kind;
      return fail('EMBEDDING_PROVIDER', `unknown provider ${String(unreachable)}`);
    }
  }
}
