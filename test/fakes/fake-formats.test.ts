// Proves the fake speaks Ollama's and Anthropic's documented wire shapes, and replays recorded fixtures verbatim.

import { createParser } from 'eventsource-parser';
import { afterEach, describe, expect, it } from 'vitest';
import { ChatCompletionsModel } from '../../src/providers/openai/chat-completions.ts';
import { openAICompatibleEndpoint } from '../../src/providers/openai/chat-completions-endpoints.ts';
import { AnthropicModel } from '../../src/providers/anthropic/anthropic-model.ts';
import { OllamaModel } from '../../src/providers/ollama/ollama-model.ts';
import {
  bagOfWords,
  startFakeAnthropic,
  startFakeOllama,
  startFakeUpstream,
  type FakeUpstream,
} from './fake-upstream.ts';
import { loadFixture } from './fixtures.ts';
import { streamAll } from './language-model-probe.ts';

const upstreams: FakeUpstream[] = [];

afterEach(async () => {
  await Promise.all(upstreams.splice(0).map((upstream) => upstream.close()));
});

async function track(starting: Promise<FakeUpstream>): Promise<FakeUpstream> {
  const upstream = await starting;
  upstreams.push(upstream);
  return upstream;
}

function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
}

describe('fake Ollama', () => {
  it('streams NDJSON by default: one message line per token, then done:true with the counts', async () => {
    const upstream = await track(startFakeOllama({ scenario: { tokens: ['Hi', ' there'] } }));
    const response = await post(`${upstream.url}/api/chat`, {
      model: 'llama3.2',
      messages: [{ role: 'user', content: 'Say hi, please.' }],
    });
    expect(response.headers.get('content-type')).toBe('application/x-ndjson');
    const lines = (await response.text())
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines).toHaveLength(3);
    expect(lines[0]).toEqual({
      model: 'llama3.2',
      created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) as unknown,
      message: { role: 'assistant', content: 'Hi' },
      done: false,
    });
    expect(lines[2]).toMatchObject({
      message: { role: 'assistant', content: '' },
      done: true,
      done_reason: 'stop',
      prompt_eval_count: 4,
      eval_count: 2,
      total_duration: expect.any(Number) as unknown,
      load_duration: expect.any(Number) as unknown,
      prompt_eval_duration: expect.any(Number) as unknown,
      eval_duration: expect.any(Number) as unknown,
    });
  });

  it('lists models at /api/tags and answers an unknown model with 404 {"error"}', async () => {
    const upstream = await track(startFakeOllama());
    const tags = (await (await fetch(`${upstream.url}/api/tags`)).json()) as { models: unknown[] };
    expect(tags.models[0]).toMatchObject({
      name: 'llama3.2:latest',
      model: 'llama3.2:latest',
      size: expect.any(Number) as unknown,
      details: { family: 'llama', format: 'gguf' },
    });
    const missing = await post(`${upstream.url}/api/chat`, { model: 'nope', messages: [] });
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ error: 'model "nope" not found, try pulling it first' });
  });
});

describe('fake Anthropic', () => {
  it('streams the documented event sequence with matching event names', async () => {
    const upstream = await track(startFakeAnthropic({ scenario: { tokens: ['Hel', 'lo'] } }));
    const response = await post(
      `${upstream.url}/v1/messages`,
      { model: 'claude-test', max_tokens: 10, stream: true, messages: [{ role: 'user', content: 'hi' }] },
      { 'anthropic-version': '2023-06-01' },
    );
    const events: { event: string | undefined; type: unknown }[] = [];
    const parser = createParser({
      onEvent: (event) =>
        events.push({ event: event.event, type: (JSON.parse(event.data) as { type: unknown }).type }),
    });
    parser.feed(await response.text());
    expect(events.map((event) => event.event)).toEqual([
      'message_start',
      'content_block_start',
      'ping',
      'content_block_delta',
      'content_block_delta',
      'content_block_stop',
      'message_delta',
      'message_stop',
    ]);
    for (const event of events) expect(event.type).toBe(event.event);
  });

  it('requires x-api-key and anthropic-version when a key is set, and refuses turns that do not alternate', async () => {
    const upstream = await track(startFakeAnthropic({ requireApiKey: 'sk-ant' }));
    const body = { model: 'claude-test', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] };
    const unauthorised = await post(`${upstream.url}/v1/messages`, body, {
      'anthropic-version': '2023-06-01',
    });
    expect(unauthorised.status).toBe(401);
    expect(await unauthorised.json()).toEqual({
      type: 'error',
      error: { type: 'authentication_error', message: 'invalid x-api-key' },
    });
    const noVersion = await post(`${upstream.url}/v1/messages`, body, { 'x-api-key': 'sk-ant' });
    expect(noVersion.status).toBe(400);
    await noVersion.body?.cancel();
    const headers = { 'x-api-key': 'sk-ant', 'anthropic-version': '2023-06-01' };
    const twoUsers = await post(
      `${upstream.url}/v1/messages`,
      { ...body, messages: [body.messages[0], body.messages[0]] },
      headers,
    );
    expect(twoUsers.status).toBe(400);
    expect(await twoUsers.json()).toMatchObject({ error: { type: 'invalid_request_error' } });
    const noMaxTokens = await post(
      `${upstream.url}/v1/messages`,
      { ...body, max_tokens: undefined },
      headers,
    );
    expect(noMaxTokens.status).toBe(400);
    await noMaxTokens.body?.cancel();
  });
});

