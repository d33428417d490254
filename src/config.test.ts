import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config.ts';

describe('loadConfig', () => {
  it('starts with no provider and loopback defaults on an empty environment', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({ host: '127.0.0.1', port: 3000, llm: undefined });
    expect(config.run).toEqual({
      graceMs: 30_000,
      disconnectPolicy: 'abort',
      retentionMs: 300_000,
      maxDurationMs: 300_000,
      maxEvents: 100_000,
      maxBytes: 16 * 1024 * 1024,
    });
    expect(config.sse).toEqual({ pingMs: 15_000, retryMs: 2_000 });
  });

  it('configures an OpenAI-compatible provider from LLM_* variables', () => {
    const config = loadConfig({
      LLM_BASE_URL: 'http://127.0.0.1:11434/v1',
      LLM_MODEL: 'llama3.2',
      LLM_API_KEY: ' k ',
    });
    expect(config.llm).toEqual({
      provider: 'openai-compatible',
      baseUrl: 'http://127.0.0.1:11434/v1',
      apiKey: 'k',
      model: 'llama3.2',
      stallMs: 30_000,
    });
  });

  it('uses OpenAI itself when only OPENAI_API_KEY and a model are set', () => {
    expect(loadConfig({ OPENAI_API_KEY: 'sk-x', LLM_MODEL: 'gpt-4o-mini' }).llm?.baseUrl).toBe(
      'https://api.openai.com/v1',
    );
  });

  it('names every invalid variable in one clear error', () => {
    const attempt = () =>
      loadConfig({ PORT: 'eighty', RUN_DISCONNECT_POLICY: 'sometimes', LLM_BASE_URL: 'not a url' });
    expect(attempt).toThrow(ConfigError);
    expect(attempt).toThrow(/PORT[\s\S]*LLM_BASE_URL[\s\S]*RUN_DISCONNECT_POLICY/);
  });

  it('requires a base URL and a model once a provider is asked for', () => {
    expect(() => loadConfig({ LLM_PROVIDER: 'openai-compatible' })).toThrow(/LLM_BASE_URL: required/);
    expect(() => loadConfig({ LLM_BASE_URL: 'http://127.0.0.1:1/v1' })).toThrow(/LLM_MODEL: required/);
  });

  it('turns a provider off with LLM_PROVIDER=none', () => {
    expect(loadConfig({ LLM_PROVIDER: 'none', LLM_BASE_URL: 'http://127.0.0.1:1/v1' }).llm).toBeUndefined();
  });
});
