// The Anthropic Messages adapter driven over real TCP against the fake upstream speaking /v1/messages SSE.

import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AnthropicModel } from '../../src/providers/anthropic/anthropic-model.ts';
import { toAnthropicMessages } from '../../src/providers/anthropic/tool-calls.ts';
import { startFakeAnthropic, type FakeUpstream } from '../fakes/fake-upstream.ts';
import { loadFixture } from '../fakes/fixtures.ts';
import { failureOf, HELLO, streamAll } from '../fakes/language-model-probe.ts';
import { describeStreamFaults } from '../fakes/stream-fault-cases.ts';

const API_KEY = 'sk-ant-test-secret';
let upstream: FakeUpstream;
let model: AnthropicModel;

function anthropic(options: Partial<ConstructorParameters<typeof AnthropicModel>[0]> = {}): AnthropicModel {
  return new AnthropicModel({
    apiKey: API_KEY,
    model: 'claude-test',
    stallMs: 500,
    baseUrl: upstream.url,
    ...options,
  });
}

beforeAll(async () => {
  upstream = await startFakeAnthropic({ requireApiKey: API_KEY });
  model = anthropic();
});
afterAll(async () => {
  await model.close();
  await upstream.close();
});
beforeEach(() => {
  upstream.reset();
});

describeStreamFaults(() => ({ upstream, model, withStallMs: (stallMs) => anthropic({ stallMs }) }));

describe('AnthropicModel.stream', () => {
  it('reassembles the full text, hostile tokens included, with one usage part and the finish reason', async () => {
    upstream.setScenario({ tokenCount: 80, seed: 4 });
    const { parts, text } = await streamAll(model);
    expect(text).toBe(upstream.fullText());
    const usages = parts.filter((part) => part.type === 'usage');
    expect(usages).toEqual([{ type: 'usage', usage: { inputTokens: 1, outputTokens: 80 } }]);
    expect(parts).toContainEqual({ type: 'finish', finishReason: 'stop' });
  });

  it('sends the key and version headers, the system prompt on top and alternating turns', async () => {
    upstream.setScenario({ tokenCount: 2 });
    await streamAll(model, {
      messages: [
        { role: 'system', content: 'You are terse.' },
        { role: 'user', content: 'First question.' },
        { role: 'user', content: 'Second question.' },
        { role: 'system', content: 'Cite sources.' },
        { role: 'assistant', content: 'An answer.' },
        { role: 'user', content: 'Thanks.' },
      ],
      temperature: 0.3,
    });
    const request = upstream.requests[0]!;
    expect(request.url).toBe('/v1/messages');
    expect(request.headers['x-api-key']).toBe(API_KEY);
    expect(request.headers['anthropic-version']).toBe('2023-06-01');
    expect(request.headers.authorization).toBeUndefined();
    expect(request.body).toEqual({
      model: 'claude-test',
      max_tokens: 4096,
      system: 'You are terse.\n\nCite sources.',
      messages: [
        { role: 'user', content: 'First question.\n\nSecond question.' },
        { role: 'assistant', content: 'An answer.' },
        { role: 'user', content: 'Thanks.' },
      ],
      stream: true,
      temperature: 0.3,
    });
  });

  it('uses the request maxTokens, a configured default, version and a base URL ending in /v1', async () => {
    const configured = anthropic({ baseUrl: `${upstream.url}/v1/`, maxTokens: 1000, version: '2024-01-01' });
    upstream.setScenario({ tokenCount: 2 });
    await streamAll(configured);
    await streamAll(configured, { ...HELLO, maxTokens: 77 });
    expect(upstream.requests.map((request) => (request.body as { max_tokens: number }).max_tokens)).toEqual([
      1000, 77,
    ]);
    expect(upstream.requests[0]?.url).toBe('/v1/messages');
    expect(upstream.requests[0]?.headers['anthropic-version']).toBe('2024-01-01');
    await configured.close();
  });

  it('starts with a user turn even when the history starts with the assistant', () => {
    expect(
      toAnthropicMessages([
        { role: 'assistant', content: 'Earlier answer.' },
        { role: 'user', content: 'Go on.' },
      ]).messages.map((message) => message.role),
    ).toEqual(['user', 'assistant', 'user']);
  });

  it('maps stop reasons: max_tokens to length, tool_use to tool-calls', async () => {
    upstream.enqueue(
      { tokenCount: 2, finishReason: 'max_tokens' },
      { tokenCount: 2, finishReason: 'tool_use' },
    );
    expect((await streamAll(model)).parts).toContainEqual({ type: 'finish', finishReason: 'length' });
    expect((await streamAll(model)).parts).toContainEqual({ type: 'finish', finishReason: 'tool-calls' });
  });
});

