// The AI SDK's own DefaultChatTransport against a running Rivulet: POST /api/chat/ui, resume and stop.

import { DefaultChatTransport, readUIMessageStream, type UIMessage, type UIMessageChunk } from 'ai';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { call, expectRefusal } from '../helpers/http.ts';
import { signTestJwt } from '../helpers/jwt.ts';
import { REFUNDS } from '../helpers/refund-corpus.ts';
import { startTestServer, type TestServer } from '../helpers/test-server.ts';
import { createStoredThenFails } from '../helpers/store-faults.ts';

const SECRET = 'ui-chat-test-secret-of-at-least-32-bytes';
/** Slow enough that an abort after a few tokens lands mid-answer (about 3 s in all), fast enough for a test. */
const slowAnswer = { tokenCount: 150, interTokenMs: 20, seed: 11 };

let server: TestServer;
let alice: Record<string, string>;
let bob: Record<string, string>;

beforeAll(async () => {
  server = await startTestServer(
    // Every answer is generated: a cached replay would not stream slowly enough to be cut mid-way.
    { AUTH_JWT_SECRET: SECRET, ANSWER_CACHE: 'false' },
    { tokenCount: 12, seed: 4 },
  );
  alice = { authorization: `Bearer ${await signTestJwt(SECRET, 'alice')}` };
  bob = { authorization: `Bearer ${await signTestJwt(SECRET, 'bob')}` };
  const form = new FormData();
  form.append('file', new Blob([REFUNDS]), 'refunds.md');
  const admin = { authorization: `Bearer ${await signTestJwt(SECRET, 'ops', { roles: ['admin'] })}` };
  const upload = await fetch(`${server.url}/api/documents`, { method: 'POST', body: form, headers: admin });
  expect(upload.status).toBe(200);
});

afterAll(async () => {
  await server.close();
});

beforeEach(() => {
  server.upstream.reset();
});

let chatCounter = 0;
const newChatId = (): string => `chat${Date.now().toString(36)}x${(chatCounter += 1)}`;

function transport(headers: Record<string, string>): DefaultChatTransport<UIMessage> {
  return new DefaultChatTransport({ api: `${server.url}/api/chat/ui`, headers });
}

function question(text: string): UIMessage {
  return { id: `u${(chatCounter += 1)}`, role: 'user', parts: [{ type: 'text', text }] };
}

function send(
  headers: Record<string, string>,
  chatId: string,
  messages: UIMessage[],
  abortSignal?: AbortSignal,
): Promise<ReadableStream<UIMessageChunk>> {
  return transport(headers).sendMessages({
    chatId,
    messages,
    trigger: 'submit-message',
    messageId: undefined,
    abortSignal,
  });
}

/** Folds chunks into the assistant message, as useChat does. */
async function fold(
  stream: ReadableStream<UIMessageChunk>,
): Promise<{ message?: UIMessage; errors: string[] }> {
  const errors: string[] = [];
  let message: UIMessage | undefined;
  for await (const state of readUIMessageStream({
    stream,
    onError: (error) => errors.push(error instanceof Error ? error.message : String(error)),
  })) {
    message = state;
  }
  return { ...(message === undefined ? {} : { message }), errors };
}

const textOf = (message: UIMessage | undefined): string =>
  (message?.parts ?? []).map((part) => (part.type === 'text' ? part.text : '')).join('');

