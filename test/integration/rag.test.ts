// The RAG pipeline end to end over real HTTP: upload documents, ask, get phases, sources before tokens, numbered
// citations in the prompt, the stored message, the answer cache and its invalidation, conversation history.

import { PDFDocument, StandardFonts } from 'pdf-lib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RunEvent, Source } from '../../src/core/events.ts';
import type { IngestSummary } from '../../src/retrieval/ingest.ts';
import { lastEvent, readSse, tokenText, type SseReadResult } from '../helpers/sse-client.ts';
import { startTestServer, type TestServer } from '../helpers/test-server.ts';
import { REFUNDS, SHIPPING } from '../helpers/refund-corpus.ts';

type Events = RunEvent[];
const events = (result: SseReadResult): Events => result.frames.map((frame) => frame.data);
const ofType = <T extends RunEvent['type']>(list: Events, type: T) =>
  list.filter((event): event is Extract<RunEvent, { type: T }> => event.type === type);

async function upload(
  server: TestServer,
  files: Record<string, string | Uint8Array<ArrayBuffer>>,
  query = '',
  headers: Record<string, string> = {},
): Promise<Response> {
  const form = new FormData();
  for (const [name, content] of Object.entries(files)) form.append('file', new Blob([content]), name);
  return fetch(`${server.url}/api/documents${query}`, { method: 'POST', body: form, headers });
}

function ask(
  server: TestServer,
  message: string,
  extra: Record<string, unknown> = {},
): Promise<SseReadResult> {
  return readSse(`${server.url}/api/chat/stream`, { body: { message, ...extra } });
}

function chatRequests(server: TestServer) {
  return server.upstream.requests.filter((request) => request.url.endsWith('/chat/completions'));
}

function systemPromptOf(request: { body: unknown } | undefined): string {
  return (request?.body as { messages: { role: string; content: string }[] }).messages[0]?.content ?? '';
}

