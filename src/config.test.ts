import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { describe, expect, it } from 'vitest';
import { ConfigError, envSchema, loadConfig } from './config.ts';
import { authSchema } from './config/auth.ts';
import { documentsSchema } from './config/documents.ts';
import { embeddingsSchema } from './config/embeddings.ts';
import { limitsSchema } from './config/limits.ts';
import { providersSchema } from './config/providers.ts';
import { retrievalSchema } from './config/retrieval.ts';
import { runsSchema } from './config/runs.ts';
import { toolsSchema } from './config/tools.ts';
import { serverSchema } from './config/server.ts';
import { storageSchema } from './config/storage.ts';
import { webSchema } from './config/web.ts';

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
      checkpointMs: 1000,
      maxReadersPerRun: 64,
      maxReaders: 2048,
      redisKeyPrefix: 'rivulet',
    });
    expect(config.limits.budgetAnswerMaxTokens).toBe(4096);
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

  it('lists a schema error and every cross-field problem in one error, one line per variable', () => {
    const problems = () => {
      try {
        loadConfig({
          // A schema error.
          PORT: 'eighty',
          // Cross-field: a model for a provider without its key; an embedding provider without a model.
          LLM_PROVIDER: 'anthropic',
          LLM_MODEL: 'claude',
          EMBEDDING_PROVIDER: 'openai',
          // Cross-field: a shared secret and a key set at once.
          AUTH_JWT_SECRET: 'x'.repeat(32),
          AUTH_JWKS_URL: 'https://idp.example/jwks.json',
        });
      } catch (error) {
        expect(error).toBeInstanceOf(ConfigError);
        return (error as Error).message.split('\n');
      }
      throw new Error('loadConfig accepted a bad configuration');
    };
    const [title, ...lines] = problems();
    expect(title).toBe('Invalid configuration:');
    expect(lines.map((line) => /^ {2}([A-Z_]+): /.exec(line)?.[1])).toEqual([
      'PORT',
      'ANTHROPIC_API_KEY',
      'EMBEDDING_MODEL',
      'AUTH_JWT_SECRET',
    ]);
    expect(lines[1]).toBe('  ANTHROPIC_API_KEY: required with provider anthropic');
  });

  it('goes on after a cross-field problem to find the next ones of the same concern', () => {
    expect(() =>
      loadConfig({ LLM_PROVIDER: 'openai', LLM_MODEL: 'm', LLM_FALLBACK: 'mystery:x, anthropic:claude' }),
    ).toThrow(/OPENAI_API_KEY: required[\s\S]*LLM_FALLBACK: "mystery:x"[\s\S]*ANTHROPIC_API_KEY: required/);
    expect(() =>
      loadConfig({
        AUTH_MODE: 'open',
        AUTH_JWT_SECRET: 'x'.repeat(32),
        AUTH_JWT_ALGORITHMS: 'HS256,RS256,none',
      }),
    ).toThrow(/AUTH_MODE: is open[\s\S]*"RS256" does not fit[\s\S]*"none" is not one of/);
  });

  it('reads each variable in exactly one concern, and envSchema names them all', () => {
    const concerns = [
      serverSchema,
      storageSchema,
      providersSchema,
      embeddingsSchema,
      retrievalSchema,
      documentsSchema,
      runsSchema,
      toolsSchema,
      authSchema,
      limitsSchema,
      webSchema,
    ];
    const names = concerns.flatMap((schema) => Object.keys(schema.shape));
    expect(names.filter((name, index) => names.indexOf(name) !== index)).toEqual([]);
    expect(Object.keys(envSchema.shape).sort()).toEqual(variablesTheSchemaReads());
    expect(names.sort()).toEqual(variablesTheSchemaReads());
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

  it('reads the provider queue: off by default, its limits and timeout, and a per-key cap within the limit', () => {
    const provider = { LLM_BASE_URL: 'http://x/v1', LLM_MODEL: 'm' };
    expect(loadConfig(provider).llm?.queue).toBeUndefined();
    expect(
      loadConfig({ ...provider, PROVIDER_MAX_CONCURRENT: '8', PROVIDER_MAX_CONCURRENT_PER_KEY: '2' }).llm
        ?.queue,
    ).toEqual({ maxConcurrent: 8, maxConcurrentPerPrincipal: 2, timeoutMs: 60_000 });
    expect(() =>
      loadConfig({ ...provider, PROVIDER_MAX_CONCURRENT: '2', PROVIDER_MAX_CONCURRENT_PER_KEY: '3' }),
    ).toThrow(/PROVIDER_MAX_CONCURRENT_PER_KEY/);
    expect(() => loadConfig({ ...provider, PROVIDER_MAX_CONCURRENT_PER_KEY: '3' })).toThrow(
      /PROVIDER_MAX_CONCURRENT_PER_KEY.*PROVIDER_MAX_CONCURRENT/,
    );
    expect(() => loadConfig({ ...provider, PROVIDER_MAX_CONCURRENT: '-1' })).toThrow(
      /PROVIDER_MAX_CONCURRENT/,
    );
  });

  it('reads EMBEDDING_* settings: auto follows the LLM, explicit providers, defaults and clear errors', () => {
    // No embedding model: none, whatever the LLM.
    expect(loadConfig({}).embedding).toBeUndefined();
    expect(loadConfig({ OPENAI_API_KEY: 'sk-x', LLM_MODEL: 'gpt-4o-mini' }).embedding).toBeUndefined();

    // auto beside an OpenAI-compatible LLM: its base URL and key; prefixes keep their trailing space.
    expect(
      loadConfig({
        LLM_BASE_URL: 'http://127.0.0.1:8000/v1',
        LLM_MODEL: 'chat',
        LLM_API_KEY: 'k',
        EMBEDDING_MODEL: 'intfloat/e5-large-v2',
        EMBEDDING_QUERY_PREFIX: 'query: ',
        EMBEDDING_DOCUMENT_PREFIX: 'passage: ',
        LLM_RETRIES: '3',
      }).embedding,
    ).toEqual({
      kind: 'openai-compatible',
      model: 'intfloat/e5-large-v2',
      baseUrl: 'http://127.0.0.1:8000/v1',
      apiKey: 'k',
      apiVersion: undefined,
      dimensions: undefined,
      queryPrefix: 'query: ',
      documentPrefix: 'passage: ',
      stallMs: 30_000,
      retries: 3,
      retryBaseMs: 250,
      retryMaxMs: 4_000,
    });

    // auto beside OpenAI, with dimensions; EMBEDDING_API_KEY wins over OPENAI_API_KEY.
    expect(
      loadConfig({
        OPENAI_API_KEY: 'sk-x',
        LLM_MODEL: 'gpt-4o-mini',
        EMBEDDING_MODEL: 'text-embedding-3-small',
        EMBEDDING_DIMENSIONS: '256',
        EMBEDDING_API_KEY: 'sk-e',
      }).embedding,
    ).toMatchObject({ kind: 'openai', baseUrl: undefined, apiKey: 'sk-e', dimensions: 256 });

    // auto beside Azure OpenAI: endpoint, key and api-version of the LLM; the model is the deployment.
    expect(
      loadConfig({
        AZURE_OPENAI_ENDPOINT: 'https://r.openai.azure.com',
        AZURE_OPENAI_API_KEY: 'az',
        AZURE_OPENAI_DEPLOYMENT: 'gpt-4o',
        LLM_API_VERSION: '2024-06-01',
        EMBEDDING_MODEL: 'embeddings',
      }).embedding,
    ).toMatchObject({
      kind: 'azure-openai',
      model: 'embeddings',
      baseUrl: 'https://r.openai.azure.com',
      apiKey: 'az',
      apiVersion: '2024-06-01',
    });

    // auto beside Ollama, configured or to be detected at start.
    expect(
      loadConfig({ OLLAMA_HOST: 'gpu-box:11434', LLM_MODEL: 'llama3.2', EMBEDDING_MODEL: 'nomic-embed-text' })
        .embedding,
    ).toMatchObject({ kind: 'ollama', baseUrl: 'gpu-box:11434', apiKey: undefined });
    expect(loadConfig({ EMBEDDING_MODEL: 'nomic-embed-text' }).embedding).toMatchObject({
      kind: 'ollama',
      baseUrl: undefined,
    });

    // Explicit provider, other than the LLM's: its own variables, not the LLM's URL or key.
    expect(
      loadConfig({
        LLM_BASE_URL: 'http://127.0.0.1:8000/v1',
        LLM_MODEL: 'chat',
        LLM_API_KEY: 'k',
        OPENAI_API_KEY: 'sk-o',
        EMBEDDING_PROVIDER: 'openai',
        EMBEDDING_MODEL: 'text-embedding-3-large',
      }).embedding,
    ).toMatchObject({ kind: 'openai', baseUrl: undefined, apiKey: 'sk-o' });
    expect(
      loadConfig({
        ANTHROPIC_API_KEY: 'a',
        LLM_MODEL: 'claude',
        EMBEDDING_PROVIDER: 'ollama',
        EMBEDDING_MODEL: 'bge-m3',
        EMBEDDING_BASE_URL: 'http://gpu-box:11434',
      }).embedding,
    ).toMatchObject({ kind: 'ollama', baseUrl: 'http://gpu-box:11434' });
    expect(
      loadConfig({ EMBEDDING_PROVIDER: 'none', EMBEDDING_MODEL: 'nomic-embed-text' }).embedding,
    ).toBeUndefined();

    // Errors name the variable to fix.
    expect(() => loadConfig({ EMBEDDING_PROVIDER: 'openai' })).toThrow(
      /EMBEDDING_MODEL: required with EMBEDDING_PROVIDER=openai/,
    );
    expect(() =>
      loadConfig({ EMBEDDING_PROVIDER: 'openai', EMBEDDING_MODEL: 'text-embedding-3-small' }),
    ).toThrow(/EMBEDDING_API_KEY: required with EMBEDDING_PROVIDER=openai/);
    expect(() => loadConfig({ EMBEDDING_PROVIDER: 'openai-compatible', EMBEDDING_MODEL: 'm' })).toThrow(
      /EMBEDDING_BASE_URL: a base URL is required/,
    );
    expect(() =>
      loadConfig({ EMBEDDING_PROVIDER: 'azure-openai', EMBEDDING_MODEL: 'd', AZURE_OPENAI_API_KEY: 'az' }),
    ).toThrow(/EMBEDDING_BASE_URL: required with EMBEDDING_PROVIDER=azure-openai/);
    expect(() => loadConfig({ ANTHROPIC_API_KEY: 'a', LLM_MODEL: 'claude', EMBEDDING_MODEL: 'e' })).toThrow(
      /EMBEDDING_MODEL: .*LLM provider is anthropic.*set EMBEDDING_PROVIDER/,
    );
    const invalid = () =>
      loadConfig({ EMBEDDING_PROVIDER: 'cohere', EMBEDDING_DIMENSIONS: 'many', EMBEDDING_BASE_URL: 'nope' });
    expect(invalid).toThrow(ConfigError);
    expect(invalid).toThrow(/EMBEDDING_PROVIDER[\s\S]*EMBEDDING_BASE_URL[\s\S]*EMBEDDING_DIMENSIONS/);
    expect(() => loadConfig({ EMBEDDING_DIMENSIONS: '0' })).toThrow(/EMBEDDING_DIMENSIONS/);
  });

  it('turns a provider off with LLM_PROVIDER=none', () => {
    expect(loadConfig({ LLM_PROVIDER: 'none', LLM_BASE_URL: 'http://127.0.0.1:1/v1' }).llm).toBeUndefined();
  });
});

