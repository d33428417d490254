// Endpoint settings for each provider that speaks the Chat Completions format: URL shape, auth header, quirks.

import type { ChatCompletionsEndpoint } from './chat-completions.ts';

export const OPENAI_BASE_URL = 'https://api.openai.com/v1';
/** GA Azure OpenAI data-plane version with stream_options support. */
export const AZURE_OPENAI_API_VERSION = '2024-10-21';
/** Azure AI model inference API version (Meta Llama and other Foundry models). */
export const AZURE_AI_API_VERSION = '2024-05-01-preview';

export const trimSlash = (url: string): string => url.replace(/\/+$/, '');

/** OpenAI and compatible servers: the key as a bearer token, or no header for a keyless local server. */
export function bearerAuth(apiKey: string | undefined): Record<string, string> {
  return apiKey === undefined || apiKey === '' ? {} : { authorization: `Bearer ${apiKey}` };
}

/** https://<resource>.openai.azure.com/openai/deployments/<deployment>/<operation>?api-version=... */
export function azureOpenAIDeploymentUrl(options: {
  endpoint: string;
  deployment: string;
  operation: 'chat/completions' | 'embeddings';
  apiVersion?: string | undefined;
}): string {
  const version = encodeURIComponent(options.apiVersion ?? AZURE_OPENAI_API_VERSION);
  return `${trimSlash(options.endpoint)}/openai/deployments/${encodeURIComponent(options.deployment)}/${options.operation}?api-version=${version}`;
}

export function openAICompatibleEndpoint(options: {
  baseUrl: string;
  apiKey?: string | undefined;
  model: string;
  stallMs: number;
  provider?: string;
}): ChatCompletionsEndpoint {
  return {
    provider: options.provider ?? 'openai-compatible',
    model: options.model,
    url: `${trimSlash(options.baseUrl)}/chat/completions`,
    headers: bearerAuth(options.apiKey),
    modelInBody: true,
    streamUsage: true,
    stallMs: options.stallMs,
  };
}

export function openAIEndpoint(options: {
  apiKey: string;
  model: string;
  stallMs: number;
  baseUrl?: string | undefined;
}): ChatCompletionsEndpoint {
  return openAICompatibleEndpoint({
    ...options,
    baseUrl: options.baseUrl ?? OPENAI_BASE_URL,
    provider: 'openai',
  });
}

/** Azure OpenAI: https://<resource>.openai.azure.com/openai/deployments/<deployment>/chat/completions?api-version=... */
export function azureOpenAIEndpoint(options: {
  endpoint: string;
  apiKey: string;
  deployment: string;
  stallMs: number;
  apiVersion?: string | undefined;
}): ChatCompletionsEndpoint {
  return {
    provider: 'azure-openai',
    model: options.deployment,
    url: azureOpenAIDeploymentUrl({ ...options, operation: 'chat/completions' }),
    headers: { 'api-key': options.apiKey },
    modelInBody: false,
    streamUsage: true,
    stallMs: options.stallMs,
  };
}

/** Azure AI model inference: https://<resource>.services.ai.azure.com/models/chat/completions?api-version=... */
export function azureAIInferenceEndpoint(options: {
  endpoint: string;
  apiKey: string;
  model: string;
  stallMs: number;
  apiVersion?: string | undefined;
}): ChatCompletionsEndpoint {
  const base = trimSlash(options.endpoint);
  const version = encodeURIComponent(options.apiVersion ?? AZURE_AI_API_VERSION);
  return {
    provider: 'azure-ai',
    model: options.model,
    url: `${base.endsWith('/models') ? base : `${base}/models`}/chat/completions?api-version=${version}`,
    headers: { 'api-key': options.apiKey },
    modelInBody: true,
    // Not every Foundry model honours stream_options; usage is read when sent and estimated otherwise.
    streamUsage: false,
    stallMs: options.stallMs,
  };
}
