// The embedding adapters (OpenAI-compatible, Azure OpenAI, Ollama) driven over real TCP against the fake upstream.

import { performance } from 'node:perf_hooks';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import type { Logger } from '../../src/core/logger.ts';
import {
  azureOpenAIEmbeddings,
  ollamaEmbeddings,
  openAICompatibleEmbeddings,
  openAIEmbeddings,
  type EmbeddingsEndpoint,
} from '../../src/providers/embeddings/embeddings-endpoints.ts';
import {
  batches,
  createEmbedder,
  HttpEmbedder,
  type HttpEmbedderOptions,
} from '../../src/providers/embeddings/embeddings.ts';
import {
  bagOfWords,
  cosineSimilarity,
  startFakeOllama,
  startFakeUpstream,
  type FakeUpstream,
} from '../fakes/fake-upstream.ts';
import { failureOf } from '../fakes/language-model-probe.ts';

const KEY = 'sk-embed-secret';
const STALL_MS = 2_000;

let openai: FakeUpstream;
let ollama: FakeUpstream;

beforeAll(async () => {
  openai = await startFakeUpstream({ requireApiKey: KEY });
  ollama = await startFakeOllama();
});
afterAll(async () => {
  await openai.close();
  await ollama.close();
});
beforeEach(() => {
  openai.reset();
  ollama.reset();
});

interface LogEntry {
  level: 'info' | 'warn' | 'error';
  fields: Record<string, unknown>;
  message: string;
}

function captureLogger(): Logger & { entries: LogEntry[] } {
  const entries: LogEntry[] = [];
  return {
    entries,
    info: (fields, message) => entries.push({ level: 'info', fields, message }),
    warn: (fields, message) => entries.push({ level: 'warn', fields, message }),
    error: (fields, message) => entries.push({ level: 'error', fields, message }),
  };
}

const opened: HttpEmbedder[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((embedder) => embedder.close()));
});

/** Fast backoff so retry tests take milliseconds. */
function embedderFor(endpoint: EmbeddingsEndpoint, options: Partial<HttpEmbedderOptions> = {}): HttpEmbedder {
  const embedder = new HttpEmbedder(endpoint, { retries: 2, baseDelayMs: 1, maxDelayMs: 50, ...options });
  opened.push(embedder);
  return embedder;
}

const openAIEndpoint = (options: { model?: string; dimensions?: number; apiKey?: string } = {}) =>
  openAIEmbeddings({
    apiKey: options.apiKey ?? KEY,
    model: options.model ?? 'text-embedding-3-small',
    stallMs: STALL_MS,
    baseUrl: openai.url,
    dimensions: options.dimensions,
  });

const azureEndpoint = (options: { deployment?: string; dimensions?: number; apiVersion?: string } = {}) =>
  azureOpenAIEmbeddings({
    endpoint: `${openai.origin}/`,
    apiKey: KEY,
    deployment: options.deployment ?? 'text-embedding-3-large',
    stallMs: STALL_MS,
    apiVersion: options.apiVersion,
    dimensions: options.dimensions,
  });

const ollamaEndpoint = (model = 'nomic-embed-text') =>
  ollamaEmbeddings({ host: ollama.url, model, stallMs: STALL_MS });

const norm = (vector: Float32Array): number => Math.hypot(...vector);

function expectCloseTo(actual: Float32Array, expected: readonly number[]): void {
  expect(actual).toHaveLength(expected.length);
  expected.forEach((value, index) => expect(actual[index]).toBeCloseTo(value, 6));
}

const QUESTIONS = [
  'How do I reset my password?',
  'Steps to reset passwords',
  'Shipping costs for international parcels',
];

describe('the fake bag-of-words embedding', () => {
  it('puts paraphrases with the same content words close and unrelated texts apart', () => {
    const [reset, paraphrase, shipping] = QUESTIONS.map((text) => bagOfWords(text));
    expect(cosineSimilarity(reset!, paraphrase!)).toBeGreaterThan(0.7);
    expect(cosineSimilarity(reset!, shipping!)).toBeLessThan(0.3);
    expect(cosineSimilarity(bagOfWords('The Policies'), bagOfWords('policy'))).toBeCloseTo(1, 9);
    // Stopwords only: still a unit vector.
    expect(Math.hypot(...bagOfWords('what is it'))).toBeCloseTo(1, 9);
  });
});

