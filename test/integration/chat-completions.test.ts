// The OpenAI-compatible adapter driven over real TCP against the fake upstream.

import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { RivuletError } from '../../src/core/errors.ts';
import type { StreamPart } from '../../src/core/provider.ts';
import { ChatCompletionsModel } from '../../src/providers/openai/chat-completions.ts';
import {
  azureAIInferenceEndpoint,
  azureOpenAIEndpoint,
  openAICompatibleEndpoint,
} from '../../src/providers/openai/chat-completions-endpoints.ts';
import { startFakeUpstream, type FakeUpstream } from '../fakes/openai-upstream.ts';

let upstream: FakeUpstream;
let model: ChatCompletionsModel;

beforeAll(async () => {
  upstream = await startFakeUpstream({ requireApiKey: 'sk-test-secret' });
  model = new ChatCompletionsModel(
    openAICompatibleEndpoint({
      baseUrl: `${upstream.url}/`,
      apiKey: 'sk-test-secret',
      model: 'm1',
      stallMs: 500,
    }),
  );
});
afterAll(async () => {
  await model.close();
  await upstream.close();
});
beforeEach(() => {
  upstream.reset();
});

async function collect(signal = new AbortController().signal): Promise<StreamPart[]> {
  const parts: StreamPart[] = [];
  await model.stream(
    { messages: [{ role: 'user', content: 'hi' }], maxTokens: 50 },
    { signal, onPart: (part) => parts.push(part) },
  );
  return parts;
}

describe('ChatCompletionsModel (OpenAI-compatible)', () => {
  it('streams text deltas, the finish reason and usage, sending the key and options', async () => {
    upstream.setScenario({ tokenCount: 12, seed: 2 });
    const parts = await collect();
    const text = parts.flatMap((part) => (part.type === 'text-delta' ? [part.text] : [])).join('');
    expect(text).toBe(upstream.fullText());
    expect(parts).toContainEqual({ type: 'finish', finishReason: 'stop' });
    expect(parts.at(-1)).toMatchObject({ type: 'usage', usage: { outputTokens: 12 } });
    const request = upstream.requests[0]!;
    expect(request.headers.authorization).toBe('Bearer sk-test-secret');
    expect(request.body).toMatchObject({ model: 'm1', max_tokens: 50, stream: true });
  });

  it('maps finish reasons such as length', async () => {
    upstream.setScenario({ tokenCount: 3, finishReason: 'length' });
    expect(await collect()).toContainEqual({ type: 'finish', finishReason: 'length' });
  });

  it('carries Retry-After on a 429 and keeps the upstream body out of the user message', async () => {
    upstream.setScenario({ errorStatus: 429, retryAfterSeconds: 7 });
    const error = (await collect().catch((caught: unknown) => caught)) as RivuletError;
    expect(error).toBeInstanceOf(RivuletError);
    expect(error.code).toBe('UPSTREAM_RATE_LIMITED');
    expect(error.retryable).toBe(true);
    expect(error.retryAfterMs).toBe(7000);
    expect(error.detail).toMatch(/429/);
    expect(error.message).not.toMatch(/rate_limit_exceeded/);
  });

  it('closes the upstream connection at once when the signal aborts mid-stream', async () => {
    upstream.setScenario({ tokenCount: 1000, interTokenMs: 10 });
    const controller = new AbortController();
    let abortedAt = 0;
    const parts: StreamPart[] = [];
    const streaming = model.stream(
      { messages: [{ role: 'user', content: 'hi' }] },
      {
        signal: controller.signal,
        onPart: (part) => {
          parts.push(part);
          if (parts.length === 5) {
            abortedAt = performance.now();
            controller.abort(new Error('user stopped'));
          }
        },
      },
    );
    await expect(streaming).rejects.toThrow('user stopped');
    const log = await upstream.waitForClose(1);
    expect(log.closedBy).toBe('client');
    expect(log.closedAt! - abortedAt).toBeLessThan(100);
  });

  it('rejects an already aborted signal without reaching the upstream', async () => {
    const controller = new AbortController();
    controller.abort(new Error('too late'));
    await expect(collect(controller.signal)).rejects.toThrow('too late');
    expect(upstream.requests).toHaveLength(0);
  });

  it('fails with UPSTREAM_AUTH_FAILED when the key is wrong', async () => {
    const wrongKey = new ChatCompletionsModel(
      openAICompatibleEndpoint({
        baseUrl: upstream.url,
        apiKey: 'sk-wrong',
        model: 'm1',
        stallMs: 500,
      }),
    );
    const error = (await wrongKey
      .stream(
        { messages: [{ role: 'user', content: 'hi' }] },
        { signal: new AbortController().signal, onPart: () => undefined },
      )
      .catch((caught: unknown) => caught)) as RivuletError;
    expect(error.code).toBe('UPSTREAM_AUTH_FAILED');
    expect(error.message).not.toContain('sk-wrong');
    await wrongKey.close();
  });
});

