// The OpenAI-compatible API driven by the official `openai` package against a real server and the fake upstream.

import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { SignJWT } from 'jose';
import OpenAI, { AuthenticationError, BadRequestError, NotFoundError } from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import type { ChatMessage } from '../../src/core/provider.ts';
import { lastEvent, readSse, tokenText } from '../helpers/sse-client.ts';
import { startTestServer, type TestServer } from '../helpers/test-server.ts';

const execFileAsync = promisify(execFile);

let server: TestServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

const clientOf = (testServer: TestServer, apiKey = 'unused-on-an-open-install'): OpenAI =>
  new OpenAI({ baseURL: `${testServer.url}/v1`, apiKey, maxRetries: 0 });

/** The extension field Rivulet adds to chunks and completions. */
interface RivuletExtension {
  rivulet?: { runId?: string; conversationId?: string; sources?: { documentId: string }[] };
}

describe('POST /v1/chat/completions, streaming', () => {
  it('streams delta.content with sources in the rivulet field, finish_reason, the usage chunk last and X-Run-Id to resume', async () => {
    server = await startTestServer({ SAMPLE_CORPUS: 'true' }, { tokenCount: 30, seed: 4 });
    const { data: stream, response } = await clientOf(server)
      .chat.completions.create({
        model: 'default',
        messages: [{ role: 'user', content: 'How do I resume a stream after a network drop?' }],
        stream: true,
        stream_options: { include_usage: true },
      })
      .withResponse();
    const chunks: (OpenAI.Chat.Completions.ChatCompletionChunk & RivuletExtension)[] = [];
    for await (const chunk of stream) chunks.push(chunk);

    const text = chunks.map((chunk) => chunk.choices[0]?.delta.content ?? '').join('');
    expect(text).toBe(server.upstream.fullText());
    expect(chunks[0]?.choices[0]?.delta.role).toBe('assistant');
    expect(
      chunks.find((chunk) => chunk.rivulet?.sources !== undefined)?.rivulet?.sources?.length,
    ).toBeGreaterThan(0);
    expect(chunks.at(-2)?.choices[0]?.finish_reason).toBe('stop');
    const last = chunks.at(-1);
    expect(last?.choices).toEqual([]);
    expect(last?.usage?.completion_tokens).toBe(30);
    expect(last?.usage?.total_tokens).toBe((last?.usage?.prompt_tokens ?? 0) + 30);

    const runId = response.headers.get('x-run-id');
    expect(runId).toMatch(/^run_/);
    expect(chunks[0]?.id).toBe(`chatcmpl-${runId}`);
    const resumed = await readSse(`${server.url}/api/runs/${runId}/events`);
    expect(tokenText(resumed.frames)).toBe(text);
    expect(lastEvent(resumed.frames)).toMatchObject({ type: 'done', finishReason: 'stop' });
  });

  it('an abort mid-stream stops paying: the upstream connection closes within 100 ms, whatever the grace', async () => {
    // The default 30 s disconnect grace does not apply: an OpenAI client that aborts means stop, as with OpenAI.
    server = await startTestServer(
      { RUN_GRACE_MS: '30000' },
      { tokenCount: 2000, interTokenMs: 10, seed: 3 },
    );
    const stream = await clientOf(server).chat.completions.create({
      model: 'default',
      messages: [{ role: 'user', content: 'talk for a long time' }],
      stream: true,
    });
    let abortedAt = 0;
    let contentChunks = 0;
    for await (const chunk of stream) {
      if (chunk.choices[0]?.delta.content !== undefined && (contentChunks += 1) === 5) {
        abortedAt = performance.now();
        stream.controller.abort();
      }
    }
    const upstream = await server.upstream.waitForClose(1, 5000);
    expect(upstream.closedBy).toBe('client');
    expect(upstream.completed).toBe(false);
    expect(upstream.closedAt! - abortedAt).toBeLessThanOrEqual(100);
    await server.app.chat.settled();
    const [conversation] = await server.app.stores.conversations.listConversations(null, { limit: 1 });
    const answer = (await server.app.stores.conversations.listMessages(conversation!.id)).at(-1);
    expect(answer).toMatchObject({ role: 'assistant', status: 'stopped' });
  });
});

