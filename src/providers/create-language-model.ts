// Builds the language model from configuration: one adapter per configured provider, wrapped in a fallback chain,
// or, when nothing is configured, a local Ollama found at start-up.

import type { LlmConfig, ProviderConfig } from '../config.ts';
import { toRivuletError } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import type { ProviderObserver, ProviderQueueObserver } from '../core/observer.ts';
import { ProviderQueue } from '../core/provider-queue.ts';
import type { LanguageModel } from '../core/provider.ts';
import { ChatCompletionsModel } from './openai/chat-completions.ts';
import {
  azureAIInferenceEndpoint,
  azureOpenAIEndpoint,
  openAICompatibleEndpoint,
  openAIEndpoint,
} from './openai/chat-completions-endpoints.ts';
import { AnthropicModel } from './anthropic/anthropic-model.ts';
import { CircuitBreaker } from './shared/circuit-breaker.ts';
import { FallbackChain } from './fallback-chain.ts';
import { listOllamaModels, OllamaModel, ollamaBaseUrl, pickChatModel } from './ollama/ollama-model.ts';

/** How long start-up waits for a local Ollama to list its models. */
const OLLAMA_PROBE_MS = 1500;

export async function resolveLanguageModel(
  config: LlmConfig | undefined,
  logger: Logger,
  observer?: ProviderObserver & ProviderQueueObserver,
): Promise<LanguageModel | undefined> {
  if (config === undefined) return undefined;
  if (config.chain.length > 0 || config.detectOllamaAt === undefined)
    return createLanguageModel(config, logger, observer);
  const host = config.detectOllamaAt;
  try {
    const names = await listOllamaModels(host, AbortSignal.timeout(OLLAMA_PROBE_MS), OLLAMA_PROBE_MS);
    const model = pickChatModel(names);
    if (model === undefined) {
      logger.warn(
        { host: ollamaBaseUrl(host), models: names },
        'Ollama answers but has no chat model installed',
      );
      return undefined;
    }
    logger.info({ host: ollamaBaseUrl(host), model }, 'no provider configured: using the local Ollama');
    const ollama: ProviderConfig = {
      kind: 'ollama',
      model,
      baseUrl: host,
      apiKey: undefined,
      apiVersion: undefined,
    };
    return createLanguageModel({ ...config, chain: [ollama] }, logger, observer);
  } catch (error) {
    const detail = toRivuletError(error).detail;
    logger.info({ host: ollamaBaseUrl(host), detail }, 'no provider configured and no Ollama found');
    return undefined;
  }
}

export function createLanguageModel(
  config: LlmConfig,
  logger: Logger,
  observer?: ProviderObserver & ProviderQueueObserver,
): LanguageModel | undefined {
  if (config.chain.length === 0) return undefined;
  const models = config.chain.map((provider) => createAdapter(provider, config.stallMs));
  return new FallbackChain(models, {
    retries: config.retries,
    baseDelayMs: config.retryBaseMs,
    maxDelayMs: config.retryMaxMs,
    stallMs: config.stallMs,
    streaming: config.streaming,
    continueAfterFailure: config.continueAfterFailure,
    breaker: new CircuitBreaker({
      failureThreshold: config.breakerFailures,
      cooldownMs: config.breakerCooldownMs,
    }),
    logger,
    observer,
    queue: config.queue === undefined ? undefined : new ProviderQueue({ ...config.queue, observer }),
  });
}

/** One provider alone, without the chain's retries, failover or breaker (what `rivulet check` tries one by one). */
export function createAdapter(provider: ProviderConfig, stallMs: number): LanguageModel {
  const { model, baseUrl, apiKey, apiVersion } = provider;
  switch (provider.kind) {
    case 'openai-compatible':
      return new ChatCompletionsModel(
        openAICompatibleEndpoint({ baseUrl: baseUrl ?? '', apiKey, model, stallMs }),
      );
    case 'openai':
      return new ChatCompletionsModel(openAIEndpoint({ apiKey: apiKey ?? '', model, stallMs, baseUrl }));
    case 'azure-openai':
      return new ChatCompletionsModel(
        azureOpenAIEndpoint({
          endpoint: baseUrl ?? '',
          apiKey: apiKey ?? '',
          deployment: model,
          stallMs,
          apiVersion,
        }),
      );
    case 'azure-ai':
      return new ChatCompletionsModel(
        azureAIInferenceEndpoint({
          endpoint: baseUrl ?? '',
          apiKey: apiKey ?? '',
          model,
          stallMs,
          apiVersion,
        }),
      );
    case 'ollama':
      return new OllamaModel({ host: baseUrl, model, stallMs });
    case 'anthropic':
      return new AnthropicModel({ apiKey: apiKey ?? '', model, stallMs, baseUrl, version: apiVersion });
    default: {
      const unreachable: never = provider.kind;
      throw new Error(`unknown provider ${String(unreachable)}`);
    }
  }
}
