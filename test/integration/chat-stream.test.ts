// End to end over real HTTP: SSE, NDJSON and JSON answers from the fake upstream, and coded 4xx for bad input.

import { mkdtempSync, rmSync } from 'node:fs';
import { Agent } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import postgres from 'postgres';
import type { Socket } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { RivuletError } from '../../src/core/errors.ts';
import type { RunEvent } from '../../src/core/events.ts';
import { lastEvent, readSse, tokenText } from '../helpers/sse-client.ts';
import { putTestChatbot, startTestServer, type TestServer } from '../helpers/test-server.ts';
import { createStoredThenFails } from '../helpers/store-faults.ts';

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer({}, { tokenCount: 40, seed: 7 });
});
afterAll(async () => {
  await server.close();
});
beforeEach(() => {
  server.upstream.reset();
  server.upstream.setScenario({ tokenCount: 40, seed: 7 });
});

describe('POST /api/chat/stream (SSE)', () => {
  it('streams the whole upstream answer with proxy-safe headers, ids and a terminal done', async () => {
    const result = await readSse(`${server.url}/api/chat/stream`, { body: { message: 'Hello there' } });
    expect(result.status).toBe(200);
    expect(result.headers['content-type']).toMatch(/^text\/event-stream/);
    expect(result.headers['cache-control']).toBe('no-cache, no-transform');
    expect(result.headers['x-accel-buffering']).toBe('no');
    expect(result.retry).toBe(2000);
    const runId = result.headers['x-run-id'] as string;
    expect(runId).toMatch(/^run_/);

    const events = result.frames.map((frame) => frame.data);
    result.frames.forEach((frame, index) => {
      expect(frame.id).toBe(`${runId}:${index}`);
      expect(frame.event).toBe(frame.data.type);
      expect(frame.data.seq).toBe(index);
    });
    expect(events[0]).toMatchObject({
      type: 'start',
      runId,
      provider: 'openai-compatible',
      model: 'fake-model',
    });
    expect(
      events.filter((event) => event.type === 'phase').map((event) => `${event.name}:${event.state}`),
    ).toEqual([
      'history:start',
      'history:end',
      'cache:start',
      'cache:end',
      'retrieve:start',
      'retrieve:end',
      'generate:start',
      'generate:end',
    ]);
    // Sources (none: the collection is empty) arrive before the first token.
    const sourcesAt = events.findIndex((event) => event.type === 'sources');
    expect(events[sourcesAt]).toMatchObject({ type: 'sources', sources: [] });
    expect(sourcesAt).toBeLessThan(events.findIndex((event) => event.type === 'token'));
    const expected = server.upstream.fullText();
    expect(tokenText(result.frames)).toBe(expected);
    const done = lastEvent(result.frames);
    expect(done).toMatchObject({ type: 'done', finishReason: 'stop', text: expected, cached: false });
    expect(done?.type === 'done' && done.usage?.outputTokens).toBe(40);
    expect(done?.type === 'done' && done.timings.ttftMs).toBeGreaterThan(0);
    expect(result.ended).toBe(true);
    // The stored answer carries the very figures its done event gave (a reload shows the same first token and total).
    const start = result.frames[0]?.data as Extract<RunEvent, { type: 'start' }>;
    const stored = await server.app.stores.conversations.listMessages(start.conversationId);
    expect(stored.at(-1)?.timings).toEqual(done?.type === 'done' ? done.timings : undefined);
  });

  it('sends the configured model, stream options and the question upstream', async () => {
    await readSse(`${server.url}/api/chat/stream`, {
      body: { message: 'What is Rivulet?', temperature: 0.2 },
    });
    const body = server.upstream.requests[0]?.body as Record<string, unknown>;
    expect(body).toMatchObject({
      model: 'fake-model',
      stream: true,
      stream_options: { include_usage: true },
      temperature: 0.2,
    });
    const messages = body.messages as { role: string; content: string }[];
    expect(messages.map((message) => message.role)).toEqual(['system', 'user']);
    expect(messages[1]?.content).toBe('What is Rivulet?');
  });

  it('carries the conversation history into the next question', async () => {
    const first = await readSse(`${server.url}/api/chat/stream`, { body: { message: 'First question' } });
    const start = first.frames[0]?.data as Extract<RunEvent, { type: 'start' }>;
    await readSse(`${server.url}/api/chat/stream`, {
      body: { message: 'Follow-up', conversationId: start.conversationId },
    });
    // The follow-up is first condensed into a standalone question (one cheap call), then answered.
    const condense = server.upstream.requests[1]?.body as {
      messages: { content: string }[];
    };
    expect(condense.messages.at(-1)?.content).toContain('User: First question');
    expect(condense.messages.at(-1)?.content).toContain('Last message: Follow-up');
    const body = server.upstream.requests[2]?.body as { messages: { role: string; content: string }[] };
    expect(body.messages.slice(1)).toEqual([
      { role: 'user', content: 'First question' },
      { role: 'assistant', content: server.upstream.fullText() },
      { role: 'user', content: 'Follow-up' },
    ]);
    const stored = await server.app.stores.conversations.listMessages(start.conversationId);
    expect(stored.map((message) => [message.role, message.status])).toEqual([
      ['user', undefined],
      ['assistant', 'complete'],
      ['user', undefined],
      ['assistant', 'complete'],
    ]);
  });

  it('stores a new conversation with its question and the answer in one write, before the run starts', async () => {
    const conversations = server.app.stores.conversations;
    const creates = vi.spyOn(conversations, 'createConversation');
    const appends = vi.spyOn(conversations, 'appendMessages');
    try {
      const result = await readSse(`${server.url}/api/chat/stream`, { body: { message: 'One write?' } });
      const start = result.frames[0]?.data as Extract<RunEvent, { type: 'start' }>;
      expect(creates).toHaveBeenCalledTimes(1);
      const [, , id, messages] = creates.mock.calls[0] ?? [];
      expect(id).toBe(start.conversationId);
      expect(messages?.map((message) => [message.role, message.status, message.runId])).toEqual([
        ['user', undefined, undefined],
        ['assistant', 'streaming', start.runId],
      ]);
      expect(messages?.[1]?.id).toBe(start.messageId);
      expect(appends).not.toHaveBeenCalled();
      const stored = await conversations.listMessages(start.conversationId);
      expect(stored.map((message) => [message.role, message.content, message.status])).toEqual([
        ['user', 'One write?', undefined],
        ['assistant', server.upstream.fullText(), 'complete'],
      ]);
      expect((await conversations.getConversation(start.conversationId))?.title).toBe('One write?');
    } finally {
      creates.mockRestore();
      appends.mockRestore();
    }
  });

  // A new conversation starts from the chatbot as this process last read it (no read), stored only while the
  // chatbot's row is still that version; changed by another process meanwhile (here another connection standing for
  // it), the start reads it again. On SQLite the server runs on a file here, which that connection opens.
  it('starts a new conversation on the chatbot remembered from the last read, and reads it again once another process changed it', async () => {
    if (process.env.RIVULET_TEST_STORE === 'postgres') {
      const sql = postgres(server.app.config.databaseUrl ?? '', { max: 1, onnotice: () => {} });
      try {
        await rememberedChatbot(server, (text) => sql.unsafe(text));
      } finally {
        await sql.end();
      }
      return;
    }
    const dataDir = mkdtempSync(join(tmpdir(), 'rivulet-remembered-'));
    const onFile = await startTestServer({ DATA_DIR: dataDir }, { tokenCount: 40, seed: 7 });
    const db = new DatabaseSync(join(dataDir, 'rivulet.sqlite'));
    db.exec('PRAGMA busy_timeout = 5000');
    try {
      await rememberedChatbot(onFile, (text) => Promise.resolve(db.exec(text)));
    } finally {
      db.close();
      await onFile.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('refuses with the coded error, and ends the run, when the new conversation cannot be stored', async () => {
    const conversations = server.app.stores.conversations;
    const creates = vi
      .spyOn(conversations, 'createConversation')
      .mockRejectedValueOnce(new RivuletError('STORE_UNAVAILABLE'));
    try {
      const response = await fetch(`${server.url}/api/chat/stream`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
        body: JSON.stringify({ message: 'Stored?' }),
      });
      expect(response.status).toBe(503);
      expect(await response.json()).toMatchObject({ error: { code: 'STORE_UNAVAILABLE' } });
      expect(server.upstream.requests).toHaveLength(0);
      expect(server.app.hub.stats().activeRuns).toBe(0);
    } finally {
      creates.mockRestore();
    }
  });

  it('goes on with the answer when the new conversation was stored though the write reported an error', async () => {
    const conversations = server.app.stores.conversations;
    const creates = createStoredThenFails(conversations);
    try {
      const result = await readSse(`${server.url}/api/chat/stream`, { body: { message: 'Committed?' } });
      expect(result.status).toBe(200);
      const start = result.frames[0]?.data as Extract<RunEvent, { type: 'start' }>;
      expect(lastEvent(result.frames)?.type).toBe('done');
      expect(tokenText(result.frames)).toBe(server.upstream.fullText());
      expect(creates).toHaveBeenCalledTimes(1);
      const stored = await conversations.listMessages(start.conversationId);
      expect(stored.map((message) => [message.role, message.content, message.status, message.runId])).toEqual(
        [
          ['user', 'Committed?', undefined, undefined],
          ['assistant', server.upstream.fullText(), 'complete', start.runId],
        ],
      );
    } finally {
      creates.mockRestore();
    }
  });

  it('marks the answer failed, not streaming, when the store cannot tell whether the new conversation was stored', async () => {
    const conversations = server.app.stores.conversations;
    const creates = createStoredThenFails(conversations);
    const finds = vi
      .spyOn(conversations, 'findMessageByRun')
      .mockRejectedValueOnce(new RivuletError('STORE_UNAVAILABLE'));
    try {
      const response = await fetch(`${server.url}/api/chat/stream`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
        body: JSON.stringify({ message: 'Stored or not?' }),
      });
      expect(response.status).toBe(503);
      expect(await response.json()).toMatchObject({ error: { code: 'STORE_UNAVAILABLE' } });
      expect(server.upstream.requests).toHaveLength(0);
      expect(server.app.hub.stats().activeRuns).toBe(0);
      const [, , id, messages] = creates.mock.calls[0] ?? [];
      const stored = await conversations.listMessages(id ?? '');
      expect(
        stored.map((message) => [message.role, message.status, message.finishReason, message.errorCode]),
      ).toEqual([
        ['user', undefined, undefined, undefined],
        ['assistant', 'failed', 'error', 'STORE_UNAVAILABLE'],
      ]);
      expect(stored[1]?.runId).toBe(messages?.[1]?.runId);
    } finally {
      creates.mockRestore();
      finds.mockRestore();
    }
  });

  // On PostgreSQL the answer's store takes a round trip, which may outlast the turn the events are held for.
  it.skipIf(process.env.RIVULET_TEST_STORE === 'postgres')(
    'sends the events after the last token with the ending in one socket write, when the answer is stored by then',
    async () => {
      // Every write the server makes to its clients' sockets, as the bytes that left together.
      const writes: string[] = [];
      const watch = (socket: Socket): void => {
        const writev = socket._writev?.bind(socket);
        const write = socket._write.bind(socket);
        socket._writev = (chunks, callback) => {
          writes.push(chunks.map(({ chunk }) => String(chunk)).join(''));
          writev?.(chunks, callback);
        };
        socket._write = (chunk, encoding, callback) => {
          writes.push(String(chunk));
          write(chunk, encoding, callback);
        };
      };
      const http = server.app.server.server;
      http.on('connection', watch);
      try {
        server.upstream.setScenario({ tokenCount: 3, seed: 7 });
        const result = await readSse(`${server.url}/api/chat/stream`, {
          body: { message: 'Short one' },
          // A connection of its own, opened once the server's sockets are watched.
          agent: new Agent(),
        });
        expect(lastEvent(result.frames)?.type).toBe('done');
        const ending = writes.filter((bytes) => /event: (phase|usage|done)/.test(bytes)).at(-1) ?? '';
        // The generate phase's end and the usage follow the tokens; they leave with the done event and the stream's
        // end, not in a write of their own (the test store, SQLite in memory, stores the answer in the same turn).
        expect(ending).toContain('event: usage');
        expect(ending).toContain('event: done');
        expect(ending).toContain('0\r\n\r\n');
        expect(writes.filter((bytes) => bytes.includes('event: usage'))).toHaveLength(1);
      } finally {
        http.off('connection', watch);
      }
    },
  );

  it('answers NDJSON when asked, one event per line', async () => {
    const response = await fetch(`${server.url}/api/chat/stream`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/x-ndjson' },
      body: JSON.stringify({ message: 'ndjson please' }),
    });
    expect(response.headers.get('content-type')).toMatch(/^application\/x-ndjson/);
    expect(response.headers.get('x-run-id')).toMatch(/^run_/);
    const lines = (await response.text()).split('\n').filter((line) => line !== '');
    const events = lines.map((line) => JSON.parse(line) as RunEvent);
    expect(events.map((event) => event.seq)).toEqual(events.map((_, index) => index));
    expect(events.at(-1)).toMatchObject({ type: 'done', text: server.upstream.fullText() });
  });
});

