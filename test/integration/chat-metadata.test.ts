// A chat request's `metadata` (seed 004 sends one with every question) over POST /api/chat, /api/chat/stream and the
// WebSocket: kept with the question, returned with the conversation's messages, refused beyond its bounds with a
// coded error naming the field, and nothing stored then.

import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { StoredMessage } from '../../src/core/conversation-store.ts';
import type { RunEvent } from '../../src/core/events.ts';
import { call, expectRefusal } from '../helpers/http.ts';
import { chatStream, expectAnswered } from '../helpers/sse-client.ts';
import { startTestServer, type TestServer } from '../helpers/test-server.ts';
import { connectWs } from '../helpers/ws-client.ts';

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer({}, { tokenCount: 8, seed: 4 });
});
afterAll(async () => {
  await server.close();
});
beforeEach(async () => {
  await server.app.chat.settled();
});

async function messagesOf(conversationId: string): Promise<StoredMessage[]> {
  const reply = await call(server, `/api/conversations/${conversationId}/messages`);
  expect(reply.status).toBe(200);
  return reply.body.messages as StoredMessage[];
}

async function conversationCount(): Promise<number> {
  const reply = await call(server, '/api/conversations?limit=200');
  return (reply.body.conversations as unknown[]).length;
}

function conversationIdOf(events: readonly RunEvent[]): string {
  const start = events.find((event) => event.type === 'start');
  if (start?.type !== 'start') throw new Error('no start event');
  return start.conversationId;
}

const METADATA = {
  page: '/pricing',
  'user.locale': 'de-CH',
  campaign: { id: 42, tags: ['spring', 'ü'], active: true, budget: null },
};

/** Metadata beyond each bound, and what the refusal says. */
const OVERSIZED: [string, unknown, RegExp][] = [
  [
    'more than 32 keys',
    Object.fromEntries(Array.from({ length: 33 }, (_, index) => [`k${index}`, index])),
    /metadata: at most 32 keys/u,
  ],
  ['a key over 64 characters', { ['k'.repeat(65)]: 1 }, /metadata: keys must be 1 to 64 characters/u],
  ['an empty key', { '': 1 }, /metadata: keys must be 1 to 64 characters/u],
  ['over 8 KB of JSON', { blob: 'x'.repeat(8 * 1024) }, /metadata: at most 8192 bytes of JSON/u],
  ['over 8 KB in multibyte characters', { blob: 'é'.repeat(4100) }, /metadata: at most 8192 bytes of JSON/u],
  [
    'nested deeper than 16 levels',
    { deep: JSON.parse(`${'['.repeat(20)}${']'.repeat(20)}`) as unknown },
    /metadata: at most 16 levels deep/u,
  ],
  ['an array', ['a', 'b'], /metadata: must be an object/u],
  ['a string', 'page=/pricing', /metadata: must be an object/u],
  ['null', null, /metadata: must be an object/u],
];

