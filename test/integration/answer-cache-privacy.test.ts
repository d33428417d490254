// The answer cache never carries one person's words to another (issue 12, finding 1): answers generated with a
// conversation's history are not cached, entries stay within the asker's organisation (anonymous visitors apart),
// a similar question is not served what another asker said about themselves, and deleting a conversation forgets
// what it cached. Real HTTP, JWTs for users of two organisations, a fake OpenAI upstream.

import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { RunEvent } from '../../src/core/events.ts';
import { call } from '../helpers/http.ts';
import { signTestJwt } from '../helpers/jwt.ts';
import { chatStream, lastEvent, readSse, tokenText, type SseReadResult } from '../helpers/sse-client.ts';
import { putTestChatbot, startTestServer, type TestServer } from '../helpers/test-server.ts';

const SECRET = 'rivulet-test-secret-of-more-than-32-chars';
const SITE = 'https://shop.example';
const REFUNDS = `# Refund policy

Refunds are issued within 14 days. Gift cards and opened software cannot be refunded.`;

async function bearer(sub: string, org: string): Promise<Record<string, string>> {
  return { authorization: `Bearer ${await signTestJwt(SECRET, sub, { org })}` };
}

function startOf(result: SseReadResult): Extract<RunEvent, { type: 'start' }> {
  const start = result.frames[0]?.data;
  if (start?.type !== 'start') throw new Error(`expected a start event, got ${JSON.stringify(start)}`);
  return start;
}

function doneOf(result: SseReadResult): Extract<RunEvent, { type: 'done' }> {
  const done = lastEvent(result.frames);
  if (done?.type !== 'done') throw new Error(`expected a done event, got ${JSON.stringify(done)}`);
  return done;
}

async function upload(server: TestServer, headers: Record<string, string>): Promise<void> {
  const form = new FormData();
  form.append('file', new Blob([REFUNDS]), 'refunds.md');
  const response = await fetch(`${server.url}/api/documents`, { method: 'POST', body: form, headers });
  expect(response.status).toBe(200);
}