describe('AnthropicModel errors', () => {
  it('a wrong key is UPSTREAM_AUTH_FAILED, not retryable, and the key stays out of the message', async () => {
    const wrongKey = anthropic({ apiKey: 'sk-ant-wrong' });
    const error = await failureOf(streamAll(wrongKey));
    expect(error).toMatchObject({ code: 'UPSTREAM_AUTH_FAILED', retryable: false });
    expect(error.detail).toContain('authentication_error');
    expect(error.message).not.toContain('sk-ant-wrong');
    await wrongKey.close();
  });

  it('529 overloaded and 500 are retryable UPSTREAM_UNAVAILABLE', async () => {
    upstream.enqueue({ errorStatus: 529 }, { errorStatus: 500 });
    const overloaded = await failureOf(streamAll(model));
    expect(overloaded).toMatchObject({ code: 'UPSTREAM_UNAVAILABLE', retryable: true });
    expect(overloaded.detail).toContain('overloaded_error');
    expect(await failureOf(streamAll(model))).toMatchObject({
      code: 'UPSTREAM_UNAVAILABLE',
      retryable: true,
    });
  });

  it('an error event mid-stream is coded by its type: overloaded and rate limits stay retryable', async () => {
    upstream.enqueue(
      { tokenCount: 5, streamErrorAfter: 2, streamErrorStatus: 529 },
      { tokenCount: 5, streamErrorAfter: 2, streamErrorStatus: 429 },
      { tokenCount: 5, streamErrorAfter: 0, streamErrorStatus: 400 },
    );
    expect(await failureOf(streamAll(model))).toMatchObject({
      code: 'UPSTREAM_UNAVAILABLE',
      retryable: true,
    });
    expect(await failureOf(streamAll(model))).toMatchObject({
      code: 'UPSTREAM_RATE_LIMITED',
      retryable: true,
    });
    expect(await failureOf(streamAll(model))).toMatchObject({
      code: 'UPSTREAM_BAD_REQUEST',
      retryable: false,
    });
  });

  it('a stream that ends cleanly without message_stop is UPSTREAM_DROPPED', async () => {
    const { body } = loadFixture('anthropic-messages-stream');
    const cut = body.slice(0, body.indexOf('event: message_stop'));
    upstream.setScenario({ replay: { contentType: 'text/event-stream', body: cut } });
    expect((await failureOf(streamAll(model))).code).toBe('UPSTREAM_DROPPED');
  });

  it('an event that keeps growing past the 1 MiB buffer limit is UPSTREAM_BAD_RESPONSE', async () => {
    // The parser checks what it still buffers after each chunk, so the event must outgrow 1 MiB plus one chunk.
    upstream.setScenario({ tokens: ['x'.repeat(2 * 1024 * 1024)] });
    expect((await failureOf(streamAll(model))).code).toBe('UPSTREAM_BAD_RESPONSE');
  });
});

describe('AnthropicModel.generate', () => {
  it('asks for stream:false and returns the whole text with usage', async () => {
    upstream.setScenario({ tokenCount: 30, seed: 12, finishReason: 'max_tokens' });
    const result = await model.generate(
      { messages: [{ role: 'system', content: 'Be brief.' }, ...HELLO.messages] },
      { signal: new AbortController().signal },
    );
    expect(result).toEqual({
      text: upstream.fullText(),
      usage: { inputTokens: 3, outputTokens: 30 },
      finishReason: 'length',
    });
    expect(upstream.requests[0]?.body).toMatchObject({ stream: false, system: 'Be brief.' });
  });

  it('maps errors like the streaming call', async () => {
    upstream.setScenario({ errorStatus: 529 });
    const error = await failureOf(model.generate(HELLO, { signal: new AbortController().signal }));
    expect(error).toMatchObject({ code: 'UPSTREAM_UNAVAILABLE', retryable: true });
  });
});

describe('Anthropic responses recorded from the docs', () => {
  it('parses the documented stream', async () => {
    const { scenario, expected } = loadFixture('anthropic-messages-stream');
    upstream.setScenario(scenario);
    const { parts, text } = await streamAll(model);
    expect(expected).toMatchObject({ text });
    expect(parts).toContainEqual({ type: 'usage', usage: { inputTokens: 25, outputTokens: 15 } });
    expect(parts.at(-1)).toEqual({ type: 'finish', finishReason: 'stop' });
  });

  it('parses the documented error event', async () => {
    const { scenario, expected } = loadFixture('anthropic-stream-error');
    upstream.setScenario(scenario);
    expect(expected).toEqual({ error: (await failureOf(streamAll(model))).code });
  });

  it('parses the documented non-streaming message', async () => {
    const { scenario, expected } = loadFixture('anthropic-message');
    upstream.setScenario(scenario);
    expect(await model.generate(HELLO, { signal: new AbortController().signal })).toEqual(expected);
  });
});