describe('OpenAI embeddings', () => {
  it('returns one unit vector per input, in order, sending the model, float encoding and a bearer key', async () => {
    const embedder = embedderFor(openAIEndpoint());
    const vectors = await embedder.embed(QUESTIONS, { purpose: 'document' });
    expect(vectors).toHaveLength(3);
    vectors.forEach((vector, index) => {
      expect(vector).toBeInstanceOf(Float32Array);
      expect(norm(vector)).toBeCloseTo(1, 5);
      expectCloseTo(vector, bagOfWords(QUESTIONS[index]!));
    });
    expect(cosineSimilarity(vectors[0]!, vectors[1]!)).toBeGreaterThan(
      cosineSimilarity(vectors[0]!, vectors[2]!),
    );
    const request = openai.requests[0]!;
    expect(request.url).toBe('/v1/embeddings');
    expect(request.headers.authorization).toBe(`Bearer ${KEY}`);
    expect(request.headers['api-key']).toBeUndefined();
    expect(request.body).toEqual({
      model: 'text-embedding-3-small',
      input: QUESTIONS,
      encoding_format: 'float',
    });
  });

  it('sends nothing for no texts', async () => {
    expect(await embedderFor(openAIEndpoint()).embed([], { purpose: 'document' })).toEqual([]);
    expect(openai.requests).toHaveLength(0);
  });

  it('splits 600 inputs into requests of at most 256 and keeps the order across them', async () => {
    const texts = Array.from({ length: 600 }, (_, index) => `chunk number ${index} about topic ${index % 7}`);
    const vectors = await embedderFor(openAIEndpoint()).embed(texts, { purpose: 'document' });
    expect(openai.requests.map((request) => (request.body as { input: string[] }).input.length)).toEqual([
      256, 256, 88,
    ]);
    expect((openai.requests[1]!.body as { input: string[] }).input[0]).toBe(texts[256]);
    for (const index of [0, 255, 256, 511, 512, 599])
      expectCloseTo(vectors[index]!, bagOfWords(texts[index]!));
  });

  it('splits by bytes too: 512 KiB of text per request', async () => {
    const big = (word: string) => `${word} `.repeat(40_000); // 200,000 bytes
    const texts = ['alpha', 'beta', 'gamma', 'delta', 'epsilon'].map(big);
    const vectors = await embedderFor(openAIEndpoint()).embed(texts, { purpose: 'document' });
    expect(openai.requests.map((request) => (request.body as { input: string[] }).input.length)).toEqual([
      2, 2, 1,
    ]);
    expectCloseTo(vectors[4]!, bagOfWords('epsilon'));
  });

  it('puts the query or document prefix before each text', async () => {
    const embedder = embedderFor(openAIEndpoint(), { queryPrefix: 'query: ', documentPrefix: 'passage: ' });
    await embedder.embed(['reset password'], { purpose: 'query' });
    await embedder.embed(['To reset a password, open Settings.'], { purpose: 'document' });
    expect(openai.requests.map((request) => (request.body as { input: string[] }).input)).toEqual([
      ['query: reset password'],
      ['passage: To reset a password, open Settings.'],
    ]);
  });

  it('space() probes once for the size, shared by concurrent callers, and names provider:model', async () => {
    const embedder = embedderFor(openAIEndpoint());
    const spaces = await Promise.all([embedder.space(), embedder.space()]);
    expect(spaces).toEqual([
      { model: 'openai:text-embedding-3-small', dimensions: 64 },
      { model: 'openai:text-embedding-3-small', dimensions: 64 },
    ]);
    expect(openai.requests).toHaveLength(1);
    await embedder.space();
    expect(openai.requests).toHaveLength(1);
  });

  it('space() after a failed probe tries again', async () => {
    const embedder = embedderFor(openAIEndpoint(), { retries: 0 });
    openai.enqueue({ errorStatus: 503 });
    expect((await failureOf(embedder.space())).code).toBe('UPSTREAM_UNAVAILABLE');
    expect((await embedder.space()).dimensions).toBe(64);
    expect(openai.requests).toHaveLength(2);
  });

  it('EMBEDDING_DIMENSIONS: known without a call, sent as `dimensions` to text-embedding-3 models', async () => {
    const embedder = embedderFor(openAIEndpoint({ dimensions: 32 }), { dimensions: 32 });
    expect(await embedder.space()).toEqual({ model: 'openai:text-embedding-3-small', dimensions: 32 });
    expect(openai.requests).toHaveLength(0);
    const [vector] = await embedder.embed(['reset password'], { purpose: 'query' });
    expect(vector).toHaveLength(32);
    expect(openai.requests[0]?.body).toMatchObject({ dimensions: 32 });
  });

  it('does not send `dimensions` to other models, and an answer of another size is UPSTREAM_BAD_RESPONSE', async () => {
    const endpoint = openAICompatibleEmbeddings({
      baseUrl: openai.url,
      apiKey: KEY,
      model: 'text-embedding-ada-002',
      stallMs: STALL_MS,
      dimensions: 32,
    });
    const embedder = embedderFor(endpoint, { dimensions: 32, retries: 0 });
    const error = await failureOf(embedder.embed(['x'], { purpose: 'query' }));
    expect(error.code).toBe('UPSTREAM_BAD_RESPONSE');
    expect(error.detail).toBe('expected 32 dimensions (EMBEDDING_DIMENSIONS), got 64');
    expect(openai.requests[0]?.body).not.toHaveProperty('dimensions');
  });

  it('leaves the Authorization header out when an OpenAI-compatible server needs no key', async () => {
    const open = await startFakeUpstream();
    const embedder = embedderFor(
      openAICompatibleEmbeddings({ baseUrl: `${open.url}/`, model: 'bge-m3', stallMs: STALL_MS }),
    );
    const [vector] = await embedder.embed(['hello'], { purpose: 'query' });
    expect(vector).toHaveLength(64);
    expect(open.requests[0]?.headers.authorization).toBeUndefined();
    expect((await embedder.space()).model).toBe('openai-compatible:bge-m3');
    await open.close();
  });

  it('a wrong key is UPSTREAM_AUTH_FAILED, not retried, and the key stays out of the message', async () => {
    const error = await failureOf(
      embedderFor(openAIEndpoint({ apiKey: 'sk-wrong' })).embed(['x'], { purpose: 'query' }),
    );
    expect(error).toMatchObject({ code: 'UPSTREAM_AUTH_FAILED', retryable: false });
    expect(error.message).not.toContain('sk-wrong');
    expect(openai.requests).toHaveLength(1);
  });

  it('reorders answers by index and normalises vectors that are not unit length', async () => {
    const body = JSON.stringify({
      data: [
        { object: 'embedding', index: 1, embedding: [0, 2] },
        { object: 'embedding', index: 0, embedding: [3, 4] },
      ],
    });
    openai.setScenario({ replay: { contentType: 'application/json', body } });
    const vectors = await embedderFor(openAIEndpoint()).embed(['a', 'b'], { purpose: 'document' });
    expectCloseTo(vectors[0]!, [0.6, 0.8]);
    expectCloseTo(vectors[1]!, [0, 1]);
  });

  it.each([
    ['unparseable JSON', '{"data": ['],
    ['no data array', '{"embeddings": [[1, 0]]}'],
    ['fewer vectors than inputs', '{"data": [{"index": 0, "embedding": [1, 0]}]}'],
    [
      'vectors of different sizes',
      '{"data": [{"index": 0, "embedding": [1, 0]}, {"index": 1, "embedding": [1, 0, 0]}]}',
    ],
    [
      'a value that is not a number',
      '{"data": [{"index": 0, "embedding": [1, null]}, {"index": 1, "embedding": [1, 0]}]}',
    ],
    ['a zero vector', '{"data": [{"index": 0, "embedding": [0, 0]}, {"index": 1, "embedding": [1, 0]}]}'],
    ['an empty vector', '{"data": [{"index": 0, "embedding": []}, {"index": 1, "embedding": []}]}'],
    [
      'base64 despite encoding_format float',
      '{"data": [{"index": 0, "embedding": "AACAPw=="}, {"index": 1, "embedding": "AACAPw=="}]}',
    ],
    ['a duplicate index', '{"data": [{"index": 0, "embedding": [1, 0]}, {"index": 0, "embedding": [0, 1]}]}'],
    [
      'a value too large to square',
      '{"data": [{"index": 0, "embedding": [1e200, 1e200]}, {"index": 1, "embedding": [1, 0]}]}',
    ],
  ])('%s is UPSTREAM_BAD_RESPONSE', async (_label, body) => {
    openai.setScenario({ replay: { contentType: 'application/json', body } });
    const error = await failureOf(
      embedderFor(openAIEndpoint(), { retries: 0 }).embed(['a', 'b'], { purpose: 'document' }),
    );
    expect(error.code).toBe('UPSTREAM_BAD_RESPONSE');
  });

  it('a malformed answer is retried like any retryable failure, then reported', async () => {
    openai.setScenario({ replay: { contentType: 'application/json', body: '{"data": 7}' } });
    const error = await failureOf(embedderFor(openAIEndpoint()).embed(['a'], { purpose: 'document' }));
    expect(error.code).toBe('UPSTREAM_BAD_RESPONSE');
    expect(openai.requests).toHaveLength(3);
  });

  it('a Retry-After longer than the backoff allows fails at once instead of waiting', async () => {
    openai.setScenario({ errorStatus: 429, retryAfterSeconds: 30 });
    const error = await failureOf(embedderFor(openAIEndpoint()).embed(['a'], { purpose: 'document' }));
    expect(error).toMatchObject({ code: 'UPSTREAM_RATE_LIMITED', retryAfterMs: 30_000 });
    expect(openai.requests).toHaveLength(1);
  });

  it('a provider that does not answer in time is UPSTREAM_TIMEOUT', async () => {
    openai.setScenario({ headersDelayMs: 2_000 });
    const embedder = embedderFor(
      openAIEmbeddings({ apiKey: KEY, model: 'text-embedding-3-small', stallMs: 200, baseUrl: openai.url }),
      { retries: 0 },
    );
    expect((await failureOf(embedder.embed(['a'], { purpose: 'query' }))).code).toBe('UPSTREAM_TIMEOUT');
  });
});