describe('RAG over uploaded documents', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({}, { tokens: ['Refunds take ', '14 days ', '[1].'] });
    const response = await upload(server, { 'refunds.md': REFUNDS, 'shipping.md': SHIPPING });
    expect(response.status).toBe(200);
    const summary = (await response.json()) as IngestSummary;
    expect(summary).toMatchObject({ added: 2, failed: 0 });
  });
  afterAll(async () => {
    await server.close();
  });

  it('streams phases, then sources, then tokens citing those sources, and stores them', async () => {
    server.upstream.reset();
    const result = await ask(server, 'How soon are refunds issued?');
    const list = events(result);
    expect(ofType(list, 'phase').map((event) => `${event.name}:${event.state}`)).toEqual([
      'history:start',
      'history:end',
      'cache:start',
      'cache:end',
      'retrieve:start',
      'retrieve:end',
      'generate:start',
      'generate:end',
    ]);
    for (const phase of ofType(list, 'phase').filter((event) => event.state === 'end')) {
      expect(phase.durationMs).toBeGreaterThanOrEqual(0);
    }
    const sourcesIndex = list.findIndex((event) => event.type === 'sources');
    const firstToken = list.findIndex((event) => event.type === 'token');
    expect(sourcesIndex).toBeGreaterThan(0);
    expect(sourcesIndex).toBeLessThan(firstToken);
    const sources = ofType(list, 'sources')[0]?.sources ?? [];
    expect(sources[0]).toMatchObject({
      id: '1',
      title: 'Refund policy > Timing',
      uri: 'refunds.md',
    });
    expect(sources[0]?.snippet).toContain('14 days');

    // The prompt numbers the same passages in the same order.
    const prompt = systemPromptOf(chatRequests(server)[0]);
    expect(prompt).toContain('Cite the sources you use with their numbers in square brackets');
    expect(prompt).toMatch(/\[1\] Refund policy > Timing\nRefunds are issued within 14 days/);

    const done = lastEvent(result.frames);
    expect(done).toMatchObject({ type: 'done', text: 'Refunds take 14 days [1].', cached: false });
    const start = list[0] as Extract<RunEvent, { type: 'start' }>;
    await server.app.chat.settled();
    const stored = await server.app.stores.conversations.listMessages(start.conversationId);
    expect(stored.at(-1)).toMatchObject({
      role: 'assistant',
      status: 'complete',
      content: 'Refunds take 14 days [1].',
      sources,
      cached: false,
    });
    expect(stored.at(-1)?.timings?.phases).toHaveProperty('retrieve');
  });

  it('answers a repeated question from the cache, and misses once the cited document changed', async () => {
    const question = 'Which items can never be refunded?';
    const first = await ask(server, question);
    expect(lastEvent(first.frames)).toMatchObject({ type: 'done', cached: false });
    await server.app.chat.settled();
    const before = chatRequests(server).length;

    const second = await ask(server, '  which items can NEVER be refunded ');
    const done = lastEvent(second.frames);
    expect(done).toMatchObject({ type: 'done', cached: true, text: tokenText(first.frames) });
    expect(tokenText(second.frames)).toBe(tokenText(first.frames));
    expect(ofType(events(second), 'sources')[0]?.sources).toEqual(
      ofType(events(first), 'sources')[0]?.sources,
    );
    expect(ofType(events(second), 'phase').map((event) => event.name)).not.toContain('generate');
    expect(chatRequests(server).length).toBe(before);

    const changed = await upload(server, { 'refunds.md': `${REFUNDS}\n\nSale items are final.` });
    expect(((await changed.json()) as IngestSummary).updated).toBe(1);
    const third = await ask(server, question);
    expect(lastEvent(third.frames)).toMatchObject({ type: 'done', cached: false });
    expect(chatRequests(server).length).toBe(before + 1);
  });

  it('never answers a follow-up that was not made standalone from the shared cache', async () => {
    // With QUERY_ENHANCE on, a follow-up is condensed first; here the fake's answer is the condensed question, so
    // turn condensing off through a server of its own to see the guard.
    const plain = await startTestServer({ QUERY_ENHANCE: 'false' }, { tokens: ['Gift cards [1].'] });
    try {
      await upload(plain, { 'refunds.md': REFUNDS });
      const question = 'What cannot be refunded?';
      await ask(plain, question);
      await plain.app.chat.settled();
      expect(lastEvent((await ask(plain, question)).frames)).toMatchObject({ cached: true });
      const opener = await ask(plain, 'Hello, I bought a gift card.');
      const start = events(opener)[0] as Extract<RunEvent, { type: 'start' }>;
      await plain.app.chat.settled();
      const followUp = await ask(plain, question, { conversationId: start.conversationId });
      expect(lastEvent(followUp.frames)).toMatchObject({ type: 'done', cached: false });
      expect(ofType(events(followUp), 'phase').map((event) => event.name)).not.toContain('cache');
    } finally {
      await plain.close();
    }
  });

  it('re-uploading unchanged content is a no-op', async () => {
    const response = await upload(server, { 'shipping.md': SHIPPING });
    expect(await response.json()).toMatchObject({ unchanged: 1, added: 0, updated: 0 });
  });

  it('lists, reads and deletes documents; a deleted document is no longer a source', async () => {
    const list = (await (await fetch(`${server.url}/api/documents`)).json()) as {
      documents: { id: string; source: string; chunkCount: number }[];
      total: number;
    };
    expect(list.total).toBe(2);
    const shipping = list.documents.find((document) => document.source === 'shipping.md');
    expect(shipping?.chunkCount).toBeGreaterThan(0);
    const one = await fetch(`${server.url}/api/documents/${shipping?.id}`);
    expect(await one.json()).toMatchObject({ source: 'shipping.md', mediaType: 'text/markdown' });

    const removed = await fetch(`${server.url}/api/documents/${shipping?.id}`, { method: 'DELETE' });
    expect(removed.status).toBe(204);
    const again = await fetch(`${server.url}/api/documents/${shipping?.id}`, { method: 'DELETE' });
    expect(again.status).toBe(404);
    expect(await again.json()).toMatchObject({ error: { code: 'DOCUMENT_NOT_FOUND' } });
    const result = await ask(server, 'Is shipping free above 50 euros?');
    const sources = ofType(events(result), 'sources')[0]?.sources ?? [];
    expect(sources.map((source: Source) => source.uri)).not.toContain('shipping.md');
  });

  it('lists conversations with their messages, and deletes them', async () => {
    const result = await ask(server, 'A question for the history list');
    const start = events(result)[0] as Extract<RunEvent, { type: 'start' }>;
    await server.app.chat.settled();
    const listed = (await (await fetch(`${server.url}/api/conversations?limit=100`)).json()) as {
      conversations: { id: string; title: string }[];
    };
    expect(listed.conversations[0]).toMatchObject({
      id: start.conversationId,
      title: 'A question for the history list',
    });
    const messages = (await (
      await fetch(`${server.url}/api/conversations/${start.conversationId}/messages`)
    ).json()) as { messages: { role: string; sources?: Source[] }[] };
    expect(messages.messages.map((message) => message.role)).toEqual(['user', 'assistant']);
    expect(Array.isArray(messages.messages[1]?.sources)).toBe(true);

    expect(
      (await fetch(`${server.url}/api/conversations/${start.conversationId}`, { method: 'DELETE' })).status,
    ).toBe(204);
    const gone = await fetch(`${server.url}/api/conversations/${start.conversationId}/messages`);
    expect(gone.status).toBe(404);
    expect(await gone.json()).toMatchObject({ error: { code: 'CONVERSATION_NOT_FOUND' } });
    const firstPage = (await (await fetch(`${server.url}/api/conversations?limit=1`)).json()) as {
      conversations: { id: string }[];
      nextCursor: string | null;
    };
    expect(firstPage.nextCursor).toMatch(/^\d+:conv_/);
    const secondPage = (await (
      await fetch(
        `${server.url}/api/conversations?limit=1&after=${encodeURIComponent(firstPage.nextCursor ?? '')}`,
      )
    ).json()) as { conversations: { id: string }[] };
    expect(secondPage.conversations[0]?.id).not.toBe(firstPage.conversations[0]?.id);
    const badCursor = await fetch(`${server.url}/api/conversations?after=yesterday`);
    expect(badCursor.status).toBe(400);
    const bad = await fetch(`${server.url}/api/conversations?limit=0`);
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: { code: 'VALIDATION_FAILED' } });
  });

  it('refuses an unknown chatbot before any run exists', async () => {
    const result = await ask(server, 'hello', { chatbotId: 'nope' });
    expect(result.status).toBe(404);
    const response = await fetch(`${server.url}/api/documents?chatbotId=nope`);
    expect(await response.json()).toMatchObject({ error: { code: 'CHATBOT_NOT_FOUND' } });
  });
});

