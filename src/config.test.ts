import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config.ts';

describe('loadConfig', () => {
  it('starts with no provider and loopback defaults on an empty environment', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({ host: '127.0.0.1', port: 3000 });
    // Nothing configured: the server probes the default Ollama host at start.
    expect(config.llm).toMatchObject({ chain: [], detectOllamaAt: '' });
    expect(config.run).toEqual({
      graceMs: 30_000,
      disconnectPolicy: 'abort',
      retentionMs: 300_000,
      maxDurationMs: 300_000,
      maxEvents: 100_000,
      maxBytes: 16 * 1024 * 1024,
      retainedMaxBytes: 256 * 1024 * 1024,
    });
    expect(config.sse).toEqual({ pingMs: 15_000, retryMs: 2_000, drainTimeoutMs: 30_000 });
  });

  it('configures an OpenAI-compatible provider from LLM_* variables', () => {
    const config = loadConfig({
      LLM_BASE_URL: 'http://127.0.0.1:11434/v1',
      LLM_MODEL: 'llama3.2',
      LLM_API_KEY: ' k ',
    });
    expect(config.llm).toEqual({
      chain: [
        {
          kind: 'openai-compatible',
          baseUrl: 'http://127.0.0.1:11434/v1',
          apiKey: 'k',
          model: 'llama3.2',
          apiVersion: undefined,
        },
      ],
      stallMs: 30_000,
      streaming: true,
      retries: 2,
      retryBaseMs: 250,
      retryMaxMs: 4_000,
      continueAfterFailure: true,
      breakerFailures: 5,
      breakerCooldownMs: 30_000,
    });
  });

  it('uses OpenAI itself when only OPENAI_API_KEY and a model are set', () => {
    expect(loadConfig({ OPENAI_API_KEY: 'sk-x', LLM_MODEL: 'gpt-4o-mini' }).llm?.chain).toEqual([
      { kind: 'openai', model: 'gpt-4o-mini', apiKey: 'sk-x', baseUrl: undefined, apiVersion: undefined },
    ]);
  });

  it('names every invalid variable in one clear error', () => {
    const attempt = () =>
      loadConfig({ PORT: 'eighty', RUN_DISCONNECT_POLICY: 'sometimes', LLM_BASE_URL: 'not a url' });
    expect(attempt).toThrow(ConfigError);
    expect(attempt).toThrow(/PORT[\s\S]*LLM_BASE_URL[\s\S]*RUN_DISCONNECT_POLICY/);
  });

  it('requires a base URL and a model once a provider is asked for', () => {
    expect(() => loadConfig({ LLM_PROVIDER: 'openai-compatible', LLM_MODEL: 'm' })).toThrow(
      /LLM_BASE_URL: a base URL is required/,
    );
    expect(() => loadConfig({ LLM_BASE_URL: 'http://127.0.0.1:1/v1' })).toThrow(/LLM_MODEL: required/);
    expect(() => loadConfig({ LLM_PROVIDER: 'azure-openai', AZURE_OPENAI_DEPLOYMENT: 'd' })).toThrow(
      /AZURE_OPENAI_ENDPOINT: required/,
    );
  });

  it('reads Azure OpenAI and Azure AI settings from their usual variables', () => {
    const azure = loadConfig({
      AZURE_OPENAI_ENDPOINT: 'https://r.openai.azure.com',
      AZURE_OPENAI_API_KEY: 'az',
      AZURE_OPENAI_DEPLOYMENT: 'gpt-4o',
    });
    expect(azure.llm?.chain[0]).toMatchObject({
      kind: 'azure-openai',
      model: 'gpt-4o',
      baseUrl: 'https://r.openai.azure.com',
      apiKey: 'az',
    });
    const llama = loadConfig({
      AZURE_AI_ENDPOINT: 'https://r.services.ai.azure.com/models',
      AZURE_AI_API_KEY: 'k',
      LLM_MODEL: 'Meta-Llama-3.1-8B-Instruct',
    });
    expect(llama.llm?.chain[0]).toMatchObject({ kind: 'azure-ai', model: 'Meta-Llama-3.1-8B-Instruct' });
  });

  it('builds a fallback chain from LLM_FALLBACK and rejects malformed entries', () => {
    const config = loadConfig({
      LLM_BASE_URL: 'http://127.0.0.1:8000/v1',
      LLM_MODEL: 'local',
      OPENAI_API_KEY: 'sk-o',
      LLM_FALLBACK: 'openai:gpt-4o-mini, openai-compatible:backup@http://127.0.0.1:9000/v1',
      STREAMING_RESPONSE: 'False',
    });
    expect(config.llm?.chain.map((provider) => `${provider.kind}:${provider.model}`)).toEqual([
      'openai-compatible:local',
      'openai:gpt-4o-mini',
      'openai-compatible:backup',
    ]);
    expect(config.llm?.streaming).toBe(false);
    expect(() =>
      loadConfig({ LLM_BASE_URL: 'http://x/v1', LLM_MODEL: 'm', LLM_FALLBACK: 'mystery:model' }),
    ).toThrow(/LLM_FALLBACK/);
    expect(() =>
      loadConfig({ LLM_BASE_URL: 'http://x/v1', LLM_MODEL: 'm', STREAMING_RESPONSE: 'maybe' }),
    ).toThrow(/STREAMING_RESPONSE/);
  });

  it('turns a provider off with LLM_PROVIDER=none', () => {
    expect(loadConfig({ LLM_PROVIDER: 'none', LLM_BASE_URL: 'http://127.0.0.1:1/v1' }).llm).toBeUndefined();
  });
});