describe('Azure OpenAI embeddings', () => {
  it('calls the deployment with api-version and an api-key header, without a model in the body', async () => {
    const embedder = embedderFor(azureEndpoint({ dimensions: 256 }), { dimensions: 256 });
    const vectors = await embedder.embed(QUESTIONS, { purpose: 'document' });
    expectCloseTo(vectors[2]!, bagOfWords(QUESTIONS[2]!, 256));
    const request = openai.requests[0]!;
    expect(request.url).toBe('/openai/deployments/text-embedding-3-large/embeddings?api-version=2024-10-21');
    expect(request.headers['api-key']).toBe(KEY);
    expect(request.headers.authorization).toBeUndefined();
    expect(request.body).toEqual({ input: QUESTIONS, encoding_format: 'float', dimensions: 256 });
    expect(await embedder.space()).toEqual({ model: 'azure-openai:text-embedding-3-large', dimensions: 256 });
  });

  it('encodes the deployment name, honours the api-version, and sends `dimensions` only to text-embedding-3 deployments', async () => {
    const embedder = embedderFor(
      azureEndpoint({ deployment: 'ada embeddings', apiVersion: '2024-06-01', dimensions: 64 }),
    );
    await embedder.embed(['hello'], { purpose: 'query' });
    const request = openai.requests[0]!;
    expect(request.url).toBe('/openai/deployments/ada%20embeddings/embeddings?api-version=2024-06-01');
    expect(request.body).toEqual({ input: ['hello'], encoding_format: 'float' });
  });
});