describe('uploads that go wrong', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ DOCUMENT_MAX_BYTES: '2048' });
  });
  afterAll(async () => {
    await server.close();
  });

  it('reports a corrupt PDF by name and still ingests the rest of the batch', async () => {
    const pdf = await PDFDocument.create();
    pdf.addPage().drawText('The tide tables are printed monthly.', {
      font: await pdf.embedFont(StandardFonts.Helvetica),
      x: 50,
      y: 700,
    });
    const response = await upload(server, {
      'broken.pdf': '%PDF-1.7\n1 0 obj << /Type /Catalog >> garbage',
      'notes.txt': 'Plain notes about the lighthouse keeper.',
      'tides.pdf': new Uint8Array(await pdf.save()),
    });
    expect(response.status).toBe(200);
    const summary = (await response.json()) as IngestSummary;
    expect(summary).toMatchObject({ added: 2, failed: 1 });
    const failed = summary.results.find((result) => result.status === 'failed');
    expect(failed?.error?.code).toBe('DOCUMENT_UNREADABLE');
    expect(failed?.error?.message).toContain('broken.pdf');
    const result = await ask(server, 'lighthouse keeper');
    expect(ofType(events(result), 'sources')[0]?.sources[0]?.uri).toBe('notes.txt');
    const tides = await ask(server, 'When are the tide tables printed?');
    expect(ofType(events(tides), 'sources')[0]?.sources[0]?.uri).toBe('tides.pdf');
  });

  it('answers with the file’s code and status when the only file fails', async () => {
    const unsupported = await upload(server, { 'image.png': 'not really' });
    expect(unsupported.status).toBe(415);
    expect(await unsupported.json()).toMatchObject({
      error: { code: 'DOCUMENT_UNSUPPORTED_TYPE' },
      failed: 1,
    });
    const large = await upload(server, { 'big.txt': 'x '.repeat(5000) });
    expect(large.status).toBe(413);
    expect(await large.json()).toMatchObject({ error: { code: 'DOCUMENT_TOO_LARGE' } });
    const empty = await upload(server, { 'empty.txt': '' });
    expect(empty.status).toBe(422);
    expect(await empty.json()).toMatchObject({ error: { code: 'DOCUMENT_EMPTY' } });
  });

  it('refuses a body that is not multipart, and a multipart without files', async () => {
    const json = await fetch(`${server.url}/api/documents`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(json.status).toBe(415);
    expect(await json.json()).toMatchObject({ error: { code: 'UNSUPPORTED_MEDIA_TYPE' } });
    const form = new FormData();
    form.append('note', 'no file here');
    const noFile = await fetch(`${server.url}/api/documents`, { method: 'POST', body: form });
    expect(noFile.status).toBe(400);
    expect(await noFile.json()).toMatchObject({ error: { code: 'VALIDATION_FAILED' } });
  });

  it('refuses files past the per-upload limit, and reports the ones that went in', async () => {
    const files = Object.fromEntries(
      Array.from({ length: 101 }, (_, index) => [`n${index}.txt`, `note ${index}`]),
    );
    const response = await upload(server, files);
    expect(response.status).toBe(413);
    const body = (await response.json()) as IngestSummary & { error: { code: string; message: string } };
    expect(body.error.code).toBe('PAYLOAD_TOO_LARGE');
    expect(body.error.message).toContain('At most 100 files');
    expect(body.added).toBe(100);
  });

  it('scopes document ids to the chatbot’s collection', async () => {
    await server.app.stores.chatbots.putChatbot({
      id: 'other',
      name: 'Other',
      collectionId: 'other-docs',
      systemPrompt: null,
      temperature: null,
      maxTokens: null,
      glossary: [],
    });
    const summary = (await (
      await upload(server, { 'secret.txt': 'other bot only' }, '?chatbotId=other')
    ).json()) as IngestSummary;
    const id = summary.results[0]?.documentId ?? '';
    expect((await fetch(`${server.url}/api/documents/${id}?chatbotId=other`)).status).toBe(200);
    const wrongBot = await fetch(`${server.url}/api/documents/${id}`, { method: 'DELETE' });
    expect(wrongBot.status).toBe(404);
    expect(await wrongBot.json()).toMatchObject({ error: { code: 'DOCUMENT_NOT_FOUND' } });
    expect((await server.app.stores.documents.getDocument(id))?.source).toBe('secret.txt');
  });

  it('streams per-file progress as SSE when asked', async () => {
    const response = await upload(
      server,
      { 'a.txt': 'first file about apples', 'b.txt': 'second file about pears' },
      '',
      { accept: 'text/event-stream' },
    );
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const text = await response.text();
    const frames = text
      .trim()
      .split('\n\n')
      .map((frame) => ({
        event: /^event: (.*)$/mu.exec(frame)?.[1],
        data: JSON.parse(/^data: (.*)$/mu.exec(frame)?.[1] ?? 'null') as { type?: string },
      }));
    expect(frames.map((frame) => `${frame.event}:${frame.data.type ?? ''}`)).toEqual([
      'progress:file-start',
      'progress:file-done',
      'progress:file-start',
      'progress:file-done',
      'summary:',
    ]);
    expect(frames.at(-1)?.data).toMatchObject({ added: 2 });
  });
});

