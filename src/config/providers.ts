// Model providers: the LLM chain (primary, then fallbacks), its retries, failover and circuit breaker.

import { z } from 'zod';
import { booleanText, integer, optionalText } from './fields.ts';
import type { Problems } from './problems.ts';

export const PROVIDER_KINDS = [
  'openai-compatible',
  'openai',
  'azure-openai',
  'azure-ai',
  'ollama',
  'anthropic',
] as const;
export type ProviderKind = (typeof PROVIDER_KINDS)[number];

export const providersSchema = z.object({
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
  LLM_EXTRACTIVE_FALLBACK: booleanText(true),
  LLM_BREAKER_FAILURES: integer(5, 1),
  LLM_BREAKER_COOLDOWN_MS: integer(30_000),
  PROVIDER_MAX_CONCURRENT: integer(0),
  PROVIDER_MAX_CONCURRENT_PER_KEY: integer(0),
  PROVIDER_QUEUE_TIMEOUT_MS: integer(60_000),
  SYSTEM_PROMPT: optionalText,
});
export type ProvidersValues = z.infer<typeof providersSchema>;

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
  /** The provider queue (PROVIDER_MAX_CONCURRENT); undefined: calls go out at once, no limit. */
  queue: ProviderQueueConfig | undefined;
}

export interface ProviderQueueConfig {
  /** Requests open at once per chain entry, on this instance. */
  maxConcurrent: number;
  /** Of those, how many one principal may hold; 0: no cap of its own. */
  maxConcurrentPerPrincipal: number;
  /** Longest wait for a slot (PROVIDER_QUEUE_TIMEOUT); 0: none but the run's own deadline. */
  timeoutMs: number;
}

export interface ProviderSettings {
  /** Undefined when no provider is configured. */
  llm: LlmConfig | undefined;
  systemPrompt: string | undefined;
  /** When the provider chain fails before the first token: quote the retrieved passages instead of failing. */
  extractiveFallback: boolean;
}

export function resolveProviders(values: ProvidersValues, problems: Problems): ProviderSettings {
  return {
    llm: resolveLlm(values, problems),
    systemPrompt: values.SYSTEM_PROMPT,
    extractiveFallback: values.LLM_EXTRACTIVE_FALLBACK,
  };
}

function resolveLlm(values: ProvidersValues, problems: Problems): LlmConfig | undefined {
  if (values.LLM_PROVIDER === 'none') return undefined;
  const primary = resolvePrimary(values, problems);
  // Nothing configured: the server will look for a local Ollama when it starts (see resolveLanguageModel).
  const detectOllamaAt = primary === undefined ? (values.OLLAMA_HOST ?? '') : undefined;
  const fallbacks = (values.LLM_FALLBACK ?? '')
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '')
    .map((entry) => parseFallback(entry, values, problems))
    .filter((provider) => provider !== undefined);
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
    queue: resolveQueue(values, problems),
  };
}

function resolveQueue(values: ProvidersValues, problems: Problems): ProviderQueueConfig | undefined {
  const maxConcurrent = values.PROVIDER_MAX_CONCURRENT;
  const perPrincipal = values.PROVIDER_MAX_CONCURRENT_PER_KEY;
  if (maxConcurrent === 0) {
    if (perPrincipal > 0)
      problems.add(
        'PROVIDER_MAX_CONCURRENT_PER_KEY',
        'applies only with PROVIDER_MAX_CONCURRENT set (above 0)',
      );
    return undefined;
  }
  if (perPrincipal > maxConcurrent) {
    problems.add(
      'PROVIDER_MAX_CONCURRENT_PER_KEY',
      `is ${perPrincipal}, above PROVIDER_MAX_CONCURRENT (${maxConcurrent}): lower it, or leave it 0`,
    );
  }
  return {
    maxConcurrent,
    maxConcurrentPerPrincipal: perPrincipal,
    timeoutMs: values.PROVIDER_QUEUE_TIMEOUT_MS,
  };
}

