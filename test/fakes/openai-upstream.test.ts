// Proves the fake OpenAI upstream speaks the wire format and injects each fault as documented, over real TCP.

import { request as httpRequest } from 'node:http';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { createParser } from 'eventsource-parser';
import { afterEach, describe, expect, it } from 'vitest';
import { generateTokens, startFakeUpstream, type FakeUpstream } from './openai-upstream.ts';

interface ChunkJson {
  id: string;
  object: string;
  created: number;
  model: string;
  choices: { index: number; delta: { role?: string; content?: string }; finish_reason: string | null }[];
  usage?: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
}

interface StreamRead {
  /** Raw `data` of every SSE event, in order. */
  events: string[];
  /** Set when the body broke off instead of ending. */
  error?: unknown;
}

const upstreams: FakeUpstream[] = [];

afterEach(async () => {
  await Promise.all(upstreams.splice(0).map((upstream) => upstream.close()));
});

async function start(options: Parameters<typeof startFakeUpstream>[0] = {}): Promise<FakeUpstream> {
  const upstream = await startFakeUpstream(options);
  upstreams.push(upstream);
  return upstream;
}

function chatBody(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    model: 'gpt-test',
    messages: [{ role: 'user', content: 'Tell me about rivers, please.' }],
    stream: true,
    ...extra,
  };
}