describe('Ollama embeddings', () => {
  it('posts {model, input} to /api/embed and reads {embeddings}', async () => {
    const embedder = embedderFor(ollamaEndpoint());
    const vectors = await embedder.embed(QUESTIONS, { purpose: 'document' });
    vectors.forEach((vector, index) => expectCloseTo(vector, bagOfWords(QUESTIONS[index]!)));
    const request = ollama.requests[0]!;
    expect(request.url).toBe('/api/embed');
    expect(request.body).toEqual({ model: 'nomic-embed-text', input: QUESTIONS });
    expect(request.headers.authorization).toBeUndefined();
    expect(await embedder.space()).toEqual({ model: 'ollama:nomic-embed-text', dimensions: 64 });
  });

  it('sends at most 64 inputs per request to a local model', async () => {
    const texts = Array.from({ length: 130 }, (_, index) => `note ${index}`);
    const vectors = await embedderFor(ollamaEndpoint()).embed(texts, { purpose: 'document' });
    expect(ollama.requests.map((request) => (request.body as { input: string[] }).input.length)).toEqual([
      64, 64, 2,
    ]);
    expectCloseTo(vectors[129]!, bagOfWords('note 129'));
  });

  it('a model that is not pulled is UPSTREAM_BAD_REQUEST and not retried', async () => {
    const error = await failureOf(
      embedderFor(ollamaEndpoint('mxbai-embed-large')).embed(['x'], { purpose: 'query' }),
    );
    expect(error).toMatchObject({ code: 'UPSTREAM_BAD_REQUEST', retryable: false });
    expect(error.detail).toMatch(/404.*not found, try pulling it first/);
    expect(ollama.requests).toHaveLength(1);
  });

  it('an answer with fewer embeddings than inputs is UPSTREAM_BAD_RESPONSE', async () => {
    ollama.setScenario({
      replay: { contentType: 'application/json', body: '{"model":"nomic-embed-text","embeddings":[[1,0]]}' },
    });
    const error = await failureOf(
      embedderFor(ollamaEndpoint(), { retries: 0 }).embed(['a', 'b'], { purpose: 'document' }),
    );
    expect(error).toMatchObject({ code: 'UPSTREAM_BAD_RESPONSE', detail: '1 embeddings for 2 inputs' });
  });
});

