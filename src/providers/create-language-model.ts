// Picks the provider adapter from configuration.

import type { LlmConfig } from '../config.ts';
import type { LanguageModel } from '../core/provider.ts';
import { OpenAICompatibleModel } from './openai-compatible.ts';

export function createLanguageModel(config: LlmConfig | undefined): LanguageModel | undefined {
  if (config === undefined) return undefined;
  return new OpenAICompatibleModel({
    baseUrl: config.baseUrl,
    apiKey: config.apiKey,
    model: config.model,
    stallMs: config.stallMs,
  });
}
