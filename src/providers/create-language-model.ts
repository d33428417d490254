// Picks the provider adapter from configuration.

import type { LlmConfig } from '../config.ts';
import type { LanguageModel } from '../core/provider.ts';
import { ChatCompletionsModel } from './chat-completions.ts';
import { openAICompatibleEndpoint } from './chat-completions-endpoints.ts';

export function createLanguageModel(config: LlmConfig | undefined): LanguageModel | undefined {
  if (config === undefined) return undefined;
  return new ChatCompletionsModel(
    openAICompatibleEndpoint({
      baseUrl: config.baseUrl,
      apiKey: config.apiKey,
      model: config.model,
      stallMs: config.stallMs,
    }),
  );
}
