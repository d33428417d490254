// The `match` of the `sources` event over real HTTP: a question the documents answer is `strong`, one they do not
// is `none` (no sources) with BM25 alone and `weak` (found by meaning only) with vector search; /api/chat carries it.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunEvent, SourcesEvent } from '../../src/core/events.ts';
import { call } from '../helpers/http.ts';
import { readSse } from '../helpers/sse-client.ts';
import { startTestServer, type TestServer } from '../helpers/test-server.ts';

const REFUNDS = `# Refund policy

## Timing

Refunds are issued within 14 days after the returned parcel reaches our warehouse in Lyon.`;

const SHIPPING = `# Shipping

Orders above 50 euros ship free of charge. Standard delivery takes three to five working days.`;

async function startWithDocuments(env: Record<string, string> = {}): Promise<TestServer> {
  const server = await startTestServer(env, { tokenCount: 5, seed: 9 });
  const form = new FormData();
  form.append('file', new Blob([REFUNDS]), 'refunds.md');
  form.append('file', new Blob([SHIPPING]), 'shipping.md');
  const response = await fetch(`${server.url}/api/documents`, { method: 'POST', body: form });
  expect(response.status).toBeLessThan(300);
  return server;
}

async function sourcesOf(server: TestServer, message: string): Promise<SourcesEvent> {
  const result = await readSse(`${server.url}/api/chat/stream`, { body: { message } });
  expect(result.status).toBe(200);
  const events: RunEvent[] = result.frames.map((frame) => frame.data);
  expect(events.at(-1)).toMatchObject({ type: 'done', finishReason: 'stop' });
  const sources = events.filter((event): event is SourcesEvent => event.type === 'sources');
  expect(sources).toHaveLength(1);
  return sources[0]!;
}

describe('match of the sources event, BM25 only', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startWithDocuments();
  });
  afterAll(async () => {
    await server.close();
  });

  it('a question the documents answer is strong', async () => {
    const event = await sourcesOf(server, 'When are refunds issued after the parcel reaches the warehouse?');
    expect(event.sources[0]?.title).toMatch(/Refund/u);
    expect(event.match).toEqual({ quality: 'strong', topScore: 1, matchedTerms: 6, queryTerms: 6 });
  });

  it('a question the documents touch on is weak', async () => {
    const event = await sourcesOf(server, 'Do refunds cover bicycle helmets bought with vouchers?');
    expect(event.sources.length).toBeGreaterThan(0);
    expect(event.match.quality).toBe('weak');
    expect(event.match.matchedTerms).toBe(1);
    expect(event.match.topScore).toBeLessThan(0.6);
  });

  it('an unrelated question is none, with no sources', async () => {
    const event = await sourcesOf(server, 'What is the capital of Mongolia?');
    expect(event.sources).toEqual([]);
    expect(event.match).toEqual({ quality: 'none', topScore: 0, matchedTerms: 0, queryTerms: 2 });
  });

  it('POST /api/chat returns the match with the answer', async () => {
    const strong = await call(server, '/api/chat', { json: { message: 'free shipping above 50 euros?' } });
    expect(strong.status).toBe(200);
    expect(strong.body.match).toMatchObject({ quality: 'strong' });
    const none = await call(server, '/api/chat', { json: { message: 'Who painted the Mona Lisa?' } });
    expect(none.body.match).toMatchObject({ quality: 'none' });
  });
});

describe('match of the sources event, with vector search', () => {
  let server: TestServer;
  beforeAll(async () => {
    // The fake upstream embeds as a bag of words: cosine similarity follows the words shared.
    server = await startWithDocuments({ EMBEDDING_MODEL: 'bge-m3' });
  });
  afterAll(async () => {
    await server.close();
  });

  it('is strong for a matching question and reports the best cosine similarity', async () => {
    const event = await sourcesOf(server, 'When are refunds issued after the parcel reaches the warehouse?');
    expect(event.match.quality).toBe('strong');
    expect(event.match.similarity).toBeGreaterThan(0.3);
  });

  it('an unrelated question gets the nearest passages anyway, marked weak: found by meaning, no term shared', async () => {
    const event = await sourcesOf(server, 'What is the capital of Mongolia?');
    expect(event.sources.length).toBeGreaterThan(0);
    expect(event.match).toMatchObject({ quality: 'weak', matchedTerms: 0, topScore: 0 });
    expect(event.match.similarity).toBeLessThan(0.3);
  });
});