function postChat(
  upstream: FakeUpstream,
  body: unknown,
  init: { signal?: AbortSignal; headers?: Record<string, string> } = {},
): Promise<Response> {
  return fetch(`${upstream.url}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...init.headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    signal: init.signal,
  });
}

/** Reads the body to its end (or its breaking point) through a real SSE parser. */
async function readEvents(response: Response): Promise<StreamRead> {
  const events: string[] = [];
  const parser = createParser({ onEvent: (event) => events.push(event.data) });
  const body = response.body;
  if (body === null) throw new Error('response has no body');
  const reader = body.getReader();
  const decoder = new TextDecoder();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      parser.feed(decoder.decode(value, { stream: true }));
    }
  } catch (error) {
    return { events, error };
  }
  return { events };
}

function parseChunks(events: string[]): ChunkJson[] {
  return events.filter((data) => data !== '[DONE]').map((data) => JSON.parse(data) as ChunkJson);
}

function contentOf(chunks: ChunkJson[]): string {
  return chunks.map((chunk) => chunk.choices[0]?.delta.content ?? '').join('');
}

describe('generateTokens', () => {
  it('is deterministic per seed and differs between seeds', () => {
    expect(generateTokens(50, 7)).toEqual(generateTokens(50, 7));
    expect(generateTokens(50, 7)).not.toEqual(generateTokens(50, 8));
    expect(generateTokens(50, 7)).toHaveLength(50);
  });

  it('mixes mostly plain words with every kind of hostile token', () => {
    const tokens = generateTokens(400, 3);
    const text = tokens.join('');
    for (const needle of [
      '\n',
      '\r\n',
      '\r',
      '\ndata: x\n',
      '\n\n',
      'event: y',
      'id: 3',
      '😀',
      '👩‍💻',
      '漢字',
      '日本語',
      'é',
      'ñ',
      '\u2028',
    ]) {
      expect(text, JSON.stringify(needle)).toContain(needle);
    }
    expect(tokens.some((token) => token.startsWith(':'))).toBe(true);
    expect(text).toMatch(/[\u{10000}-\u{10FFFF}]/u);
    const plain = tokens.filter((token) => /^ [a-z]+$/.test(token)).length / tokens.length;
    expect(plain).toBeGreaterThan(0.6);
    expect(plain).toBeLessThan(0.8);
  });

  it('puts hostile tokens even into a short default answer', () => {
    expect(generateTokens(20, 1).some((token) => !/^ [a-z]+$/.test(token))).toBe(true);
  });
});

describe('fake OpenAI upstream', () => {
  it('streams a complete answer that reassembles to fullText()', async () => {
    const upstream = await start({ scenario: { tokenCount: 60, seed: 5 } });
    const response = await postChat(upstream, chatBody());
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/event-stream');

    const { events, error } = await readEvents(response);
    expect(error).toBeUndefined();
    expect(events.at(-1)).toBe('[DONE]');
    const chunks = parseChunks(events);
    // Role chunk, 60 tokens, finish chunk, and no usage chunk because it was not asked for.
    expect(chunks).toHaveLength(62);
    expect(chunks[0]?.choices[0]?.delta).toEqual({ role: 'assistant', content: '' });
    for (const chunk of chunks) {
      expect(chunk.object).toBe('chat.completion.chunk');
      expect(chunk.model).toBe('gpt-test');
      expect(chunk.id).toBe('chatcmpl-1');
      expect(chunk.usage).toBeUndefined();
    }
    expect(chunks.at(-1)?.choices[0]).toEqual({ index: 0, delta: {}, finish_reason: 'stop' });
    expect(contentOf(chunks)).toBe(upstream.fullText());
    expect(upstream.fullText()).toBe(generateTokens(60, 5).join(''));

    const log = await upstream.waitForClose(1);
    expect(log).toMatchObject({ completed: true, closedBy: 'server', tokensSent: 60 });
    expect(log.textSent).toBe(upstream.fullText());
    expect(log.body).toMatchObject({ model: 'gpt-test', stream: true });
    expect(log.firstTokenAt).toBeGreaterThanOrEqual(log.startedAt);
  });

  it('sends the usage chunk only when stream_options.include_usage is set', async () => {
    const upstream = await start({ scenario: { tokens: ['a', 'b', 'c'] } });

    const withUsage = parseChunks(
      (await readEvents(await postChat(upstream, chatBody({ stream_options: { include_usage: true } }))))
        .events,
    );
    const usageChunk = withUsage.at(-1);
    expect(usageChunk?.choices).toEqual([]);
    // 'Tell me about rivers, please.' is 29 characters: about 8 tokens.
    expect(usageChunk?.usage).toEqual({ prompt_tokens: 8, completion_tokens: 3, total_tokens: 11 });
    expect(withUsage.filter((chunk) => chunk.usage !== undefined)).toHaveLength(1);

    const without = parseChunks((await readEvents(await postChat(upstream, chatBody()))).events);
    expect(without.some((chunk) => chunk.usage !== undefined)).toBe(false);

    upstream.setScenario({ tokens: ['x'], usage: { promptTokens: 100, completionTokens: 7 } });
    const explicit = parseChunks(
      (await readEvents(await postChat(upstream, chatBody({ stream_options: { include_usage: true } }))))
        .events,
    );
    expect(explicit.at(-1)?.usage).toEqual({ prompt_tokens: 100, completion_tokens: 7, total_tokens: 107 });
  });

  it('answers 429 with Retry-After and an OpenAI error body before any token', async () => {
    const upstream = await start({ scenario: { errorStatus: 429, retryAfterSeconds: 3 } });
    const response = await postChat(upstream, chatBody());
    expect(response.status).toBe(429);
    expect(response.headers.get('retry-after')).toBe('3');
    expect(await response.json()).toEqual({
      error: {
        message: expect.any(String) as unknown,
        type: 'rate_limit_error',
        param: null,
        code: 'rate_limit_exceeded',
      },
    });
    const log = await upstream.waitForClose(1);
    expect(log).toMatchObject({ tokensSent: 0, completed: false, closedBy: 'server' });
  });

  it('answers 500 as server_error and an unparseable body as 400', async () => {
    const upstream = await start();
    upstream.enqueue({ errorStatus: 500 });
    const failed = await postChat(upstream, chatBody());
    expect(failed.status).toBe(500);
    expect(failed.headers.get('retry-after')).toBeNull();
    expect(((await failed.json()) as { error: { type: string } }).error.type).toBe('server_error');

    const invalid = await postChat(upstream, '{"model": "gpt-test", "messages": [');
    expect(invalid.status).toBe(400);
    expect(((await invalid.json()) as { error: { type: string } }).error.type).toBe('invalid_request_error');
  });

  it('uses queued scenarios first-in first-out, then the default', async () => {
    const upstream = await start({ scenario: { tokens: ['default'] } });
    upstream.enqueue({ tokens: ['first'] }, { tokens: ['second'] });
    const texts: string[] = [];
    for (let index = 0; index < 3; index += 1) {
      texts.push(contentOf(parseChunks((await readEvents(await postChat(upstream, chatBody()))).events)));
    }
    expect(texts).toEqual(['first', 'second', 'default']);
    expect(upstream.requests.map((log) => log.id)).toEqual([1, 2, 3]);

    upstream.reset();
    expect(upstream.requests).toHaveLength(0);
    await readEvents(await postChat(upstream, chatBody()));
    expect((await upstream.waitForClose(1)).textSent).toBe('default');
  });

  it('drops the connection after exactly N tokens, without a finish chunk or [DONE]', async () => {
    const tokens = ['one', ' two', ' three', ' four', ' five'];
    const upstream = await start({ scenario: { tokens, dropAfter: 3 } });
    const { events, error } = await readEvents(await postChat(upstream, chatBody()));
    expect(error).toBeDefined();
    expect(events).not.toContain('[DONE]');
    const chunks = parseChunks(events);
    expect(contentOf(chunks)).toBe('one two three');
    expect(chunks.some((chunk) => chunk.choices[0]?.finish_reason !== null)).toBe(false);

    const log = await upstream.waitForClose(1);
    expect(log).toMatchObject({
      tokensSent: 3,
      textSent: 'one two three',
      completed: false,
      closedBy: 'server',
    });
  });

  it('stalls after N tokens with the connection open, until the client gives up', async () => {
    const upstream = await start({ scenario: { tokenCount: 10, stallAfter: 2 } });
    const controller = new AbortController();
    const response = await postChat(upstream, chatBody(), { signal: controller.signal });
    const body = response.body;
    if (body === null) throw new Error('response has no body');
    const reader = body.getReader();
    const decoder = new TextDecoder();
    const events: string[] = [];
    const parser = createParser({ onEvent: (event) => events.push(event.data) });
    // Role chunk plus two tokens.
    while (events.length < 3) {
      const { done, value } = await reader.read();
      if (done) throw new Error('stream ended early');
      parser.feed(decoder.decode(value, { stream: true }));
    }

    const pending = reader.read();
    pending.catch(() => undefined);
    const outcome = await Promise.race([pending.then(() => 'data' as const), sleep(300, 'silence' as const)]);
    expect(outcome).toBe('silence');
    expect(upstream.requests[0]?.closedAt).toBeUndefined();

    const abortedAt = performance.now();
    controller.abort();
    await expect(pending).rejects.toThrow();
    const log = await upstream.waitForClose(1);
    expect(log).toMatchObject({ tokensSent: 2, completed: false, closedBy: 'client' });
    expect(log.closedAt).toBeGreaterThanOrEqual(abortedAt);
    expect(log.textSent).toBe(generateTokens(10, 1).slice(0, 2).join(''));
  });

  it('sends one malformed data line after N tokens, then carries on', async () => {
    const tokens = ['alpha', ' beta', ' gamma'];
    const upstream = await start({ scenario: { tokens, malformedAfter: 1 } });
    const { events, error } = await readEvents(await postChat(upstream, chatBody()));
    expect(error).toBeUndefined();
    expect(events.filter((data) => data === '{not json')).toHaveLength(1);
    // Role chunk, first token, then the malformed event.
    expect(events[2]).toBe('{not json');
    const wellFormed = events.filter((data) => data !== '{not json');
    expect(contentOf(parseChunks(wellFormed))).toBe('alpha beta gamma');
    expect(events.at(-1)).toBe('[DONE]');
    expect((await upstream.waitForClose(1)).completed).toBe(true);
  });

  it('splits multi-byte characters across separate reads when asked', async () => {
    const tokens = [' héllo', ' 😀', ' 漢字', ' plain', ' 👩‍💻'];
    const upstream = await start({ scenario: { tokens, splitMultibyte: true } });
    const rawChunks = await new Promise<Buffer[]>((resolve, reject) => {
      const url = new URL(`${upstream.url}/chat/completions`);
      const outgoing = httpRequest(
        url,
        { method: 'POST', headers: { 'content-type': 'application/json' } },
        (incoming) => {
          const chunks: Buffer[] = [];
          incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
          incoming.on('end', () => resolve(chunks));
          incoming.on('error', reject);
        },
      );
      outgoing.on('error', reject);
      outgoing.end(JSON.stringify(chatBody()));
    });

    const decodedSeparately = rawChunks.map((chunk) => chunk.toString('utf8')).join('');
    expect(decodedSeparately).toContain('\uFFFD');
    const whole = Buffer.concat(rawChunks).toString('utf8');
    expect(whole).not.toContain('\uFFFD');

    const events: string[] = [];
    const parser = createParser({ onEvent: (event) => events.push(event.data) });
    parser.feed(whole);
    expect(contentOf(parseChunks(events))).toBe(tokens.join(''));
    expect((await upstream.waitForClose(1)).completed).toBe(true);
  });

  it('logs a client abort mid-stream as closed by the client, and stops writing', async () => {
    const upstream = await start({ scenario: { tokenCount: 1000, interTokenMs: 10 } });
    const controller = new AbortController();
    const response = await postChat(upstream, chatBody(), { signal: controller.signal });
    const body = response.body;
    if (body === null) throw new Error('response has no body');
    const reader = body.getReader();
    await reader.read();
    await sleep(50);
    const abortedAt = performance.now();
    controller.abort();
    await expect(reader.read()).rejects.toThrow();

    const log = await upstream.waitForClose(1);
    expect(log.closedBy).toBe('client');
    expect(log.completed).toBe(false);
    expect(log.closedAt).toBeGreaterThanOrEqual(abortedAt);
    expect((log.closedAt ?? Infinity) - abortedAt).toBeLessThan(500);
    const sentAtClose = log.tokensSent;
    expect(sentAtClose).toBeGreaterThan(0);
    expect(sentAtClose).toBeLessThan(1000);
    await sleep(100);
    expect(log.tokensSent).toBe(sentAtClose);
  });

  it('delays the headers by headersDelayMs and the first token by ttftMs after them', async () => {
    const upstream = await start({ scenario: { tokens: ['late'], headersDelayMs: 100, ttftMs: 150 } });
    const requestedAt = performance.now();
    const response = await postChat(upstream, chatBody());
    const headersAt = performance.now();
    const { events } = await readEvents(response);
    const log = await upstream.waitForClose(1);
    expect(events.at(-1)).toBe('[DONE]');
    expect(headersAt - requestedAt).toBeGreaterThanOrEqual(95);
    expect(headersAt - requestedAt).toBeLessThan(240);
    expect((log.firstTokenAt ?? 0) - log.startedAt).toBeGreaterThanOrEqual(245);
  });

  it('answers without streaming as one chat.completion object', async () => {
    const upstream = await start({ scenario: { tokens: ['Hello', ',', ' world'], finishReason: 'length' } });
    const response = await postChat(upstream, chatBody({ stream: false }));
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/json');
    expect(await response.json()).toMatchObject({
      id: 'chatcmpl-1',
      object: 'chat.completion',
      model: 'gpt-test',
      choices: [
        { index: 0, message: { role: 'assistant', content: 'Hello, world' }, finish_reason: 'length' },
      ],
      usage: { prompt_tokens: 8, completion_tokens: 3, total_tokens: 11 },
    });
    expect(await upstream.waitForClose(1)).toMatchObject({
      completed: true,
      closedBy: 'server',
      tokensSent: 3,
    });
  });

  it('lists a model at GET /v1/models', async () => {
    const upstream = await start();
    const response = await fetch(`${upstream.url}/models`);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ object: 'list', data: [{ object: 'model' }] });
    expect(upstream.requests).toHaveLength(0);
  });

  it('rejects a missing or wrong API key with 401 when one is required', async () => {
    const upstream = await start({ requireApiKey: 'sk-fake', scenario: { tokens: ['ok'] } });
    const missing = await postChat(upstream, chatBody());
    expect(missing.status).toBe(401);
    expect(await missing.json()).toMatchObject({ error: { code: 'invalid_api_key', param: null } });

    const wrong = await postChat(upstream, chatBody(), { headers: { authorization: 'Bearer sk-other' } });
    expect(wrong.status).toBe(401);
    await wrong.body?.cancel();

    const right = await postChat(upstream, chatBody(), { headers: { authorization: 'Bearer sk-fake' } });
    expect(right.status).toBe(200);
    expect(contentOf(parseChunks((await readEvents(right)).events))).toBe('ok');
    expect((await upstream.waitForRequest(3)).headers.authorization).toBe('Bearer sk-fake');
  });

  it('closes promptly while a stalled stream is still open', async () => {
    const upstream = await start({ scenario: { tokenCount: 5, stallAfter: 1 } });
    const response = await postChat(upstream, chatBody());
    const reading = readEvents(response);
    await upstream.waitForRequest(1);
    await sleep(50);

    const closingAt = performance.now();
    await upstream.close();
    expect(performance.now() - closingAt).toBeLessThan(1000);
    const { events, error } = await reading;
    expect(error).toBeDefined();
    expect(events).not.toContain('[DONE]');
    expect((await upstream.waitForClose(1, 100)).closedBy).toBe('server');
  });
});
