// What users see of a cited passage: sources never show the ingesting machine's directories and are titled as a
// person would title them; GET /api/passages/:chunkId opens a cited passage for whoever may ask its chatbot (and for
// no one else); PATCH /api/conversations/:id renames a conversation of its owner.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Source } from '../../src/core/events.ts';
import { putTestChatbot, startTestServer, type TestServer } from '../helpers/test-server.ts';

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);

async function call(
  server: TestServer,
  method: string,
  path: string,
  options: { json?: unknown; token?: string } = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${server.url}${path}`, {
    method,
    headers: {
      ...(options.json === undefined ? {} : { 'content-type': 'application/json' }),
      ...(options.token === undefined ? {} : { authorization: `Bearer ${options.token}` }),
    },
    body: options.json === undefined ? null : JSON.stringify(options.json),
  });
  const text = await response.text();
  return { status: response.status, body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) };
}

async function ingest(
  server: TestServer,
  source: string,
  text: string,
  collectionId = 'default',
): Promise<void> {
  const result = await server.app.ingestor.ingest({ source, bytes: bytes(text) }, { collectionId });
  expect(result.error).toBeUndefined();
}

describe('sources and passages (open install)', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ ANSWER_CACHE: 'false' }, { tokens: ['See ', '[1].'] });
    // Stored the way an older `rivulet ingest` stored it: under its absolute path, titled by its file name.
    await ingest(server, '/home/me/handbook/vacation.md', 'Vacation days are granted by the manager.\n');
    await ingest(
      server,
      'faq.json',
      JSON.stringify([
        { question: 'How many vacation days do I get?', answer: 'Twenty-five vacation days a year.' },
      ]),
    );
    await putTestChatbot(server, 'other', { collectionId: 'other' });
    await ingest(server, 'secret.md', '# Secret\n\nThe vacation bonus is secret.\n', 'other');
  });
  afterAll(async () => server?.close());

  const ask = async (message: string, chatbotId?: string): Promise<Source[]> => {
    const reply = await call(server, 'POST', '/api/chat', {
      json: { message, ...(chatbotId === undefined ? {} : { chatbotId }) },
    });
    expect(reply.status).toBe(200);
    return reply.body.sources as Source[];
  };

  it('shows a stored absolute path as its file name, with a human title; a FAQ record by its question', async () => {
    const sources = await ask('vacation days');
    const vacation = sources.find((source) => source.uri === 'vacation.md');
    expect(vacation?.title).toBe('Vacation');
    const faq = sources.find((source) => source.uri === 'faq.json');
    expect(faq?.title).toBe('How many vacation days do I get?');
    expect(JSON.stringify(sources)).not.toContain('/home/me');
  });

  it('opens a cited passage of the chatbot, and no passage of another collection', async () => {
    const [source] = (await ask('vacation days')).filter((item) => item.uri === 'vacation.md');
    const passage = await call(server, 'GET', `/api/passages/${source?.chunkId}`);
    expect(passage.status).toBe(200);
    expect(passage.body).toMatchObject({
      document: { title: 'Vacation', uri: 'vacation.md', mediaType: 'text/markdown' },
      passage: { text: 'Vacation days are granted by the manager.' },
    });
    expect(JSON.stringify(passage.body)).not.toContain('/home/me');

    const [secret] = await ask('vacation bonus', 'other');
    expect(secret?.chunkId).toBeDefined();
    // Through its own chatbot it opens; through the default chatbot it does not exist.
    expect((await call(server, 'GET', `/api/passages/${secret?.chunkId}?chatbotId=other`)).status).toBe(200);
    const refused = await call(server, 'GET', `/api/passages/${secret?.chunkId}`);
    expect(refused).toMatchObject({ status: 404, body: { error: { code: 'DOCUMENT_NOT_FOUND' } } });
    expect(await call(server, 'GET', '/api/passages/chk_none')).toMatchObject({
      status: 404,
      body: { error: { code: 'DOCUMENT_NOT_FOUND' } },
    });
    expect(await call(server, 'GET', `/api/passages/${secret?.chunkId}?chatbotId=nope`)).toMatchObject({
      status: 404,
      body: { error: { code: 'CHATBOT_NOT_FOUND' } },
    });
  });

  it('renames a conversation; an empty title is refused with a code', async () => {
    const answer = await call(server, 'POST', '/api/chat', { json: { message: 'vacation days' } });
    const conversationId = answer.body.conversationId as string;
    const renamed = await call(server, 'PATCH', `/api/conversations/${conversationId}`, {
      json: { title: '  Vacation\n questions ' },
    });
    expect(renamed).toMatchObject({ status: 200, body: { id: conversationId, title: 'Vacation questions' } });
    const list = await call(server, 'GET', '/api/conversations');
    expect((list.body.conversations as { id: string; title: string }[])[0]).toMatchObject({
      id: conversationId,
      title: 'Vacation questions',
    });
    expect(
      await call(server, 'PATCH', `/api/conversations/${conversationId}`, { json: { title: '   ' } }),
    ).toMatchObject({ status: 400, body: { error: { code: 'VALIDATION_FAILED' } } });
    expect(
      await call(server, 'PATCH', '/api/conversations/conv_none', { json: { title: 'x' } }),
    ).toMatchObject({ status: 404, body: { error: { code: 'CONVERSATION_NOT_FOUND' } } });
  });
});

describe('passages and renames where auth is required', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ AUTH_MODE: 'required', ANSWER_CACHE: 'false' }, { tokens: ['Ok [1].'] });
    await ingest(server, 'guide.md', '# Guide\n\nThe guide explains vacation rules.\n');
  });
  afterAll(async () => server?.close());

  it('needs credentials, and gives someone else’s conversation as not found', async () => {
    const alice = (await server.app.stores.apiKeys.createApiKey({ name: 'a', orgId: null, admin: false }))
      .token;
    const bob = (await server.app.stores.apiKeys.createApiKey({ name: 'b', orgId: null, admin: false }))
      .token;
    const answer = await call(server, 'POST', '/api/chat', {
      json: { message: 'vacation rules' },
      token: alice,
    });
    const [source] = answer.body.sources as Source[];
    expect(await call(server, 'GET', `/api/passages/${source?.chunkId}`)).toMatchObject({
      status: 401,
      body: { error: { code: 'UNAUTHORIZED' } },
    });
    expect((await call(server, 'GET', `/api/passages/${source?.chunkId}`, { token: bob })).status).toBe(200);
    const path = `/api/conversations/${answer.body.conversationId as string}`;
    expect(await call(server, 'PATCH', path, { json: { title: 'Mine' }, token: bob })).toMatchObject({
      status: 404,
      body: { error: { code: 'CONVERSATION_NOT_FOUND' } },
    });
    expect((await call(server, 'PATCH', path, { json: { title: 'Mine' }, token: alice })).status).toBe(200);
  });
});