describe('ChatCompletionsModel.generate (non-streaming)', () => {
  it('returns the whole text with usage and finish reason', async () => {
    upstream.setScenario({ tokenCount: 9, seed: 6 });
    const result = await model.generate(
      { messages: [{ role: 'user', content: 'hi' }] },
      { signal: new AbortController().signal },
    );
    expect(result).toEqual({
      text: upstream.fullText(),
      usage: { inputTokens: expect.any(Number) as number, outputTokens: 9 },
      finishReason: 'stop',
    });
    expect(upstream.requests[0]?.body).toMatchObject({ stream: false, model: 'm1' });
  });

  it('maps errors and aborts like the streaming call', async () => {
    upstream.setScenario({ errorStatus: 500 });
    const error = (await model
      .generate({ messages: [{ role: 'user', content: 'hi' }] }, { signal: new AbortController().signal })
      .catch((caught: unknown) => caught)) as RivuletError;
    expect(error.code).toBe('UPSTREAM_UNAVAILABLE');

    upstream.setScenario({ tokenCount: 50, interTokenMs: 20 });
    const controller = new AbortController();
    const pending = model.generate(
      { messages: [{ role: 'user', content: 'hi' }] },
      { signal: controller.signal },
    );
    await upstream.waitForRequest(2);
    controller.abort(new Error('stopped'));
    await expect(pending).rejects.toThrow('stopped');
    expect((await upstream.waitForClose(2)).closedBy).toBe('client');
  });
});

describe('Azure endpoints', () => {
  it('Azure OpenAI: deployment URL, api-version, api-key header, no model in the body', async () => {
    upstream.setScenario({ tokenCount: 5, seed: 8 });
    const azure = new ChatCompletionsModel(
      azureOpenAIEndpoint({
        endpoint: `${upstream.url.replace(/\/v1$/, '')}/`,
        apiKey: 'sk-test-secret',
        deployment: 'gpt-4o prod',
        stallMs: 500,
      }),
    );
    const parts: StreamPart[] = [];
    await azure.stream(
      { messages: [{ role: 'user', content: 'hi' }] },
      { signal: new AbortController().signal, onPart: (part) => parts.push(part) },
    );
    const request = upstream.requests[0]!;
    expect(request.url).toBe('/openai/deployments/gpt-4o%20prod/chat/completions?api-version=2024-10-21');
    expect(request.headers['api-key']).toBe('sk-test-secret');
    expect(request.headers.authorization).toBeUndefined();
    expect(request.body).not.toHaveProperty('model');
    expect(parts.flatMap((part) => (part.type === 'text-delta' ? [part.text] : [])).join('')).toBe(
      upstream.fullText(),
    );
    expect(azure.provider).toBe('azure-openai');
    await azure.close();
  });

  it('Azure AI model inference (Meta Llama): /models/chat/completions with the model in the body', async () => {
    upstream.setScenario({ tokenCount: 5, seed: 9 });
    const llama = new ChatCompletionsModel(
      azureAIInferenceEndpoint({
        endpoint: upstream.url.replace(/\/v1$/, ''),
        apiKey: 'sk-test-secret',
        model: 'Meta-Llama-3.1-70B-Instruct',
        stallMs: 500,
      }),
    );
    const result = await llama.generate(
      { messages: [{ role: 'user', content: 'hi' }] },
      { signal: new AbortController().signal },
    );
    const request = upstream.requests[0]!;
    expect(request.url).toBe('/models/chat/completions?api-version=2024-05-01-preview');
    expect(request.headers['api-key']).toBe('sk-test-secret');
    expect(request.body).toMatchObject({ model: 'Meta-Llama-3.1-70B-Instruct', stream: false });
    expect(result.text).toBe(upstream.fullText());
    await llama.close();
  });
});