describe('storage settings', () => {
  it('reads DATABASE_URL and DATABASE_POOL_MAX, and refuses what is not a PostgreSQL URL', () => {
    const config = loadConfig({
      DATABASE_URL: 'postgres://rivulet@db:5432/rivulet',
      DATABASE_POOL_MAX: '12',
    });
    expect(config.databaseUrl).toBe('postgres://rivulet@db:5432/rivulet');
    expect(config.databasePoolMax).toBe(12);
    expect(loadConfig({}).databaseUrl).toBeUndefined();
    expect(loadConfig({}).databasePoolMax).toBe(4);
    expect(() => loadConfig({ DATABASE_URL: 'mysql://db/x', DATABASE_POOL_MAX: '0' })).toThrow(
      /DATABASE_URL: expected a postgres:\/\/ or postgresql:\/\/ URL[\s\S]*DATABASE_POOL_MAX/,
    );
  });

  it('reads SQLITE_COMMIT_DELAY_MS (5 ms by default, 0 for none), and refuses what is not 0 to 100', () => {
    expect(loadConfig({}).sqliteCommitDelayMs).toBe(5);
    expect(loadConfig({ SQLITE_COMMIT_DELAY_MS: '0' }).sqliteCommitDelayMs).toBe(0);
    expect(loadConfig({ SQLITE_COMMIT_DELAY_MS: '20' }).sqliteCommitDelayMs).toBe(20);
    for (const wrong of ['-1', '101', '2.5', 'soon']) {
      expect(() => loadConfig({ SQLITE_COMMIT_DELAY_MS: wrong })).toThrow(/SQLITE_COMMIT_DELAY_MS/);
    }
  });

  it('reads REDIS_URL for the run hub, and refuses what is not a Redis URL', () => {
    expect(loadConfig({}).run.redisUrl).toBeUndefined();
    expect(loadConfig({ REDIS_KEY_PREFIX: ' shop-eu:' }).run.redisKeyPrefix).toBe('shop-eu:');
    expect(() => loadConfig({ REDIS_KEY_PREFIX: 'has space' })).toThrow(/REDIS_KEY_PREFIX/);
    expect(loadConfig({ REDIS_URL: ' rediss://:secret@cache:6380/2 ' }).run.redisUrl).toBe(
      'rediss://:secret@cache:6380/2',
    );
    expect(() => loadConfig({ REDIS_URL: 'http://cache:6379' })).toThrow(
      /REDIS_URL: expected a redis:\/\/ or rediss:\/\/ URL/,
    );
  });

  it('requires checkpoints at most 30 s apart with PostgreSQL, where other instances judge an answer by them', () => {
    const shared = { DATABASE_URL: 'postgresql://db/rivulet' };
    expect(() => loadConfig({ ...shared, RUN_CHECKPOINT_MS: '0' })).toThrow(
      /RUN_CHECKPOINT_MS: must be between 1/,
    );
    expect(() => loadConfig({ ...shared, RUN_CHECKPOINT_MS: '60000' })).toThrow(/RUN_CHECKPOINT_MS/);
    expect(loadConfig({ ...shared, RUN_CHECKPOINT_MS: '5000' }).run.checkpointMs).toBe(5000);
    // Only this process writes a SQLite file: checkpoints may be off there.
    expect(loadConfig({ RUN_CHECKPOINT_MS: '0' }).run.checkpointMs).toBe(0);
  });

  it('requires checkpoints with WORKERS above 1 on SQLite too: the workers share the file', () => {
    expect(() => loadConfig({ WORKERS: '2', RUN_CHECKPOINT_MS: '0' })).toThrow(
      /RUN_CHECKPOINT_MS: must be between 1 and 30000 with WORKERS above 1/,
    );
    expect(loadConfig({ WORKERS: '2', RUN_CHECKPOINT_MS: '5000' }).run.checkpointMs).toBe(5000);
  });
});