/** The same failure handling for every provider, each against its own fake. */
describe.each([
  { name: 'OpenAI', upstream: () => openai, endpoint: () => openAIEndpoint() },
  { name: 'Azure OpenAI', upstream: () => openai, endpoint: () => azureEndpoint() },
  { name: 'Ollama', upstream: () => ollama, endpoint: () => ollamaEndpoint() },
])('$name failures', ({ upstream, endpoint }) => {
  it('a 500 is retried with backoff, and the retry answers', async () => {
    upstream().enqueue({ errorStatus: 500 }, { errorStatus: 502 });
    const logger = captureLogger();
    const vectors = await embedderFor(endpoint(), { logger }).embed(['reset password'], { purpose: 'query' });
    expectCloseTo(vectors[0]!, bagOfWords('reset password'));
    expect(upstream().requests).toHaveLength(3);
    expect(logger.entries.map((entry) => [entry.message, entry.fields.code])).toEqual([
      ['embedding call failed, retrying', 'UPSTREAM_UNAVAILABLE'],
      ['embedding call failed, retrying', 'UPSTREAM_UNAVAILABLE'],
    ]);
  });

  it('gives up after the configured retries', async () => {
    upstream().setScenario({ errorStatus: 503 });
    const error = await failureOf(embedderFor(endpoint(), { retries: 1 }).embed(['a'], { purpose: 'query' }));
    expect(error.code).toBe('UPSTREAM_UNAVAILABLE');
    expect(upstream().requests).toHaveLength(2);
  });

  it('401 is UPSTREAM_AUTH_FAILED and not retried', async () => {
    upstream().setScenario({ errorStatus: 401 });
    const error = await failureOf(embedderFor(endpoint()).embed(['a'], { purpose: 'query' }));
    expect(error).toMatchObject({ code: 'UPSTREAM_AUTH_FAILED', retryable: false });
    expect(upstream().requests).toHaveLength(1);
  });

  it('a dropped connection is retried', async () => {
    upstream().enqueue({ dropAfter: 0 });
    await embedderFor(endpoint()).embed(['a'], { purpose: 'query' });
    expect(upstream().requests).toHaveLength(2);
  });

  it('aborting closes the request at once and rejects with the reason', async () => {
    upstream().setScenario({ headersDelayMs: 10_000 });
    const controller = new AbortController();
    const embedding = embedderFor(endpoint()).embed(['a'], { purpose: 'query', signal: controller.signal });
    await upstream().waitForRequest(1);
    const abortedAt = performance.now();
    controller.abort(new Error('user stopped'));
    await expect(embedding).rejects.toThrow('user stopped');
    const log = await upstream().waitForClose(1);
    expect(log.closedBy).toBe('client');
    expect(log.closedAt! - abortedAt).toBeLessThan(200);
  });

  it('aborting during the backoff pause rejects with the reason without another request', async () => {
    upstream().setScenario({ errorStatus: 500 });
    const controller = new AbortController();
    const embedder = embedderFor(endpoint(), { baseDelayMs: 10_000, maxDelayMs: 10_000, random: () => 1 });
    const embedding = embedder.embed(['a'], { purpose: 'query', signal: controller.signal });
    await upstream().waitForClose(1);
    controller.abort(new Error('user stopped'));
    await expect(embedding).rejects.toThrow('user stopped');
    expect(upstream().requests).toHaveLength(1);
  });

  it('an already aborted signal never reaches the provider', async () => {
    const controller = new AbortController();
    controller.abort(new Error('too late'));
    await expect(
      embedderFor(endpoint()).embed(['a'], { purpose: 'query', signal: controller.signal }),
    ).rejects.toThrow('too late');
    expect(upstream().requests).toHaveLength(0);
  });
});