describe('answer cache privacy', () => {
  let server: TestServer;
  let admin: Record<string, string>;
  let alice: Record<string, string>;
  let carol: Record<string, string>;
  let bob: Record<string, string>;

  beforeAll(async () => {
    server = await startTestServer({ AUTH_JWT_SECRET: SECRET, QUERY_ENHANCE: 'true' });
    // An admin of no organisation fills the shared default chatbot's collection.
    admin = { authorization: `Bearer ${await signTestJwt(SECRET, 'root', { role: 'admin' })}` };
    await upload(server, admin);
    alice = await bearer('alice', 'acme');
    carol = await bearer('carol', 'acme');
    bob = await bearer('bob', 'globex');
    // The default chatbot is shared by every organisation and, here, open to anonymous visitors of one site.
    await putTestChatbot(server, 'default', { collectionId: 'default', allowedOrigins: [SITE] });
  });
  afterAll(async () => {
    await server.close();
  });
  beforeEach(() => {
    server.upstream.reset();
  });

  async function ask(
    headers: Record<string, string>,
    message: string,
    answer: string,
    conversationId?: string,
  ): Promise<SseReadResult> {
    server.upstream.setScenario({ tokens: [answer] });
    const result = await chatStream(server.url, headers, {
      message,
      ...(conversationId === undefined ? {} : { conversationId }),
    });
    expect(result.status).toBe(200);
    await server.app.chat.settled();
    return result;
  }

  it('never caches an answer generated with the conversation history (the leaked personal number)', async () => {
    const question = 'Which items can never be refunded?';
    const opener = await ask(alice, 'My personal number is 4471-8832.', 'Noted.');
    const conversationId = startOf(opener).conversationId;
    // The follow-up is condensed into the standalone question, then answered with the whole history in the
    // prompt: the model repeats the number.
    server.upstream.setScenario({ tokens: ['Gift cards, dear 4471-8832 [1].'] });
    server.upstream.enqueue({ tokens: [question] });
    const followUp = await chatStream(server.url, alice, { message: 'and what never?', conversationId });
    await server.app.chat.settled();
    expect(doneOf(followUp)).toMatchObject({ cached: false });
    expect(tokenText(followUp.frames)).toContain('4471-8832');

    // Anyone else asking the condensed question (another organisation, the same one) gets an answer of their own,
    // without the number; so does the same user in a new conversation.
    for (const who of [bob, carol]) {
      const other = await ask(who, question, 'Gift cards and opened software [1].');
      expect(doneOf(other)).toMatchObject({ cached: false });
      expect(tokenText(other.frames)).not.toContain('4471');
    }
    expect(tokenText((await ask(alice, question, 'unused')).frames)).not.toContain('4471');
  });

  it('keeps cached answers within the asker’s organisation; anonymous visitors share only with each other', async () => {
    const question = 'How soon are refunds issued?';
    const first = await ask(alice, question, 'Within 14 days [1].');
    expect(doneOf(first)).toMatchObject({ cached: false });
    // The same organisation reuses it.
    expect(doneOf(await ask(carol, question, 'unused'))).toMatchObject({ cached: true });
    // Another organisation and an anonymous visitor do not.
    const other = await ask(bob, question, 'In two weeks [1].');
    expect(doneOf(other)).toMatchObject({ cached: false, text: 'In two weeks [1].' });
    const visitor = { origin: SITE, 'x-session-id': 'visitor-session-0001' };
    const anonymous = await ask(visitor, question, 'Fourteen days [1].');
    expect(doneOf(anonymous)).toMatchObject({ cached: false, text: 'Fourteen days [1].' });
    const nextVisitor = { origin: SITE, 'x-session-id': 'visitor-session-0002' };
    expect(doneOf(await ask(nextVisitor, question, 'unused'))).toMatchObject({
      cached: true,
      text: 'Fourteen days [1].',
    });
  });

  it('keeps users of no organisation apart (regression: they shared one scope)', async () => {
    const dave = { authorization: `Bearer ${await signTestJwt(SECRET, 'dave')}` };
    const erin = { authorization: `Bearer ${await signTestJwt(SECRET, 'erin')}` };
    const question = 'Are refunds issued for gift cards?';
    expect(doneOf(await ask(dave, question, 'No [1].'))).toMatchObject({ cached: false });
    expect(doneOf(await ask(dave, question, 'unused'))).toMatchObject({ cached: true });
    expect(doneOf(await ask(erin, question, 'Never [1].'))).toMatchObject({
      cached: false,
      text: 'Never [1].',
    });
  });

  it('leaves nothing in the cache from a conversation deleted while its answer streamed (regression)', async () => {
    const question = 'What is the refund window for parcels?';
    server.upstream.setScenario({
      tokens: Array.from({ length: 40 }, (_, index) => `w${index} `),
      interTokenMs: 20,
    });
    let conversationId = '';
    const streaming = readSse(`${server.url}/api/chat/stream`, {
      body: { message: question },
      headers: alice,
      onFrame(frame) {
        if (frame.data.type === 'start') conversationId = frame.data.conversationId;
      },
    });
    await expect.poll(() => conversationId).not.toBe('');
    await new Promise((resolve) => setTimeout(resolve, 150));
    const removed = await call(server, `/api/conversations/${conversationId}`, {
      method: 'DELETE',
      headers: alice,
    });
    expect(removed.status).toBe(204);
    await streaming;
    await server.app.chat.settled();
    const after = await ask(carol, question, 'Fourteen days [1].');
    expect(doneOf(after)).toMatchObject({ cached: false, text: 'Fourteen days [1].' });
  });

  it('forgets what a conversation put in the cache when the conversation is deleted', async () => {
    const question = 'Can opened software be refunded?';
    const first = await ask(alice, question, 'No, it cannot [1].');
    expect(doneOf(await ask(carol, question, 'unused'))).toMatchObject({ cached: true });
    const removed = await call(server, `/api/conversations/${startOf(first).conversationId}`, {
      method: 'DELETE',
      headers: alice,
    });
    expect(removed.status).toBe(204);
    const after = await ask(carol, question, 'Opened software is final [1].');
    expect(doneOf(after)).toMatchObject({ cached: false, text: 'Opened software is final [1].' });
  });
});