/** The provider named by LLM_PROVIDER, or with `auto` the first one whose usual variables are set. */
function resolvePrimary(values: ProvidersValues, problems: Problems): ProviderConfig | undefined {
  const kind =
    values.LLM_PROVIDER === 'auto' || values.LLM_PROVIDER === 'none'
      ? detectKind(values)
      : values.LLM_PROVIDER;
  if (kind === undefined) return undefined;
  const model = values.LLM_MODEL ?? (kind === 'azure-openai' ? values.AZURE_OPENAI_DEPLOYMENT : undefined);
  // Ollama without a model: the start-up probe picks an installed chat model.
  if (kind === 'ollama' && model === undefined) return undefined;
  if (model === undefined) {
    problems.add(
      kind === 'azure-openai' ? 'AZURE_OPENAI_DEPLOYMENT' : 'LLM_MODEL',
      `required with provider ${kind}`,
    );
    return undefined;
  }
  return providerConfig(kind, model, values.LLM_BASE_URL, values, 'LLM_BASE_URL', problems);
}

function detectKind(values: ProvidersValues): ProviderKind | undefined {
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
function parseFallback(
  entry: string,
  values: ProvidersValues,
  problems: Problems,
): ProviderConfig | undefined {
  const match = /^([a-z-]+):([^@]+?)(?:@(.+))?$/.exec(entry);
  const kind = match?.[1];
  if (match === null || kind === undefined || !(PROVIDER_KINDS as readonly string[]).includes(kind)) {
    problems.add(
      'LLM_FALLBACK',
      `"${entry}" is not <provider>:<model>[@<base URL>] with provider one of ${PROVIDER_KINDS.join(', ')}`,
    );
    return undefined;
  }
  const baseUrl = match[3];
  if (baseUrl !== undefined && !URL.canParse(baseUrl)) {
    problems.add('LLM_FALLBACK', `"${baseUrl}" is not a URL`);
    return undefined;
  }
  return providerConfig(kind as ProviderKind, match[2]!, baseUrl, values, 'LLM_FALLBACK', problems);
}

/** The provider's settings; a missing one is recorded as a problem (the result is then never used). */
function providerConfig(
  kind: ProviderKind,
  model: string,
  baseUrl: string | undefined,
  values: ProvidersValues,
  variable: string,
  problems: Problems,
): ProviderConfig {
  const apiVersion = values.LLM_API_VERSION;
  const required = (value: string | undefined, name: string): string | undefined => {
    if (value === undefined) problems.add(name, `required with provider ${kind}`);
    return value;
  };
  switch (kind) {
    case 'openai-compatible':
      if (baseUrl === undefined) {
        problems.add(
          variable,
          'a base URL is required for openai-compatible (e.g. http://127.0.0.1:11434/v1)',
        );
      }
      return { kind, model, baseUrl, apiKey: values.LLM_API_KEY, apiVersion };
    case 'openai': {
      const apiKey = required(values.OPENAI_API_KEY ?? values.LLM_API_KEY, 'OPENAI_API_KEY');
      return { kind, model, baseUrl, apiKey, apiVersion };
    }
    case 'azure-openai': {
      const endpoint = required(baseUrl ?? values.AZURE_OPENAI_ENDPOINT, 'AZURE_OPENAI_ENDPOINT');
      const apiKey = required(values.AZURE_OPENAI_API_KEY ?? values.LLM_API_KEY, 'AZURE_OPENAI_API_KEY');
      return { kind, model, baseUrl: endpoint, apiKey, apiVersion };
    }
    case 'azure-ai': {
      const endpoint = required(baseUrl ?? values.AZURE_AI_ENDPOINT, 'AZURE_AI_ENDPOINT');
      const apiKey = required(values.AZURE_AI_API_KEY ?? values.LLM_API_KEY, 'AZURE_AI_API_KEY');
      return { kind, model, baseUrl: endpoint, apiKey, apiVersion };
    }
    case 'ollama':
      return { kind, model, baseUrl: baseUrl ?? values.OLLAMA_HOST, apiKey: undefined, apiVersion };
    case 'anthropic': {
      const apiKey = required(values.ANTHROPIC_API_KEY ?? values.LLM_API_KEY, 'ANTHROPIC_API_KEY');
      return { kind, model, baseUrl, apiKey, apiVersion };
    }
    default: {
      const unreachable: never = kind;
      problems.add(variable, `unknown provider ${String(unreachable)}`);
      return { kind: unreachable, model, baseUrl, apiKey: undefined, apiVersion };
    }
  }
}
