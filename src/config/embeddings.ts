// Embeddings: the model that turns passages and questions into vectors, by default from the LLM's own family.

import { z } from 'zod';
import { optionalText } from './fields.ts';
import type { Problems } from './problems.ts';
import type { LlmConfig, ProviderKind, ProvidersValues } from './providers.ts';

export const EMBEDDING_PROVIDER_KINDS = ['openai-compatible', 'openai', 'azure-openai', 'ollama'] as const;
export type EmbeddingProviderKind = (typeof EMBEDDING_PROVIDER_KINDS)[number];

export const embeddingsSchema = z.object({
  EMBEDDING_PROVIDER: z.enum(['auto', 'none', ...EMBEDDING_PROVIDER_KINDS]).default('auto'),
  EMBEDDING_MODEL: optionalText,
  EMBEDDING_BASE_URL: optionalText.pipe(z.url().optional()),
  EMBEDDING_API_KEY: optionalText,
  EMBEDDING_API_VERSION: optionalText,
  EMBEDDING_DIMENSIONS: optionalText.pipe(z.coerce.number<string>().int().min(1).max(8192).optional()),
  // Not trimmed: e5-style prefixes end with a space ("query: ").
  EMBEDDING_QUERY_PREFIX: z.string().default(''),
  EMBEDDING_DOCUMENT_PREFIX: z.string().default(''),
});
export type EmbeddingsValues = z.infer<typeof embeddingsSchema>;

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

export interface EmbeddingSettings {
  embedding: EmbeddingConfig | undefined;
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
 * provider's usual variables. Timeouts and retries are the LLM's (`providers`).
 */
export function resolveEmbedding(
  values: EmbeddingsValues,
  providers: ProvidersValues,
  llm: LlmConfig | undefined,
  problems: Problems,
): EmbeddingConfig | undefined {
  if (values.EMBEDDING_PROVIDER === 'none') return undefined;
  const model = values.EMBEDDING_MODEL;
  const primary = llm?.chain[0];
  let kind: EmbeddingProviderKind;
  if (values.EMBEDDING_PROVIDER === 'auto') {
    if (model === undefined) return undefined;
    const llmKind = primary?.kind ?? (llm?.detectOllamaAt === undefined ? undefined : 'ollama');
    const matching = llmKind === undefined ? undefined : EMBEDDING_KIND_FOR[llmKind];
    if (matching === undefined) {
      problems.add(
        'EMBEDDING_MODEL',
        `set, but EMBEDDING_PROVIDER=auto has no embedding provider to use it with (the LLM provider is ${llmKind ?? 'none'}); set EMBEDDING_PROVIDER to one of ${EMBEDDING_PROVIDER_KINDS.join(', ')}`,
      );
      return undefined;
    }
    kind = matching;
  } else {
    kind = values.EMBEDDING_PROVIDER;
    if (model === undefined) {
      problems.add(
        'EMBEDDING_MODEL',
        `required with EMBEDDING_PROVIDER=${kind}${kind === 'azure-openai' ? ' (the deployment name)' : ''}`,
      );
      return undefined;
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
    stallMs: providers.LLM_STALL_MS,
    retries: providers.LLM_RETRIES,
    retryBaseMs: providers.LLM_RETRY_BASE_MS,
    retryMaxMs: providers.LLM_RETRY_MAX_MS,
  };
  const baseUrl = values.EMBEDDING_BASE_URL ?? same?.baseUrl;
  switch (kind) {
    case 'openai-compatible':
      if (baseUrl === undefined) {
        problems.add(
          'EMBEDDING_BASE_URL',
          'a base URL is required for openai-compatible embeddings (e.g. http://127.0.0.1:11434/v1)',
        );
      }
      return { ...common, baseUrl, apiKey: values.EMBEDDING_API_KEY ?? same?.apiKey };
    case 'openai': {
      const apiKey = values.EMBEDDING_API_KEY ?? same?.apiKey ?? providers.OPENAI_API_KEY;
      if (apiKey === undefined) {
        problems.add('EMBEDDING_API_KEY', 'required with EMBEDDING_PROVIDER=openai (or set OPENAI_API_KEY)');
      }
      return { ...common, baseUrl, apiKey };
    }
    case 'azure-openai': {
      const endpoint = baseUrl ?? providers.AZURE_OPENAI_ENDPOINT;
      const apiKey = values.EMBEDDING_API_KEY ?? same?.apiKey ?? providers.AZURE_OPENAI_API_KEY;
      if (endpoint === undefined) {
        problems.add(
          'EMBEDDING_BASE_URL',
          'required with EMBEDDING_PROVIDER=azure-openai (or set AZURE_OPENAI_ENDPOINT)',
        );
      }
      if (apiKey === undefined) {
        problems.add(
          'EMBEDDING_API_KEY',
          'required with EMBEDDING_PROVIDER=azure-openai (or set AZURE_OPENAI_API_KEY)',
        );
      }
      return { ...common, baseUrl: endpoint, apiKey };
    }
    case 'ollama':
      return { ...common, baseUrl: baseUrl ?? providers.OLLAMA_HOST, apiKey: values.EMBEDDING_API_KEY };
    default: {
      const unreachable: never = kind;
      problems.add('EMBEDDING_PROVIDER', `unknown provider ${String(unreachable)}`);
      return undefined;
    }
  }
}