describe('semantic cache and what an asker said about themselves', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({
      EMBEDDING_PROVIDER: 'openai-compatible',
      EMBEDDING_MODEL: 'fake-embed',
      ANSWER_CACHE_SIMILARITY: '0.8',
      QUERY_ENHANCE: 'false',
    });
    await upload(server, {});
  });
  afterAll(async () => {
    await server.close();
  });

  it('never serves a similar question an answer to a question about its asker (regression: a paraphrased diagnosis)', async () => {
    server.upstream.setScenario({
      tokens: ['Since you have diabetes and just lost your job, refunds take 14 days [1].'],
    });
    const first = await chatStream(
      server.url,
      {},
      {
        message:
          'I have diabetes and was fired yesterday: when exactly is the refund for the returned parcel issued?',
      },
    );
    expect(doneOf(first)).toMatchObject({ cached: false });
    await server.app.chat.settled();
    server.upstream.setScenario({ tokens: ['Refunds take 14 days [1].'] });
    const other = await chatStream(
      server.url,
      {},
      {
        message: 'I have been promoted yesterday: when exactly is the refund for the returned parcel issued?',
      },
    );
    expect(tokenText(other.frames)).not.toMatch(/diabetes|job/);
    expect(doneOf(other)).toMatchObject({ cached: false });
  });

  it('serves a similar question only what the documents say, not the first asker’s number', async () => {
    server.upstream.setScenario({ tokens: ['Customer 4471-8832: refunds take 14 days [1].'] });
    const first = await chatStream(
      server.url,
      {},
      {
        message:
          'I am customer 4471-8832: when exactly is the refund for my returned parcel from the Lyon warehouse issued to my bank account this month?',
      },
    );
    expect(doneOf(first)).toMatchObject({ cached: false });
    await server.app.chat.settled();
    // The same words again may be served the answer: they say the number themselves.
    const same = await chatStream(
      server.url,
      {},
      {
        message:
          'I am customer 4471-8832: when exactly is the refund for my returned parcel from the Lyon warehouse issued to my bank account this month?',
      },
    );
    expect(doneOf(same)).toMatchObject({ cached: true });
    // A similar question with another number is answered afresh.
    server.upstream.setScenario({ tokens: ['Refunds take 14 days [1].'] });
    const other = await chatStream(
      server.url,
      {},
      {
        message:
          'I am customer 9001-1234: when exactly is the refund for my returned parcel from the Lyon warehouse issued to my bank account this month?',
      },
    );
    expect(doneOf(other)).toMatchObject({ cached: false });
    expect(tokenText(other.frames)).not.toContain('4471');
    await server.app.chat.settled();
    // A question about its asker is served again only word for word, never to a merely similar one.
    const reworded = await chatStream(
      server.url,
      {},
      {
        message:
          'Please, I am customer 9001-1234: when exactly is the refund for my returned parcel from the Lyon warehouse issued to my bank account this month?',
      },
    );
    expect(doneOf(reworded)).toMatchObject({ cached: false });
    await server.app.chat.settled();
    // An impersonal question is still shared with similar ones.
    const impersonal =
      'When exactly is the refund for a returned parcel from the Lyon warehouse issued to the bank account this month?';
    expect(doneOf(await chatStream(server.url, {}, { message: impersonal }))).toMatchObject({
      cached: false,
    });
    await server.app.chat.settled();
    server.upstream.setScenario({ tokens: ['unused'] });
    const similar = await chatStream(server.url, {}, { message: `Please, ${impersonal}` });
    expect(doneOf(similar)).toMatchObject({ cached: true, text: 'Refunds take 14 days [1].' });
  });
});
