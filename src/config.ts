// Configuration from the environment (and .env), validated at start with messages that say what to fix.

import { z } from 'zod';
import type { DisconnectPolicy } from './core/run-hub.ts';

const integer = (fallback: number, min = 0) => z.coerce.number().int().min(min).default(fallback);
const optionalText = z
  .string()
  .optional()
  .transform((value) => (value === undefined || value.trim() === '' ? undefined : value.trim()));

const schema = z.object({
  HOST: z.string().default('127.0.0.1'),
  PORT: integer(3000).pipe(z.number().max(65_535)),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  LLM_PROVIDER: z.enum(['auto', 'openai-compatible', 'none']).default('auto'),
  LLM_BASE_URL: optionalText.pipe(z.url().optional()),
  LLM_API_KEY: optionalText,
  OPENAI_API_KEY: optionalText,
  LLM_MODEL: optionalText,
  LLM_STALL_MS: integer(30_000, 100),
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
  SSE_PING_MS: integer(15_000, 10),
  SSE_RETRY_MS: integer(2_000),
  WS_PING_MS: integer(30_000, 10),
});

export interface LlmConfig {
  provider: 'openai-compatible';
  baseUrl: string;
  apiKey: string | undefined;
  model: string;
  stallMs: number;
}

export interface Config {
  host: string;
  port: number;
  logLevel: string;
  /** Undefined when no provider is configured. */
  llm: LlmConfig | undefined;
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
  };
  sse: { pingMs: number; retryMs: number };
  ws: { pingMs: number };
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

const OPENAI_BASE_URL = 'https://api.openai.com/v1';

export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => `  ${issue.path.join('.')}: ${issue.message}`);
    throw new ConfigError(`Invalid configuration:\n${lines.join('\n')}`);
  }
  const values = parsed.data;
  return {
    host: values.HOST,
    port: values.PORT,
    logLevel: values.LOG_LEVEL,
    llm: resolveLlm(values),
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
    },
    sse: { pingMs: values.SSE_PING_MS, retryMs: values.SSE_RETRY_MS },
    ws: { pingMs: values.WS_PING_MS },
  };
}

function resolveLlm(values: z.infer<typeof schema>): LlmConfig | undefined {
  if (values.LLM_PROVIDER === 'none') return undefined;
  const apiKey = values.LLM_API_KEY ?? values.OPENAI_API_KEY;
  const baseUrl = values.LLM_BASE_URL ?? (values.OPENAI_API_KEY === undefined ? undefined : OPENAI_BASE_URL);
  if (baseUrl === undefined) {
    if (values.LLM_PROVIDER === 'openai-compatible') {
      throw new ConfigError(
        'Invalid configuration:\n  LLM_BASE_URL: required with LLM_PROVIDER=openai-compatible (e.g. http://127.0.0.1:11434/v1)',
      );
    }
    return undefined;
  }
  if (values.LLM_MODEL === undefined) {
    throw new ConfigError(
      `Invalid configuration:\n  LLM_MODEL: required when a provider is configured (${baseUrl})`,
    );
  }
  return {
    provider: 'openai-compatible',
    baseUrl,
    apiKey,
    model: values.LLM_MODEL,
    stallMs: values.LLM_STALL_MS,
  };
}
