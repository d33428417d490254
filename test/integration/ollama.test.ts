// The native Ollama adapter driven over real TCP against the fake upstream speaking /api/chat NDJSON.

import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  isEmbeddingModel,
  listOllamaModels,
  ollamaBaseUrl,
  OllamaModel,
  pickChatModel,
} from '../../src/providers/ollama/ollama-model.ts';
import { startFakeOllama, type FakeUpstream } from '../fakes/fake-upstream.ts';
import { loadFixture } from '../fakes/fixtures.ts';
import { failureOf, HELLO, streamAll } from '../fakes/language-model-probe.ts';
import { describeStreamFaults } from '../fakes/stream-fault-cases.ts';

let upstream: FakeUpstream;
let model: OllamaModel;

beforeAll(async () => {
  upstream = await startFakeOllama();
  model = new OllamaModel({ host: upstream.url, model: 'llama3.2', stallMs: 500 });
});
afterAll(async () => {
  await model.close();
  await upstream.close();
});
beforeEach(() => {
  upstream.reset();
});

describeStreamFaults(() => ({
  upstream,
  model,
  withStallMs: (stallMs) => new OllamaModel({ host: upstream.url, model: 'llama3.2', stallMs }),
}));

describe('OllamaModel.stream', () => {
  it('reassembles the full text, hostile tokens included, with usage and the finish reason', async () => {
    upstream.setScenario({ tokenCount: 80, seed: 3 });
    const { parts, text } = await streamAll(model, {
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Tell me about rivers.' },
      ],
      temperature: 0.2,
      // Above the 80 tokens of the answer: the fake honours num_predict.
      maxTokens: 100,
    });
    expect(text).toBe(upstream.fullText());
    expect(parts).toContainEqual({ type: 'finish', finishReason: 'stop' });
    expect(parts).toContainEqual({
      type: 'usage',
      usage: { inputTokens: expect.any(Number) as number, outputTokens: 80 },
    });
    const request = upstream.requests[0]!;
    expect(request.url).toBe('/api/chat');
    expect(request.body).toEqual({
      model: 'llama3.2',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Tell me about rivers.' },
      ],
      stream: true,
      options: { temperature: 0.2, num_predict: 100 },
    });
    expect(request.headers.authorization).toBeUndefined();
  });

  it('maps done_reason "length" and sends no options when none are set', async () => {
    upstream.setScenario({ tokenCount: 3, finishReason: 'length' });
    const { parts } = await streamAll(model);
    expect(parts).toContainEqual({ type: 'finish', finishReason: 'length' });
    expect(upstream.requests[0]?.body).not.toHaveProperty('options');
  });
});

describe('OllamaModel errors', () => {
  it('a model that is not pulled is UPSTREAM_BAD_REQUEST, not worth retrying', async () => {
    const missing = new OllamaModel({ host: upstream.url, model: 'qwen3:8b', stallMs: 500 });
    const error = await failureOf(streamAll(missing));
    expect(error).toMatchObject({ code: 'UPSTREAM_BAD_REQUEST', retryable: false });
    expect(error.detail).toMatch(/404.*qwen3:8b.*not found, try pulling it first/);
    await missing.close();
  });

  it('500 is retryable UPSTREAM_UNAVAILABLE', async () => {
    upstream.setScenario({ errorStatus: 500 });
    expect(await failureOf(streamAll(model))).toMatchObject({
      code: 'UPSTREAM_UNAVAILABLE',
      retryable: true,
    });
  });

  it('a body that ends cleanly without a done:true line is UPSTREAM_DROPPED', async () => {
    const line = {
      model: 'llama3.2',
      created_at: '',
      message: { role: 'assistant', content: 'Half' },
      done: false,
    };
    upstream.setScenario({
      replay: { contentType: 'application/x-ndjson', body: `${JSON.stringify(line)}\n` },
    });
    expect((await failureOf(streamAll(model))).code).toBe('UPSTREAM_DROPPED');
  });

  it('a line longer than 1 MiB is UPSTREAM_BAD_RESPONSE instead of an ever-growing buffer', async () => {
    upstream.setScenario({ tokens: ['x'.repeat(1024 * 1024 + 1)] });
    expect((await failureOf(streamAll(model))).code).toBe('UPSTREAM_BAD_RESPONSE');
  });

  it('an error line after the 200 is a coded, retryable failure', async () => {
    upstream.setScenario({ tokenCount: 5, streamErrorAfter: 2 });
    const error = await failureOf(streamAll(model));
    expect(error).toMatchObject({ code: 'UPSTREAM_UNAVAILABLE', retryable: true });
    expect(error.detail).toContain('an error was encountered while running the model');
  });
});