describe('fake embeddings', () => {
  it('answers OpenAI /v1/embeddings with the documented list shape, in order, and honours dimensions and base64', async () => {
    const upstream = await track(startFakeUpstream({ embeddingDimensions: 16 }));
    const response = await post(`${upstream.url}/embeddings`, {
      model: 'text-embedding-3-small',
      input: ['reset a password', 'shipping'],
    });
    expect(response.status).toBe(200);
    const answer = (await response.json()) as { data: { index: number; embedding: number[] }[] };
    expect(answer).toMatchObject({
      object: 'list',
      model: 'text-embedding-3-small',
      usage: { prompt_tokens: expect.any(Number) as unknown, total_tokens: expect.any(Number) as unknown },
    });
    expect(answer.data.map((item) => item.index)).toEqual([0, 1]);
    expect(answer.data[0]).toEqual({
      object: 'embedding',
      index: 0,
      embedding: bagOfWords('reset a password', 16),
    });

    const shortened = (await (
      await post(`${upstream.url}/embeddings`, {
        model: 'text-embedding-3-large',
        input: 'hi',
        dimensions: 8,
      })
    ).json()) as { data: { embedding: number[] }[] };
    expect(shortened.data[0]?.embedding).toHaveLength(8);

    const base64 = (await (
      await post(`${upstream.url}/embeddings`, { input: 'hi', encoding_format: 'base64' })
    ).json()) as { data: { embedding: string }[] };
    const decoded = new Float32Array(
      Uint8Array.from(Buffer.from(base64.data[0]!.embedding, 'base64')).buffer,
    );
    expect(Array.from(decoded)).toEqual(Array.from(new Float32Array(bagOfWords('hi', 16))));
  });

  it('refuses what OpenAI refuses: no input, an empty string, dimensions for an older model', async () => {
    const upstream = await track(startFakeUpstream());
    for (const body of [
      { model: 'text-embedding-3-small' },
      { model: 'text-embedding-3-small', input: ['ok', ''] },
      { model: 'text-embedding-ada-002', input: 'x', dimensions: 8 },
    ]) {
      const response = await post(`${upstream.url}/embeddings`, body);
      expect(response.status).toBe(400);
      expect(await response.json()).toMatchObject({ error: { type: 'invalid_request_error' } });
    }
  });

  it('answers Ollama /api/embed with {model, embeddings} and 404 for a model that is not pulled', async () => {
    const upstream = await track(startFakeOllama());
    const response = await post(`${upstream.url}/api/embed`, {
      model: 'nomic-embed-text',
      input: 'Why is the sky blue?',
    });
    expect(await response.json()).toMatchObject({
      model: 'nomic-embed-text',
      embeddings: [bagOfWords('Why is the sky blue?')],
      prompt_eval_count: expect.any(Number) as unknown,
    });
    const missing = await post(`${upstream.url}/api/embed`, { model: 'mxbai-embed-large', input: ['x'] });
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({
      error: 'model "mxbai-embed-large" not found, try pulling it first',
    });
  });
});

describe('fixture replay', () => {
  it('serves the recorded bytes verbatim', async () => {
    const { scenario, body } = loadFixture('ollama-chat-stream');
    const upstream = await track(startFakeOllama({ scenario }));
    const response = await post(`${upstream.url}/api/chat`, { model: 'llama3.2', messages: [] });
    expect(await response.text()).toBe(body);
  });

  it('the documented OpenAI chunks parse through the Chat Completions adapter', async () => {
    const { scenario, expected } = loadFixture('openai-chat-stream');
    const upstream = await track(startFakeUpstream({ scenario }));
    const model = new ChatCompletionsModel(
      openAICompatibleEndpoint({ baseUrl: upstream.url, model: 'gpt-4o-mini', stallMs: 500 }),
    );
    const { parts, text } = await streamAll(model);
    expect(expected).toMatchObject({ text });
    expect(parts).toContainEqual({ type: 'usage', usage: { inputTokens: 9, outputTokens: 1 } });
    expect(parts).toContainEqual({ type: 'finish', finishReason: 'stop' });
    await model.close();
  });

  it.each([
    {
      fixture: 'openai-chat-stream-tool-calls' as const,
      start: () => startFakeUpstream(),
      model: (url: string) =>
        new ChatCompletionsModel(
          openAICompatibleEndpoint({ baseUrl: url, model: 'gpt-4o-mini', stallMs: 500 }),
        ),
    },
    {
      fixture: 'anthropic-messages-stream-tool-use' as const,
      start: () => startFakeAnthropic(),
      model: (url: string) =>
        new AnthropicModel({ apiKey: 'k', baseUrl: url, model: 'claude-sonnet-4-5', stallMs: 500 }),
    },
    {
      fixture: 'ollama-chat-stream-tool-calls' as const,
      start: () => startFakeOllama(),
      model: (url: string) => new OllamaModel({ host: url, model: 'llama3.2', stallMs: 500 }),
    },
  ])(
    'the documented tool call stream of $fixture parses into its calls',
    async ({ fixture, start, model: make }) => {
      const { scenario, expected } = loadFixture(fixture);
      const upstream = await track(start());
      upstream.setScenario(scenario);
      const model = make(upstream.url);
      const { parts, text } = await streamAll(model);
      if ('error' in expected) throw new Error('a tool call fixture expects an answer');
      expect(text).toBe(expected.text);
      const calls = parts.flatMap((part) => (part.type === 'tool-call' ? [part] : []));
      expect(calls.map(({ name, inputText }) => ({ name, inputText }))).toEqual(expected.toolCalls);
      for (const call of calls) {
        const input = parts
          .flatMap((part) =>
            part.type === 'tool-input-delta' && part.toolCallId === call.toolCallId ? [part.delta] : [],
          )
          .join('');
        expect(input).toBe(call.inputText);
      }
      expect(parts).toContainEqual({ type: 'finish', finishReason: expected.finishReason });
      if (expected.usage !== null) expect(parts).toContainEqual({ type: 'usage', usage: expected.usage });
      await model.close();
    },
  );
});