describe('POST /api/chat/ui with the AI SDK DefaultChatTransport', () => {
  it('streams the answer with its sources, phases and run metadata, under the SDK header', async () => {
    const chatId = newChatId();
    const response = await fetch(`${server.url}/api/chat/ui`, {
      method: 'POST',
      headers: { ...alice, 'content-type': 'application/json' },
      body: JSON.stringify({
        id: chatId,
        messages: [question('When are refunds issued?')],
        trigger: 'submit-message',
      }),
    });
    expect(response.headers.get('x-vercel-ai-ui-message-stream')).toBe('v1');
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(response.headers.get('x-run-id')).toMatch(/^run_/);
    await response.text();

    const { message, errors } = await fold(
      await send(alice, newChatId(), [question('When are refunds issued?')]),
    );
    expect(errors).toEqual([]);
    expect(textOf(message)).toBe(server.upstream.fullText());
    const sources = message?.parts.filter((part) => part.type === 'source-document') ?? [];
    expect(sources.length).toBeGreaterThan(0);
    expect(sources[0]).toMatchObject({
      sourceId: '1',
      mediaType: 'text/markdown',
      filename: 'refunds.md',
      title: expect.stringContaining('Refund policy') as string,
    });
    const phases = (message?.parts ?? []).flatMap((part) => (part.type === 'data-phase' ? [part.id] : []));
    expect(phases).toEqual(['phase-history', 'phase-retrieve', 'phase-generate']);
    expect(message?.parts.find((part) => part.type === 'data-match')).toMatchObject({
      data: { quality: 'strong' },
    });
    expect(message?.metadata).toMatchObject({
      runId: expect.stringMatching(/^run_/) as string,
      finishReason: 'stop',
    });
  });

  it('keeps a chat as one conversation owned by the caller: the next question has the history', async () => {
    const chatId = newChatId();
    await fold(await send(alice, chatId, [question('When are refunds issued?')]));
    const first = server.upstream.fullText();
    const { message } = await fold(
      await send(alice, chatId, [
        question('When are refunds issued?'),
        { id: 'a1', role: 'assistant', parts: [{ type: 'text', text: first }] },
        question('And gift cards?'),
      ]),
    );
    expect(textOf(message)).toBe(first);
    const stored = await call(server, `/api/conversations/${chatId}/messages`, { headers: alice });
    expect(stored.status).toBe(200);
    const messages = stored.body.messages as { role: string; content: string }[];
    expect(messages.map((entry) => [entry.role, entry.content])).toEqual([
      ['user', 'When are refunds issued?'],
      ['assistant', first],
      ['user', 'And gift cards?'],
      ['assistant', first],
    ]);
    // The provider got the first turn as history, from Rivulet's own store.
    const sent = JSON.stringify(server.upstream.requests.at(-1)?.body);
    expect(sent).toContain('When are refunds issued?');
  });

  it('refuses another principal’s chat id with CONVERSATION_NOT_FOUND, on send, resume and stop', async () => {
    const chatId = newChatId();
    await fold(await send(alice, chatId, [question('When are refunds issued?')]));
    await expect(send(bob, chatId, [question('Mine now?')])).rejects.toThrow(/CONVERSATION_NOT_FOUND/);
    expectRefusal(
      await call(server, `/api/chat/ui/${chatId}/stream`, { headers: bob }),
      404,
      'CONVERSATION_NOT_FOUND',
    );
    expectRefusal(
      await call(server, `/api/chat/ui/${chatId}/stop`, { method: 'POST', headers: bob }),
      404,
      'CONVERSATION_NOT_FOUND',
    );
    expectRefusal(
      await call(server, '/api/chat/ui', { json: { id: chatId, messages: [question('x')] } }),
      401,
      'UNAUTHORIZED',
    );
  });

  it('stores the first question once when creating the chat reported an error after it was stored', async () => {
    const conversations = server.app.stores.conversations;
    const creates = createStoredThenFails(conversations);
    try {
      const chatId = newChatId();
      const { message, errors } = await fold(
        await send(alice, chatId, [question('When are refunds issued?')]),
      );
      expect(errors).toEqual([]);
      expect(textOf(message)).toBe(server.upstream.fullText());
      const stored = await conversations.listMessages(chatId);
      expect(stored.map((entry) => [entry.role, entry.status])).toEqual([
        ['user', undefined],
        ['assistant', 'complete'],
      ]);
    } finally {
      creates.mockRestore();
    }
  });

  it('answers two first messages of one chat at once in the one conversation the first created', async () => {
    const conversations = server.app.stores.conversations;
    const chatId = newChatId();
    await fold(await send(alice, chatId, [question('When are refunds issued?')]));
    // The second request looked before the first created the chat: its own create finds the id taken.
    const gets = vi.spyOn(conversations, 'getConversation').mockResolvedValueOnce(undefined);
    try {
      const { message, errors } = await fold(await send(alice, chatId, [question('And gift cards?')]));
      expect(errors).toEqual([]);
      expect(textOf(message)).toBe(server.upstream.fullText());
    } finally {
      gets.mockRestore();
    }
    const stored = await conversations.listMessages(chatId);
    expect(
      stored.map((entry) => [entry.role, entry.status, entry.role === 'user' ? entry.content : '']),
    ).toEqual([
      ['user', undefined, 'When are refunds issued?'],
      ['assistant', 'complete', ''],
      ['user', undefined, 'And gift cards?'],
      ['assistant', 'complete', ''],
    ]);
  });

  it('ends a failed answer with an error chunk carrying our code, which useChat raises', async () => {
    server.upstream.setScenario({ tokenCount: 30, streamErrorAfter: 3, streamErrorStatus: 400 });
    const { message, errors } = await fold(
      await send(alice, newChatId(), [question('When are refunds issued?')]),
    );
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/^UPSTREAM_[A-Z_]+: /);
    expect(textOf(message).length).toBeGreaterThan(0);
  });

  it('refuses a body whose last message is not the user’s, and a chat id of dots', async () => {
    const body = {
      id: newChatId(),
      messages: [{ id: 'a', role: 'assistant', parts: [{ type: 'text', text: 'hi' }] }],
    };
    expectRefusal(
      await call(server, '/api/chat/ui', { json: body, headers: alice }),
      400,
      'VALIDATION_FAILED',
    );
    expectRefusal(
      await call(server, '/api/chat/ui', { json: { id: '..', messages: [question('x')] }, headers: alice }),
      400,
      'VALIDATION_FAILED',
    );
  });

  it('after an abort mid-answer, reconnectToStream gives the whole text, nothing lost or repeated', async () => {
    server.upstream.setScenario(slowAnswer);
    const chatId = newChatId();
    const controller = new AbortController();
    const stream = await send(alice, chatId, [question('When are refunds issued?')], controller.signal);
    const reader = stream.getReader();
    let before = '';
    let deltas = 0;
    while (deltas < 10) {
      const { value, done } = await reader.read();
      if (done) throw new Error('the answer ended before the abort');
      if (value.type === 'text-delta') {
        before += value.delta;
        deltas += 1;
      }
    }
    controller.abort();
    await reader.cancel().catch(() => undefined);

    const resumed = await transport(alice).reconnectToStream({ chatId });
    expect(resumed).not.toBeNull();
    const { message, errors } = await fold(resumed!);
    expect(errors).toEqual([]);
    const whole = server.upstream.fullText(slowAnswer);
    expect(textOf(message)).toBe(whole);
    expect(whole.startsWith(before)).toBe(true);
    expect(before.length).toBeLessThan(whole.length);
    // The disconnect did not stop the answer: it was generated once, to the end.
    expect(
      server.upstream.requests.filter((request) => request.url.includes('chat/completions')),
    ).toHaveLength(1);
    const upstream = await server.upstream.waitForClose(1);
    expect(upstream.completed).toBe(true);

    // Once the answer ended there is nothing to resume: 204, which the transport reads as null.
    await server.app.chat.settled();
    expect(await transport(alice).reconnectToStream({ chatId })).toBeNull();
  });

  it('returns null from reconnectToStream for a chat that is not known yet and after an answer ended', async () => {
    expect(await transport(alice).reconnectToStream({ chatId: newChatId() })).toBeNull();
    const chatId = newChatId();
    await fold(await send(alice, chatId, [question('When are refunds issued?')]));
    await server.app.chat.settled();
    expect(await transport(alice).reconnectToStream({ chatId })).toBeNull();
  });

  it('stops the answer with POST /api/chat/ui/:chatId/stop: upstream closed, the stream ends with abort', async () => {
    server.upstream.setScenario(slowAnswer);
    const chatId = newChatId();
    const stream = await send(alice, chatId, [question('When are refunds issued?')]);
    const chunks: UIMessageChunk[] = [];
    const reader = stream.getReader();
    let deltas = 0;
    let stopped: Promise<unknown> | undefined;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      chunks.push(value);
      if (value.type === 'text-delta' && (deltas += 1) === 5) {
        stopped = call(server, `/api/chat/ui/${chatId}/stop`, { method: 'POST', headers: alice });
      }
    }
    expect(await stopped).toMatchObject({
      status: 200,
      body: { stopped: true, runId: expect.stringMatching(/^run_/) as string },
    });
    const upstream = await server.upstream.waitForClose(1);
    expect(upstream.closedBy).toBe('client');
    expect(upstream.completed).toBe(false);
    expect(chunks.at(-1)).toEqual({ type: 'abort', reason: 'stopped' });
    expect(chunks.some((chunk) => chunk.type === 'finish')).toBe(false);
    // Nothing left to stop.
    expect(
      (await call(server, `/api/chat/ui/${chatId}/stop`, { method: 'POST', headers: alice })).body,
    ).toEqual({ runId: null, stopped: false });
  });
});