describe('query enhancement and glossary', () => {
  let server: TestServer;
  afterEach(async () => {
    await server.close();
  });

  it('condenses a follow-up with the history before searching', async () => {
    server = await startTestServer({}, { tokens: ['refund timing'] });
    await upload(server, { 'refunds.md': REFUNDS, 'shipping.md': SHIPPING });
    const first = await ask(server, 'Tell me about refunds');
    const start = events(first)[0] as Extract<RunEvent, { type: 'start' }>;
    await server.app.chat.settled();
    // "And how long?" alone matches nothing; condensed (the fake answers "refund timing") it finds the refunds page.
    const second = await ask(server, 'And how long?', { conversationId: start.conversationId });
    const list = events(second);
    expect(ofType(list, 'phase').map((event) => `${event.name}:${event.state}`)).toContain('enhance:end');
    expect(ofType(list, 'sources')[0]?.sources[0]?.uri).toBe('refunds.md');
  });

  it('expands glossary synonyms for retrieval and gives the definitions to the model', async () => {
    server = await startTestServer({ QUERY_ENHANCE: 'false' });
    await server.app.stores.chatbots.putChatbot({
      id: 'default',
      name: 'Default',
      collectionId: 'default',
      systemPrompt: null,
      temperature: null,
      maxTokens: null,
      glossary: [
        { term: 'RMA', definition: 'Return merchandise authorisation number', synonyms: ['return code'] },
      ],
    });
    await upload(server, { 'rma.md': '# Returns\n\nEvery parcel needs an RMA printed on the label.' });
    const result = await ask(server, 'Where do I put the return code?');
    expect(ofType(events(result), 'sources')[0]?.sources[0]?.uri).toBe('rma.md');
    const prompt = systemPromptOf(chatRequests(server)[0]);
    expect(prompt).toContain('- RMA: Return merchandise authorisation number');
  });
});