describe('ChatCompletionsModel edge cases from odd servers', () => {
  /** A one-off server whose handler writes exactly what a test needs. */
  async function withServer(
    handler: (response: ServerResponse) => void,
    test: (baseUrl: string) => Promise<void>,
  ): Promise<void> {
    const httpServer = createServer((_request, response) => handler(response));
    await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
    const { port } = httpServer.address() as AddressInfo;
    try {
      await test(`http://127.0.0.1:${port}/v1`);
    } finally {
      httpServer.closeAllConnections();
      await new Promise((resolve) => httpServer.close(resolve));
    }
  }
  const chunk = (content: string, extra = '') =>
    `data: {"choices":[{"index":0,"delta":{"content":${JSON.stringify(content)}},"finish_reason":null}]${extra}}\n\n`;
  /** Streams from the odd server; `elapsedMs` is when the answer resolved, before the connection pool closes. */
  const run = async (baseUrl: string) => {
    const odd = new ChatCompletionsModel(openAICompatibleEndpoint({ baseUrl, model: 'm', stallMs: 2000 }));
    const parts: StreamPart[] = [];
    const startedAt = performance.now();
    try {
      await odd.stream(
        { messages: [{ role: 'user', content: 'hi' }] },
        { signal: new AbortController().signal, onPart: (part) => parts.push(part) },
      );
      return { parts, elapsedMs: performance.now() - startedAt };
    } finally {
      await odd.close();
    }
  };

  it('a 200 that is an HTML page, not a stream, is UPSTREAM_BAD_RESPONSE', async () => {
    await withServer(
      (response) => {
        response.writeHead(200, { 'content-type': 'text/html' });
        response.end('<html><body>Gateway says hello</body></html>');
      },
      async (baseUrl) => {
        await expect(run(baseUrl)).rejects.toMatchObject({ code: 'UPSTREAM_BAD_RESPONSE' });
      },
    );
  });

  it('"error": null in a chunk is not an error, and [DONE] completes even if the server keeps the response open', async () => {
    await withServer(
      (response) => {
        response.writeHead(200, { 'content-type': 'text/event-stream' });
        response.write(chunk('Hello', ',"error":null'));
        response.write(chunk(' world'));
        // [DONE] but never end(): the answer is still complete.
        response.write('data: [DONE]\n\n');
      },
      async (baseUrl) => {
        const { parts, elapsedMs } = await run(baseUrl);
        // Well before the 2 s stall timeout that would otherwise end the response.
        expect(elapsedMs).toBeLessThan(1000);
        expect(parts.flatMap((part) => (part.type === 'text-delta' ? [part.text] : [])).join('')).toBe(
          'Hello world',
        );
      },
    );
  });

  it('an in-stream error object is a coded, retryable failure', async () => {
    await withServer(
      (response) => {
        response.writeHead(200, { 'content-type': 'text/event-stream' });
        response.write(chunk('Half'));
        response.end(
          'data: {"error":{"message":"The server had an error while processing your request.","type":"server_error"}}\n\n',
        );
      },
      async (baseUrl) => {
        await expect(run(baseUrl)).rejects.toMatchObject({ code: 'UPSTREAM_UNAVAILABLE', retryable: true });
      },
    );
  });
});
