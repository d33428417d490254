// A small installation with one of everything an export carries, written through the store contracts: chatbots
// (the default one and a configured one), API keys (one revoked), token usage, documents with chunks and 4-dimension
// vectors in two collections, and conversations whose messages carry usage, timings, sources and metadata.

import type { Stores } from '../../src/stores/stores.ts';

export const TINY_SPACE = { model: 'test:tiny', dimensions: 4 };

export interface FilledInstallation {
  /** An active API key's token: it must still verify after a move (its hash moved with it). */
  token: string;
  conversationId: string;
  documentId: string;
}

/** A vector pointing mostly along one axis, so nearest-neighbour order is easy to predict. */
function axis(index: number, tilt = 0.1): Float32Array {
  const vector = new Float32Array([tilt, tilt / 2, tilt / 3, tilt / 4]);
  vector[index % 4] = 1;
  return vector;
}

export async function fillInstallation(stores: Stores): Promise<FilledInstallation> {
  await stores.chatbots.putChatbot({
    id: 'default',
    name: 'Default',
    collectionId: 'default',
    systemPrompt: null,
    temperature: null,
    maxTokens: null,
    glossary: [],
  });
  await stores.chatbots.putChatbot({
    id: 'support',
    name: 'Support «bot» ✓',
    collectionId: 'manuals',
    systemPrompt: 'Answer briefly.\nCite sources.',
    temperature: 0.35,
    maxTokens: 700,
    glossary: [{ term: 'RMA', definition: 'Return merchandise authorisation', synonyms: ['return number'] }],
    orgId: 'acme',
    model: 'gpt-4o-mini',
    providers: ['ollama', 'openai:gpt-4o-mini'],
    visibility: 'public',
    allowedOrigins: ['https://shop.example'],
    limits: { tokensPerDay: 50_000, maxDurationMs: 90_000, stallTimeoutMs: null },
  });

  const { token } = await stores.apiKeys.createApiKey({ name: 'ci', orgId: 'acme', admin: false });
  const revoked = await stores.apiKeys.createApiKey({ name: 'old admin', orgId: null, admin: true });
  await stores.apiKeys.revokeApiKey(revoked.key.id);

  await stores.tokenUsage.charge(
    [
      { scope: 'chatbot', subject: 'support' },
      { scope: 'principal', subject: 'user:alice' },
    ],
    1234,
    '2025-01-15',
  );
  await stores.tokenUsage.charge([{ scope: 'chatbot', subject: 'default' }], 99, '2025-01-16');

  const refunds = await stores.documents.upsertDocument(
    {
      collectionId: 'manuals',
      source: 'policies/refunds.md',
      title: 'Refund policy',
      mediaType: 'text/markdown',
      contentHash: 'sha256:refunds',
      metadata: { lang: 'en', tags: ['billing', 'refunds'], nested: { z: 1, a: [true, null, 2.5] } },
      bytes: 2048,
      ownerId: 'user:alice',
      embeddingSpace: TINY_SPACE,
    },
    [
      {
        ordinal: 0,
        heading: 'Refunds',
        text: 'Refunds are paid within 14 days of the return.',
        embedding: axis(0),
      },
      {
        ordinal: 1,
        heading: 'Refunds > Exceptions',
        text: 'Gift cards cannot be refunded. Sale items: store credit only.',
        metadata: { page: 2 },
        embedding: axis(1),
      },
    ],
  );
  await stores.documents.upsertDocument(
    {
      collectionId: 'manuals',
      source: 'shipping.md',
      title: 'Shipping',
      mediaType: 'text/markdown',
      contentHash: 'sha256:shipping',
      bytes: 512,
      embeddingSpace: TINY_SPACE,
    },
    [
      {
        ordinal: 0,
        heading: 'Shipping',
        text: 'Orders ship in two working days; returns ship free.',
        embedding: axis(2),
      },
      {
        ordinal: 1,
        heading: 'Shipping > Abroad',
        text: 'International orders take a week.',
        embedding: axis(3),
      },
    ],
  );
  await stores.documents.upsertDocument(
    {
      collectionId: 'default',
      source: 'guide.md',
      title: 'Guide — ünïcödé',
      mediaType: 'text/markdown',
      contentHash: 'sha256:guide',
      bytes: 100,
      embeddingSpace: TINY_SPACE,
    },
    [
      {
        ordinal: 0,
        heading: '',
        text: 'Rivulet streams answers. Emoji survive: 🚀',
        embedding: axis(0, 0.3),
      },
    ],
  );

  const conversation = await stores.conversations.createConversation('user:alice', 'support');
  await stores.conversations.appendMessage({
    id: 'msg_q1',
    conversationId: conversation.id,
    role: 'user',
    content: 'How long do refunds take?',
    createdAt: 1_736_900_000_000,
    metadata: { page: '/help', locale: 'en-GB', ids: [1, 2], flags: { beta: true } },
  });
  const [hit] = await stores.documents.searchText('manuals', 'refunds days', 1);
  await stores.conversations.appendMessage({
    id: 'msg_a1',
    conversationId: conversation.id,
    role: 'assistant',
    content: 'Within 14 days [1].',
    createdAt: 1_736_900_001_000,
    status: 'complete',
    runId: 'run_1',
    finishReason: 'stop',
    usage: { inputTokens: 812, outputTokens: 9 },
    timings: { ttftMs: 321, totalMs: 900, phases: { retrieve: 12, generate: 850 } },
    sources: [
      {
        id: '1',
        documentId: refunds.document.id,
        chunkId: hit?.id ?? 'missing',
        title: 'Refund policy',
        uri: 'policies/refunds.md',
        snippet: 'Refunds are paid within 14 days',
        score: 0.8125,
      },
    ],
    cached: false,
  });
  await stores.conversations.appendMessage({
    id: 'msg_q2',
    conversationId: conversation.id,
    role: 'user',
    content: 'And gift cards?',
    createdAt: 1_736_900_002_000,
  });
  await stores.conversations.appendMessage({
    id: 'msg_a2',
    conversationId: conversation.id,
    role: 'assistant',
    content: 'They cannot be refun',
    createdAt: 1_736_900_003_000,
    status: 'failed',
    runId: 'run_2',
    finishReason: 'error',
    errorCode: 'UPSTREAM_UNAVAILABLE',
    usage: null,
    timings: { ttftMs: null, totalMs: 4000, phases: {} },
    cached: true,
  });
  const anonymous = await stores.conversations.createConversation(null, 'default');
  await stores.conversations.appendMessage({
    id: 'msg_q3',
    conversationId: anonymous.id,
    role: 'user',
    content: 'Hello',
    createdAt: 1_736_900_004_000,
  });
  return { token, conversationId: conversation.id, documentId: refunds.document.id };
}