describe('reranking', () => {
  it('asks the model to judge the candidates when RERANK=llm, and keeps its pick', async () => {
    const server = await startTestServer({ RERANK: 'llm', QUERY_ENHANCE: 'false', RETRIEVAL_TOP_K: '1' });
    try {
      await upload(server, {
        'pie.txt': 'Apple pie recipe with cinnamon.',
        'juice.txt': 'Apple juice recipe, pressed.',
      });
      const lexical = await server.app.stores.documents.searchText('default', 'apple recipe', 10);
      expect(lexical).toHaveLength(2);
      // The judge prefers BM25's second hit; the answer is generated after it.
      server.upstream.enqueue({ tokens: ['{"scores": [1, 9]}'] }, { tokens: ['Answer.'] });
      const result = await ask(server, 'apple recipe');
      const list = events(result);
      expect(ofType(list, 'phase').map((event) => `${event.name}:${event.state}`)).toContain('rerank:end');
      expect(ofType(list, 'sources')[0]?.sources.map((source) => source.uri)).toEqual([lexical[1]?.source]);
      const judgeCall = chatRequests(server)[0]?.body as { messages: { content: string }[] };
      expect(judgeCall.messages[0]?.content).toContain('You rate how well passages answer a question');
    } finally {
      await server.close();
    }
  });
});

describe('without a language model', () => {
  it('quotes the best passages with citations and says no model is configured', async () => {
    const server = await startTestServer({ LLM_PROVIDER: 'none' });
    try {
      await upload(server, { 'refunds.md': REFUNDS, 'shipping.md': SHIPPING });
      const result = await ask(server, 'How soon are refunds issued?');
      const text = tokenText(result.frames);
      expect(text).toMatch(/^No language model is configured, so this is not a written answer/);
      expect(text).toContain('**[1] Refund policy > Timing**');
      expect(text).toContain(
        '> Refunds are issued within 14 days after the returned parcel reaches our warehouse in Lyon. [1]',
      );
      expect(text).toContain('LLM_BASE_URL and LLM_MODEL');
      expect(lastEvent(result.frames)).toMatchObject({ type: 'done', finishReason: 'stop', cached: false });
      // Extractive answers are never cached as if a model had written them.
      const again = await ask(server, 'How soon are refunds issued?');
      expect(lastEvent(again.frames)).toMatchObject({ type: 'done', cached: false });
    } finally {
      await server.close();
    }
  });
});

describe('with an embedding model', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({
      EMBEDDING_PROVIDER: 'openai-compatible',
      EMBEDDING_MODEL: 'fake-embed',
      ANSWER_CACHE_SIMILARITY: '0.8',
      QUERY_ENHANCE: 'false',
    });
    server.upstream.setScenario({ tokens: ['Within 14 days [1].'] });
    const response = await upload(server, { 'refunds.md': REFUNDS, 'shipping.md': SHIPPING });
    expect(((await response.json()) as IngestSummary).added).toBe(2);
  });
  afterAll(async () => {
    await server.close();
  });

  it('embeds the chunks at ingest and the question at query time', async () => {
    const embedCalls = server.upstream.requests.filter((request) => request.url.endsWith('/embeddings'));
    expect(embedCalls.length).toBeGreaterThan(0);
    const documents = await server.app.stores.documents.listDocuments('default');
    expect(documents.every((document) => document.embeddingModel === 'openai-compatible:fake-embed')).toBe(
      true,
    );
    const result = await ask(server, 'refund warehouse Lyon');
    expect(ofType(events(result), 'sources')[0]?.sources[0]?.uri).toBe('refunds.md');
  });

  it('answers a reworded question from the semantic cache', async () => {
    // (A question about its asker, "when is my refund issued?", is reused only word for word: see
    // answer-cache-privacy.test.ts.)
    const first = await ask(server, 'When is a refund issued?');
    expect(lastEvent(first.frames)).toMatchObject({ type: 'done', cached: false });
    await server.app.chat.settled();
    const reworded = await ask(server, 'Please, when is a refund issued?');
    expect(lastEvent(reworded.frames)).toMatchObject({
      type: 'done',
      cached: true,
      text: 'Within 14 days [1].',
    });
  });
});