describe('server settings', () => {
  it('reads WORKERS: 1 by default, a whole number, or auto for one per core', () => {
    expect(loadConfig({}).workers).toBe(1);
    expect(loadConfig({ WORKERS: ' 3 ' }).workers).toBe(3);
    expect(loadConfig({ WORKERS: 'AUTO' }).workers).toBe(availableParallelism());
    for (const bad of ['0', '-2', '1.5', 'many']) {
      expect(() => loadConfig({ WORKERS: bad })).toThrow(
        /WORKERS: expected a whole number of at least 1, or auto/,
      );
    }
  });
});

describe('logging settings', () => {
  it('accepts LOG_LEVEL and LOG_FORMAT in any case, and refuses other values', () => {
    expect(loadConfig({ LOG_LEVEL: 'DEBUG' }).logLevel).toBe('debug');
    expect(loadConfig({ LOG_LEVEL: ' Warn ' }).logLevel).toBe('warn');
    expect(loadConfig({ LOG_LEVEL: '' }).logLevel).toBe('info');
    expect(loadConfig({}).logFormat).toBe('auto');
    expect(loadConfig({ LOG_FORMAT: 'JSON' }).logFormat).toBe('json');
    expect(() => loadConfig({ LOG_LEVEL: 'verbose' })).toThrow(/LOG_LEVEL/);
    expect(() => loadConfig({ LOG_FORMAT: 'text' })).toThrow(/LOG_FORMAT/);
  });
});