describe('POST /v1/chat/completions, non-streaming', () => {
  it('answers one chat.completion, honours temperature and max_tokens, ignores unknown fields and stores the answer', async () => {
    server = await startTestServer({}, { tokenCount: 12, seed: 2 });
    const completion: OpenAI.Chat.Completions.ChatCompletion & RivuletExtension = await clientOf(
      server,
    ).chat.completions.create({
      model: 'default',
      messages: [{ role: 'user', content: [{ type: 'text', text: 'What is Rivulet?' }] }],
      temperature: 0.3,
      max_completion_tokens: 8,
      // OpenAI fields Rivulet has no use for are ignored, not refused.
      user: 'someone',
      seed: 7,
      frequency_penalty: 0.5,
    });
    const upstream = server.upstream.requests.at(-1);
    expect(upstream?.body).toMatchObject({ temperature: 0.3, max_tokens: 8 });
    expect(completion.object).toBe('chat.completion');
    expect(completion.model).toBe('default');
    expect(completion.choices[0]?.message.content).toBe(upstream?.textSent);
    expect(completion.choices[0]?.finish_reason).toBe('length');
    expect(completion.usage?.completion_tokens).toBe(8);
    const conversationId = completion.rivulet?.conversationId;
    await server.app.chat.settled();
    const messages = await server.app.stores.conversations.listMessages(conversationId!);
    expect(messages.map((message) => [message.role, message.content])).toEqual([
      ['user', 'What is Rivulet?'],
      ['assistant', upstream?.textSent],
    ]);
  });

  it("max_tokens stays within the chatbot's own maxTokens", async () => {
    server = await startTestServer({}, { tokenCount: 12, seed: 2 });
    const chatbot = await server.app.stores.chatbots.getChatbot('default');
    await server.app.stores.chatbots.putChatbot({ ...chatbot!, maxTokens: 5 });
    await clientOf(server).chat.completions.create({
      model: 'default',
      messages: [{ role: 'user', content: 'Hello' }],
      max_tokens: 500,
    });
    expect(server.upstream.requests.at(-1)?.body).toMatchObject({ max_tokens: 5 });
  });

  it('sends the earlier turns to the provider as history (and to condensing), in a new conversation of the caller', async () => {
    server = await startTestServer({}, { tokenCount: 6, seed: 8 });
    const completion: OpenAI.Chat.Completions.ChatCompletion & RivuletExtension = await clientOf(
      server,
    ).chat.completions.create({
      model: 'default',
      messages: [
        { role: 'system', content: 'You are a pirate.' },
        { role: 'user', content: 'Which plans do you sell?' },
        { role: 'assistant', content: 'Basic and Pro.' },
        { role: 'user', content: 'How much is Pro?' },
        { role: 'assistant', content: 'Twenty a month.' },
        { role: 'user', content: 'And can I cancel it?' },
      ],
    });
    const requests = server.upstream.requests;
    // QUERY_ENHANCE (on by default) first condenses the follow-up with the history, then the answer is asked for.
    expect(requests).toHaveLength(2);
    expect(JSON.stringify(requests[0]?.body)).toContain('Twenty a month.');
    const messages = (requests[1]?.body as { messages: ChatMessage[] }).messages;
    expect(messages.slice(1)).toEqual([
      { role: 'user', content: 'Which plans do you sell?' },
      { role: 'assistant', content: 'Basic and Pro.' },
      { role: 'user', content: 'How much is Pro?' },
      { role: 'assistant', content: 'Twenty a month.' },
      { role: 'user', content: 'And can I cancel it?' },
    ]);
    // The chatbot's own instructions apply, not the client's system message.
    expect(messages[0]?.role).toBe('system');
    expect(messages[0]?.content).not.toContain('pirate');
    await server.app.chat.settled();
    const stored = await server.app.stores.conversations.listMessages(completion.rivulet!.conversationId!);
    expect(stored.map((message) => message.content)).toEqual([
      'Which plans do you sell?',
      'Basic and Pro.',
      'How much is Pro?',
      'Twenty a month.',
      'And can I cancel it?',
      completion.choices[0]?.message.content,
    ]);
  });
});

