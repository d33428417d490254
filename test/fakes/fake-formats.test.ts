// Proves the fake speaks Ollama's and Anthropic's documented wire shapes, and replays recorded fixtures verbatim.

import { createParser } from 'eventsource-parser';
import { afterEach, describe, expect, it } from 'vitest';
import { ChatCompletionsModel } from '../../src/providers/chat-completions.ts';
import { openAICompatibleEndpoint } from '../../src/providers/chat-completions-endpoints.ts';
import {
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
});
