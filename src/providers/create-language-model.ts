// Builds the language model from configuration: one adapter per configured provider, wrapped in a fallback chain.

import type { LlmConfig, ProviderConfig } from '../config.ts';
import type { Logger } from '../core/logger.ts';
import type { LanguageModel } from '../core/provider.ts';
import { ChatCompletionsModel } from './chat-completions.ts';
import {
  azureAIInferenceEndpoint,
  azureOpenAIEndpoint,
  openAICompatibleEndpoint,
  openAIEndpoint,
} from './chat-completions-endpoints.ts';
import { CircuitBreaker } from './circuit-breaker.ts';
import { FallbackChain } from './fallback-chain.ts';

export function createLanguageModel(
  config: LlmConfig | undefined,
  logger: Logger,
): LanguageModel | undefined {
  if (config === undefined) return undefined;
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
  });
}

function createAdapter(provider: ProviderConfig, stallMs: number): LanguageModel {
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
    default: {
      const unreachable: never = provider.kind;
      throw new Error(`unknown provider ${String(unreachable)}`);
    }
  }
}