describe("auth, models and errors in OpenAI's shape", () => {
  const SECRET = 'rivulet-test-secret-of-more-than-32-chars';

  it('takes an API key or a JWT as the bearer token; a refused key raises AuthenticationError', async () => {
    server = await startTestServer({ AUTH_JWT_SECRET: SECRET }, { tokenCount: 4 });
    const { token } = await server.app.stores.apiKeys.createApiKey({ name: 'ci', orgId: null, admin: false });
    const ask = (apiKey: string) =>
      clientOf(server!, apiKey).chat.completions.create({
        model: 'default',
        messages: [{ role: 'user', content: 'hello' }],
      });
    expect((await ask(token)).choices[0]?.message.content).toBe(server.upstream.fullText());
    const jwt = await new SignJWT({ sub: 'alice' })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(new TextEncoder().encode(SECRET));
    expect((await ask(jwt)).choices[0]?.message.content).toBe(server.upstream.fullText());

    const refused = await ask('rk_notakey_000').catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(AuthenticationError);
    expect(refused).toMatchObject({ status: 401, code: 'UNAUTHORIZED', type: 'authentication_error' });
    await expect(clientOf(server, 'rk_notakey_000').models.list()).rejects.toBeInstanceOf(
      AuthenticationError,
    );
  });

  it('lists the chatbots the caller may use as models; an unknown model raises NotFoundError', async () => {
    server = await startTestServer({ AUTH_JWT_SECRET: SECRET }, { tokenCount: 4 });
    await server.app.stores.chatbots.putChatbot({
      ...(await server.app.stores.chatbots.getChatbot('default'))!,
      id: 'acme-bot',
      orgId: 'acme',
    });
    const { token } = await server.app.stores.apiKeys.createApiKey({
      name: 'ci',
      orgId: 'other',
      admin: false,
    });
    const client = clientOf(server, token);
    const models = [];
    for await (const model of client.models.list()) models.push(model.id);
    expect(models).toEqual(['default']);
    expect(await client.models.retrieve('default')).toMatchObject({ id: 'default', object: 'model' });

    for (const model of ['gpt-4o', 'acme-bot']) {
      const refused = await client.chat.completions
        .create({ model, messages: [{ role: 'user', content: 'hello' }] })
        .catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(NotFoundError);
      expect(refused).toMatchObject({ status: 404, code: 'CHATBOT_NOT_FOUND' });
    }
    expect(server.upstream.requests).toHaveLength(0);
  });

  it("refuses bad input with a 400 in OpenAI's shape and our code, and starts nothing", async () => {
    server = await startTestServer({}, { tokenCount: 4 });
    const post = (body: string) =>
      fetch(`${server!.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
      });
    const cases: [string, string][] = [
      ['{"model": "default", "messages": [', 'INVALID_JSON'],
      ['{"model": "default", "messages": []}', 'VALIDATION_FAILED'],
      ['{"model": "default"}', 'VALIDATION_FAILED'],
      ['{"model": "default", "messages": [{"role": "system", "content": "be nice"}]}', 'VALIDATION_FAILED'],
      [
        '{"model": "default", "messages": [{"role": "user", "content": "hi"}], "temperature": 7}',
        'VALIDATION_FAILED',
      ],
    ];
    for (const [body, code] of cases) {
      const response = await post(body);
      expect(response.status, body).toBe(400);
      const refusal = (await response.json()) as { error: Record<string, unknown> };
      expect(refusal.error, body).toMatchObject({ type: 'invalid_request_error', code, param: null });
      expect(typeof refusal.error.message).toBe('string');
    }
    const refused = await clientOf(server)
      .chat.completions.create({ model: 'default', messages: [] })
      .catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(BadRequestError);
    expect(server.upstream.requests).toHaveLength(0);
    expect(await server.app.stores.conversations.listConversations(null)).toEqual([]);
  });
});

describe('the README openai snippet', () => {
  const EXAMPLE = path.resolve(import.meta.dirname, '../../examples/openai/chat.mjs');

  it('is examples/openai/chat.mjs as written', () => {
    const readme = readFileSync(path.resolve(import.meta.dirname, '../../README.md'), 'utf8');
    const marker = '<!-- snippet: examples/openai/chat.mjs -->';
    expect(readme).toContain(marker);
    const block = /^```js\n([\s\S]*?)^```$/m.exec(readme.slice(readme.indexOf(marker)))?.[1];
    expect(block).toBe(readFileSync(EXAMPLE, 'utf8'));
  });

  it('runs against a server and prints the answer, its usage and its sources', async () => {
    server = await startTestServer({ SAMPLE_CORPUS: 'true' }, { tokenCount: 10, seed: 6 });
    const { stdout } = await execFileAsync(process.execPath, [EXAMPLE], {
      env: { ...process.env, RIVULET_URL: server.url },
      timeout: 30_000,
    });
    expect(stdout.startsWith(`${server.upstream.fullText()}\n(`)).toBe(true);
    expect(stdout).toMatch(/ tokens\)\n\[1\] /);
  });
});