describe('POST /api/chat (JSON)', () => {
  it('returns the same answer as one JSON document', async () => {
    const response = await fetch(`${server.url}/api/chat`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ message: 'one piece please' }),
    });
    expect(response.status).toBe(200);
    const answer = (await response.json()) as Record<string, unknown>;
    expect(answer).toMatchObject({
      text: server.upstream.fullText(),
      finishReason: 'stop',
      provider: 'openai-compatible',
      error: null,
      usage: { outputTokens: 40 },
    });
    expect(response.headers.get('x-run-id')).toBe(answer.runId);
  });

  it('maps an upstream failure to its status and code, keeping the partial answer', async () => {
    server.upstream.setScenario({ tokenCount: 40, seed: 7, dropAfter: 5 });
    const response = await fetch(`${server.url}/api/chat`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ message: 'this will break' }),
    });
    expect(response.status).toBe(502);
    const body = (await response.json()) as { error: { code: string }; answer: { text: string } };
    expect(body.error.code).toBe('UPSTREAM_DROPPED');
    expect(body.answer.text).toBe(server.upstream.requests[0]?.textSent);
    expect(body.answer.text.length).toBeGreaterThan(0);
  });
});

describe('bad input', () => {
  const post = (path: string, body: string, headers: Record<string, string> = {}) =>
    fetch(`${server.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body,
    });

  const cases: {
    name: string;
    body: string;
    headers?: Record<string, string>;
    status: number;
    code: string;
  }[] = [
    { name: 'invalid JSON', body: '{"message": ', status: 400, code: 'INVALID_JSON' },
    { name: 'an empty body', body: '', status: 400, code: 'INVALID_JSON' },
    { name: 'a missing message', body: '{}', status: 400, code: 'VALIDATION_FAILED' },
    { name: 'a blank message', body: '{"message":"   "}', status: 400, code: 'VALIDATION_FAILED' },
    { name: 'a message of the wrong type', body: '{"message":42}', status: 400, code: 'VALIDATION_FAILED' },
    {
      name: 'an unknown field',
      body: '{"message":"hi","admin":true}',
      status: 400,
      code: 'VALIDATION_FAILED',
    },
    { name: 'a JSON array', body: '["hi"]', status: 400, code: 'VALIDATION_FAILED' },
    {
      name: 'a hostile conversation id',
      body: '{"message":"hi","conversationId":"../x"}',
      status: 400,
      code: 'VALIDATION_FAILED',
    },
    {
      name: 'an out-of-range temperature',
      body: '{"message":"hi","temperature":9}',
      status: 400,
      code: 'VALIDATION_FAILED',
    },
    {
      name: 'a message over the length limit',
      body: JSON.stringify({ message: 'x'.repeat(32_001) }),
      status: 413,
      code: 'MESSAGE_TOO_LONG',
    },
    {
      name: 'an unknown conversation',
      body: '{"message":"hi","conversationId":"conv_nope"}',
      status: 404,
      code: 'CONVERSATION_NOT_FOUND',
    },
    {
      name: 'a text/plain body',
      body: 'hi',
      headers: { 'content-type': 'text/plain' },
      status: 415,
      code: 'UNSUPPORTED_MEDIA_TYPE',
    },
    {
      name: 'a body over the size limit',
      body: JSON.stringify({ message: 'x'.repeat(1_100_000) }),
      status: 413,
      code: 'PAYLOAD_TOO_LARGE',
    },
  ];

  for (const testCase of cases) {
    it(`refuses ${testCase.name} with ${testCase.status} ${testCase.code}, on both chat endpoints`, async () => {
      for (const path of ['/api/chat/stream', '/api/chat']) {
        const response = await post(path, testCase.body, testCase.headers);
        expect(response.status).toBe(testCase.status);
        const body = (await response.json()) as { error: { code: string; message: string } };
        expect(body.error.code).toBe(testCase.code);
        expect(body.error.message.length).toBeGreaterThan(0);
        expect(body.error.message).not.toMatch(/at .*\.ts:\d+/);
      }
      // Nothing reached the provider.
      expect(server.upstream.requests).toHaveLength(0);
    });
  }

  it('answers unknown routes with a coded 404', async () => {
    const response = await fetch(`${server.url}/api/nope`);
    expect(response.status).toBe(404);
    expect(await response.json()).toMatchObject({ error: { code: 'NOT_FOUND' } });
  });

  it('reports liveness on /healthz', async () => {
    const response = await fetch(`${server.url}/healthz`);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ status: 'ok' });
  });
});

/** The remembered-chatbot case on `server`, with `elsewhere` running SQL on another connection (another process's). */
async function rememberedChatbot(
  server: TestServer,
  elsewhere: (sql: string) => Promise<unknown>,
): Promise<void> {
  const { chatbots, conversations } = server.app.stores;
  const lastReadOf = (id: string) => chatbots.lastRead?.(id);
  const systemPrompt = (index: number): string | undefined => {
    const body = server.upstream.requests[index]?.body as {
      messages: { role: string; content: string }[];
    };
    return body.messages.find((message) => message.role === 'system')?.content;
  };
  await readSse(`${server.url}/api/chat/stream`, { body: { message: 'Read the chatbot' } });
  const reads = vi.spyOn(chatbots, 'getChatbot');
  const creates = vi.spyOn(conversations, 'createConversation');
  try {
    const remembered = await readSse(`${server.url}/api/chat/stream`, {
      body: { message: 'Remembered?' },
    });
    expect(lastEvent(remembered.frames)?.type).toBe('done');
    expect(reads).not.toHaveBeenCalled();
    expect(creates).toHaveBeenCalledTimes(1);
    expect(creates.mock.calls[0]?.[4]?.ifChatbotVersion).toEqual(expect.any(String));
    // A follow-up: the read of its conversation found the chatbot's row at the remembered version, so no read either.
    const rememberedStart = remembered.frames[0]?.data as Extract<RunEvent, { type: 'start' }>;
    const followUp = await readSse(`${server.url}/api/chat/stream`, {
      body: { message: 'And then?', conversationId: rememberedStart.conversationId },
    });
    expect(lastEvent(followUp.frames)?.type).toBe('done');
    expect(reads).not.toHaveBeenCalled();

    // Another process changes the chatbot: the next answer is stored against, and uses, the chatbot as it is now.
    await elsewhere(
      "UPDATE chatbots SET system_prompt = 'Changed elsewhere.', updated_at = updated_at + 1 WHERE id = 'default'",
    );
    const before = (await conversations.listConversations(null, { limit: 1000 })).length;
    const changed = await readSse(`${server.url}/api/chat/stream`, { body: { message: 'Changed?' } });
    expect(changed.status).toBe(200);
    expect(lastEvent(changed.frames)?.type).toBe('done');
    expect(reads).toHaveBeenCalledTimes(1);
    expect(creates).toHaveBeenCalledTimes(3);
    expect(creates.mock.calls[2]?.[4]).toBeUndefined();
    expect(systemPrompt(server.upstream.requests.length - 1)).toContain('Changed elsewhere.');
    const start = changed.frames[0]?.data as Extract<RunEvent, { type: 'start' }>;
    expect((await conversations.listMessages(start.conversationId)).map((message) => message.role)).toEqual([
      'user',
      'assistant',
    ]);
    expect((await conversations.listConversations(null, { limit: 1000 })).length).toBe(before + 1);
    expect(server.app.hub.stats().activeRuns).toBe(0);
    // Changed again by another process: a follow-up finds another version with its conversation, reads the chatbot
    // and answers with it as it is now.
    await elsewhere(
      "UPDATE chatbots SET system_prompt = 'Changed again.', updated_at = updated_at + 1 WHERE id = 'default'",
    );
    const again = await readSse(`${server.url}/api/chat/stream`, {
      body: { message: 'And now?', conversationId: start.conversationId },
    });
    expect(lastEvent(again.frames)?.type).toBe('done');
    expect(reads).toHaveBeenCalledTimes(2);
    expect(systemPrompt(server.upstream.requests.length - 1)).toContain('Changed again.');
    await elsewhere("UPDATE chatbots SET system_prompt = 'Changed elsewhere.' WHERE id = 'default'");
    await chatbots.getChatbot('default');
    // Deleted by another process: refused as an unknown chatbot, nothing stored, no run left.
    await putTestChatbot(server, 'short-lived');
    const asked = await readSse(`${server.url}/api/chat/stream`, {
      body: { message: 'Still there?', chatbotId: 'short-lived' },
    });
    expect(lastEvent(asked.frames)?.type).toBe('done');
    await elsewhere("DELETE FROM chatbots WHERE id = 'short-lived'");
    // A follow-up in its conversation, while this process still remembers the chatbot: its conversation's read finds
    // no chatbot row, so it reads, and is refused.
    const stillThere = asked.frames[0]?.data as Extract<RunEvent, { type: 'start' }>;
    expect(lastReadOf('short-lived')).toBeDefined();
    const orphan = await fetch(`${server.url}/api/chat/stream`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
      body: JSON.stringify({ message: 'Still?', conversationId: stillThere.conversationId }),
    });
    expect(orphan.status).toBe(404);
    expect(await orphan.json()).toMatchObject({ error: { code: 'CHATBOT_NOT_FOUND' } });
    const countBefore = (await conversations.listConversations(null, { limit: 1000 })).length;
    const gone = await fetch(`${server.url}/api/chat/stream`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
      body: JSON.stringify({ message: 'Gone?', chatbotId: 'short-lived' }),
    });
    expect(gone.status).toBe(404);
    expect(await gone.json()).toMatchObject({ error: { code: 'CHATBOT_NOT_FOUND' } });
    expect((await conversations.listConversations(null, { limit: 1000 })).length).toBe(countBefore);
    expect(server.app.hub.stats().activeRuns).toBe(0);
    // Read again, remembered again.
    const readsSoFar = reads.mock.calls.length;
    await readSse(`${server.url}/api/chat/stream`, { body: { message: 'Remembered again?' } });
    expect(reads).toHaveBeenCalledTimes(readsSoFar);
    expect(systemPrompt(server.upstream.requests.length - 1)).toContain('Changed elsewhere.');
  } finally {
    reads.mockRestore();
    creates.mockRestore();
    await elsewhere("UPDATE chatbots SET system_prompt = NULL WHERE id = 'default'");
    await chatbots.getChatbot('default'); // remembered as it is again, for the tests after this one
  }
}