describe('batches', () => {
  it('cuts by count and by bytes, and sends an oversized input alone', () => {
    expect(batches(['a', 'b', 'c'], 2, 100)).toEqual([['a', 'b'], ['c']]);
    expect(batches(['aaaa', 'bbbb', 'cc', 'dd'], 10, 6)).toEqual([['aaaa'], ['bbbb', 'cc'], ['dd']]);
    expect(batches(['x'.repeat(50), 'y'], 10, 10)).toEqual([['x'.repeat(50)], ['y']]);
    // Bytes, not characters: "é" is two.
    expect(batches(['éé', 'é'], 10, 5)).toEqual([['éé'], ['é']]);
    expect(batches([], 10, 10)).toEqual([]);
  });
});

describe('createEmbedder', () => {
  it('is undefined when no embedding model is configured', () => {
    expect(createEmbedder(loadConfig({}).embedding, captureLogger())).toBeUndefined();
  });

  it('follows an OpenAI-compatible LLM: same base URL and key, prefixes from the environment', async () => {
    const config = loadConfig({
      LLM_BASE_URL: openai.url,
      LLM_MODEL: 'chat-model',
      LLM_API_KEY: KEY,
      EMBEDDING_MODEL: 'bge-m3',
      EMBEDDING_QUERY_PREFIX: 'query: ',
      LLM_RETRY_BASE_MS: '1',
    });
    const logger = captureLogger();
    const embedder = createEmbedder(config.embedding, logger)!;
    opened.push(embedder as HttpEmbedder);
    expect(embedder).toMatchObject({ provider: 'openai-compatible', model: 'bge-m3' });
    const [vector] = await embedder.embed(['reset password'], { purpose: 'query' });
    expectCloseTo(vector!, bagOfWords('query: reset password'));
    expect(openai.requests[0]).toMatchObject({
      url: '/v1/embeddings',
      headers: { authorization: `Bearer ${KEY}` },
      body: { model: 'bge-m3', input: ['query: reset password'] },
    });
    expect(logger.entries).toEqual([
      {
        level: 'info',
        message: 'embedding model configured',
        fields: {
          provider: 'openai-compatible',
          model: 'bge-m3',
          url: `${openai.url}/embeddings`,
          dimensions: 'learnt from the model',
        },
      },
    ]);
  });

  it('uses Ollama beside an Ollama LLM', async () => {
    const config = loadConfig({
      OLLAMA_HOST: ollama.url,
      LLM_MODEL: 'llama3.2',
      EMBEDDING_MODEL: 'nomic-embed-text',
    });
    const embedder = createEmbedder(config.embedding, captureLogger())!;
    opened.push(embedder as HttpEmbedder);
    expect(await embedder.space()).toEqual({ model: 'ollama:nomic-embed-text', dimensions: 64 });
    expect(ollama.requests[0]?.url).toBe('/api/embed');
  });

  it('uses Azure OpenAI with the LLM endpoint, key and api-version', async () => {
    const config = loadConfig({
      AZURE_OPENAI_ENDPOINT: openai.origin,
      AZURE_OPENAI_API_KEY: KEY,
      AZURE_OPENAI_DEPLOYMENT: 'gpt-4o',
      LLM_API_VERSION: '2024-06-01',
      EMBEDDING_MODEL: 'text-embedding-3-small',
      EMBEDDING_DIMENSIONS: '128',
    });
    const embedder = createEmbedder(config.embedding, captureLogger())!;
    opened.push(embedder as HttpEmbedder);
    const [vector] = await embedder.embed(['hello'], { purpose: 'document' });
    expect(vector).toHaveLength(128);
    expect(openai.requests[0]).toMatchObject({
      url: '/openai/deployments/text-embedding-3-small/embeddings?api-version=2024-06-01',
      headers: { 'api-key': KEY },
      body: { dimensions: 128 },
    });
  });
});