/** The variables loadConfig reads, from the schema itself: an environment that records every key asked for. */
function variablesTheSchemaReads(): string[] {
  const read = new Set<string>();
  loadConfig(
    new Proxy(
      {},
      {
        get(_target, key) {
          if (typeof key === 'string' && /^[A-Z][A-Z0-9_]*$/.test(key)) read.add(key);
          return undefined;
        },
      },
    ),
  );
  return [...read].sort();
}

/** `# NAME=value` and `NAME=value` lines of .env.example, as [name, value]. */
function envExampleEntries(): [string, string][] {
  const text = readFileSync(new URL('../.env.example', import.meta.url), 'utf8');
  return text
    .split('\n')
    .map((line) => /^#? ?([A-Z][A-Z0-9_]*)=(.*)$/.exec(line))
    .filter((match) => match !== null)
    .map((match) => [match[1]!, match[2]!]);
}

describe('.env.example', () => {
  it('lists every variable the configuration schema reads, once, and no other', () => {
    const listed = envExampleEntries().map(([name]) => name);
    expect(listed.filter((name, index) => listed.indexOf(name) !== index)).toEqual([]);
    expect([...listed].sort()).toEqual(variablesTheSchemaReads());
  });

  it('gives each one its default (or leaves it empty), so copying it to .env changes nothing', () => {
    const defaults = loadConfig({});
    const fromExample = loadConfig(Object.fromEntries(envExampleEntries()));
    expect(fromExample).toEqual(defaults);
  });
});