describe('OllamaModel.generate', () => {
  it('asks for stream:false and returns the whole text with usage', async () => {
    upstream.setScenario({ tokenCount: 30, seed: 9 });
    const result = await model.generate(
      { ...HELLO, maxTokens: 30 },
      { signal: new AbortController().signal },
    );
    expect(result).toEqual({
      text: upstream.fullText(),
      usage: { inputTokens: 1, outputTokens: 30 },
      finishReason: 'stop',
    });
    expect(upstream.requests[0]?.body).toMatchObject({ stream: false, options: { num_predict: 30 } });
  });

  it('maps a missing model like the streaming call', async () => {
    const missing = new OllamaModel({ host: upstream.url, model: 'mistral', stallMs: 500 });
    const error = await failureOf(missing.generate(HELLO, { signal: new AbortController().signal }));
    expect(error.code).toBe('UPSTREAM_BAD_REQUEST');
    await missing.close();
  });
});

describe('Ollama host and model discovery', () => {
  it('reads hosts the way OLLAMA_HOST does', () => {
    expect(ollamaBaseUrl(undefined)).toBe('http://127.0.0.1:11434');
    expect(ollamaBaseUrl('')).toBe('http://127.0.0.1:11434');
    expect(ollamaBaseUrl('127.0.0.1:11434')).toBe('http://127.0.0.1:11434');
    expect(ollamaBaseUrl('0.0.0.0')).toBe('http://0.0.0.0:11434');
    expect(ollamaBaseUrl(':8080')).toBe('http://127.0.0.1:8080');
    expect(ollamaBaseUrl('http://gpu-box')).toBe('http://gpu-box');
    expect(ollamaBaseUrl('https://proxy.example/ollama/')).toBe('https://proxy.example/ollama');
  });

  it('accepts a host without a scheme', async () => {
    const bare = new OllamaModel({
      host: `127.0.0.1:${upstream.port}`,
      model: 'llama3.2:latest',
      stallMs: 500,
    });
    upstream.setScenario({ tokenCount: 4 });
    expect((await streamAll(bare)).text).toBe(upstream.fullText());
    await bare.close();
  });

  it('lists pulled models and picks a chat model over embedding models', async () => {
    const names = await listOllamaModels(upstream.url, new AbortController().signal);
    expect(names).toEqual(['llama3.2:latest', 'nomic-embed-text:latest']);
    expect(pickChatModel(['nomic-embed-text:latest', 'bge-m3:latest', 'qwen3:8b'])).toBe('qwen3:8b');
    expect(pickChatModel(['all-minilm:latest', 'mxbai-embed-large:latest'])).toBeUndefined();
    expect(isEmbeddingModel('BGE-large')).toBe(true);
  });

  it('lists whatever the server has', async () => {
    const custom = await startFakeOllama({
      ollamaModels: [{ name: 'all-minilm:l6-v2' }, { name: 'gemma3:4b' }],
    });
    const names = await listOllamaModels(custom.url, new AbortController().signal);
    expect(pickChatModel(names)).toBe('gemma3:4b');
    await custom.close();
  });

  it('a host with nothing listening is UPSTREAM_UNAVAILABLE', async () => {
    const closed = await startFakeOllama();
    await closed.close();
    const error = await failureOf(listOllamaModels(closed.url, new AbortController().signal));
    expect(error).toMatchObject({ code: 'UPSTREAM_UNAVAILABLE', retryable: true });
  });
});

describe('Ollama responses recorded from the docs', () => {
  it('parses the documented chat stream', async () => {
    const { scenario, expected } = loadFixture('ollama-chat-stream');
    upstream.setScenario(scenario);
    const { parts, text } = await streamAll(model);
    expect(expected).toMatchObject({ text });
    expect(parts).toContainEqual({ type: 'usage', usage: { inputTokens: 26, outputTokens: 282 } });
    expect(parts.at(-1)).toEqual({ type: 'finish', finishReason: 'stop' });
  });

  it('parses the documented non-streaming answer', async () => {
    const { scenario, expected } = loadFixture('ollama-chat');
    upstream.setScenario(scenario);
    expect(await model.generate(HELLO, { signal: new AbortController().signal })).toEqual(expected);
  });
});