describe('chat metadata over HTTP', () => {
  it('POST /api/chat keeps it with the question and returns it with the messages', async () => {
    const reply = await call(server, '/api/chat', {
      json: { message: 'what is rivulet?', metadata: METADATA },
    });
    expect(reply.status).toBe(200);
    const conversationId = reply.body.conversationId as string;
    await server.app.chat.settled();
    const messages = await messagesOf(conversationId);
    expect(messages.map((message) => message.role)).toEqual(['user', 'assistant']);
    expect(messages[0]).toMatchObject({ content: 'what is rivulet?', metadata: METADATA });
    expect(messages[1]).not.toHaveProperty('metadata');
  });

  it('POST /api/chat/stream keeps each question its own metadata (an empty object too, none when absent)', async () => {
    const first = await chatStream(server.url, {}, { message: 'first question', metadata: {} });
    expectAnswered(first);
    const conversationId = conversationIdOf(first.frames.map((frame) => frame.data));
    await server.app.chat.settled();
    const second = await chatStream(server.url, {}, { message: 'second question', conversationId });
    expectAnswered(second);
    const third = await chatStream(
      server.url,
      {},
      { message: 'third question', conversationId, metadata: { step: 3 } },
    );
    expectAnswered(third);
    await server.app.chat.settled();
    const questions = (await messagesOf(conversationId)).filter((message) => message.role === 'user');
    expect(questions.map((message) => [message.content, message.metadata])).toEqual([
      ['first question', {}],
      ['second question', undefined],
      ['third question', { step: 3 }],
    ]);
  });

  it.each(OVERSIZED)(
    'refuses %s with 400 VALIDATION_FAILED naming metadata, storing nothing',
    async (_, metadata, says) => {
      const before = await conversationCount();
      for (const path of ['/api/chat', '/api/chat/stream']) {
        const reply = await call(server, path, { json: { message: 'hello', metadata } });
        expectRefusal(reply, 400, 'VALIDATION_FAILED');
        expect(reply.body.error?.message).toMatch(says);
      }
      await server.app.chat.settled();
      expect(await conversationCount()).toBe(before);
    },
  );

  it('refuses oversized metadata in an existing conversation without adding a message to it', async () => {
    const reply = await call(server, '/api/chat', { json: { message: 'a start' } });
    const conversationId = reply.body.conversationId as string;
    await server.app.chat.settled();
    const refused = await call(server, '/api/chat/stream', {
      json: { message: 'more', conversationId, metadata: { blob: 'x'.repeat(9000) } },
    });
    expectRefusal(refused, 400, 'VALIDATION_FAILED');
    await server.app.chat.settled();
    expect(await messagesOf(conversationId)).toHaveLength(2);
  });

  it('accepts metadata exactly at its bounds', async () => {
    const keys = Object.fromEntries(
      Array.from({ length: 32 }, (_, index) => [`${index}`.padEnd(64, 'k'), index]),
    );
    const json = JSON.stringify(keys);
    // Fill up to 8192 bytes with one more string value in place of the last key's number.
    const lastKey = `${31}`.padEnd(64, 'k');
    const room = 8192 - json.length + String(31).length - 2;
    const atBound = { ...keys, [lastKey]: 'x'.repeat(room) };
    expect(Buffer.byteLength(JSON.stringify(atBound))).toBe(8192);
    const reply = await call(server, '/api/chat', { json: { message: 'bounds', metadata: atBound } });
    expect(reply.status).toBe(200);
    await server.app.chat.settled();
    const [question] = await messagesOf(reply.body.conversationId as string);
    expect(question?.metadata).toEqual(atBound);
  });
});

describe('chat metadata over WebSocket', () => {
  it('a chat message keeps its metadata with the question', async () => {
    const client = await connectWs(server.url);
    client.send({ type: 'chat', requestId: 'm1', message: 'over the socket', metadata: METADATA });
    const done = await client.waitFor((frame) => frame.type === 'event' && frame.event.type === 'done');
    const start = client.frames.find((frame) => frame.type === 'event' && frame.event.type === 'start');
    client.socket.close();
    expect(done.type).toBe('event');
    if (start?.type !== 'event' || start.event.type !== 'start') throw new Error('no start event');
    await server.app.chat.settled();
    const [question] = await messagesOf(start.event.conversationId);
    expect(question).toMatchObject({ role: 'user', content: 'over the socket', metadata: METADATA });
  });

  it('oversized metadata gets a coded error frame naming the field, and nothing is stored', async () => {
    const before = await conversationCount();
    const client = await connectWs(server.url);
    for (const [index, [, metadata, says]] of OVERSIZED.entries()) {
      const requestId = `big-${index}`;
      client.send({ type: 'chat', requestId, message: 'hello', metadata });
      const frame = await client.waitFor(
        (candidate) => candidate.type === 'error' && candidate.requestId === requestId,
      );
      if (frame.type !== 'error') throw new Error('not an error frame');
      expect(frame.error).toMatchObject({ code: 'VALIDATION_FAILED', status: 400 });
      expect(frame.error.message).toMatch(says);
    }
    expect(client.frames.some((frame) => frame.type === 'accepted')).toBe(false);
    client.socket.close();
    await server.app.chat.settled();
    expect(await conversationCount()).toBe(before);
  });
});
