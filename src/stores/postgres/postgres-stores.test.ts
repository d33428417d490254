// The PostgreSQL stores: the conformance suite on a fresh database per test, then what only a shared server shows
// (NUL characters, concurrent charges, several instances on one database, a cancelled read). Skips, saying why,
// without a PostgreSQL server at DATABASE_URL.

import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createTestDatabase, postgresSkipReason, type TestDatabase } from '../../../test/helpers/postgres.ts';
import { checkRememberedChatbot } from '../remembered-chatbot.conformance.ts';
import { describeRoomStoreConformance } from '../room-store.conformance.ts';
import {
  checkCheckpointedSourcesKept,
  checkSourcesAfterOwnerLost,
  describeStoreConformance,
} from '../store.conformance.ts';
import type { StoreOptions, Stores } from '../stores.ts';
import { connect, migrate } from './database.ts';
import { openPostgresStores } from './postgres-stores.ts';
import { STREAMING_STALE_AFTER_MS } from '../../core/conversation-store.ts';

const skipped = postgresSkipReason !== undefined;

describe.skipIf(skipped)(`postgres stores${skipped ? ` (skipped: ${postgresSkipReason})` : ''}`, () => {
  // A migrated template, copied for each test: a copy takes about 0.1 s, creating and migrating a database 0.4 s.
  let template: TestDatabase;
  let admin: postgres.Sql;
  const copies: string[] = [];

  beforeAll(async () => {
    template = await createTestDatabase('pgstores_template');
    const sql = connect(template.url, { max: 1 });
    try {
      await migrate(sql);
    } finally {
      await sql.end();
    }
    admin = postgres(process.env.DATABASE_URL ?? '', { max: 4, onnotice: () => {} });
  });

  afterAll(async () => {
    await Promise.all(copies.map((name) => admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)));
    await admin?.end({ timeout: 1 });
    await template?.drop();
  }, 120_000);

  /** A fresh, migrated database's URL (dropped after the file's tests). */
  async function freshDatabase(): Promise<string> {
    const name = `${template.name}_${copies.length + 1}`;
    copies.push(name);
    await admin.unsafe(`CREATE DATABASE ${name} TEMPLATE ${template.name}`);
    const url = new URL(template.url);
    url.pathname = `/${name}`;
    return url.toString();
  }

  async function openFresh(options: StoreOptions = {}): Promise<Stores> {
    return openPostgresStores(await freshDatabase(), { ...options, poolMax: 4 });
  }

  describeStoreConformance('postgres', openFresh);
  describeRoomStoreConformance('postgres', () => openFresh());

  describe('postgres only', () => {
    it('stores NUL characters as U+FFFD instead of failing', async () => {
      const stores = await openFresh();
      try {
        const conversation = await stores.conversations.createConversation('alice', 'default');
        await stores.conversations.appendMessage({
          id: 'q1',
          conversationId: conversation.id,
          role: 'user',
          content: 'nul\0here',
          createdAt: 1,
          metadata: { 'key\0': 'value\0', nested: ['\0'] },
        });
        await stores.conversations.appendMessage({
          id: 'a1',
          conversationId: conversation.id,
          role: 'assistant',
          content: '',
          createdAt: 2,
          status: 'streaming',
        });
        await stores.conversations.checkpointMessage('a1', {
          content: 'so\0far',
          sources: [{ id: '1', documentId: 'd', title: 't\0', snippet: 's', score: 1 }],
        });
        const [question, answer] = await stores.conversations.listMessages(conversation.id);
        expect(question).toMatchObject({
          content: 'nul\uFFFDhere',
          metadata: { 'key\uFFFD': 'value\uFFFD', nested: ['\uFFFD'] },
        });
        expect(answer).toMatchObject({ content: 'so\uFFFDfar', sources: [{ title: 't\uFFFD' }] });
        expect((await stores.conversations.getConversation(conversation.id))?.title).toBe('nul\uFFFDhere');

        const bot = await stores.chatbots.putChatbot({
          id: 'bot',
          name: 'Bot\0',
          collectionId: 'docs',
          systemPrompt: 'Be\0brief',
          temperature: null,
          maxTokens: null,
          glossary: [{ term: 'a\0', definition: 'b' }],
        });
        expect(bot).toMatchObject({
          name: 'Bot\uFFFD',
          systemPrompt: 'Be\uFFFDbrief',
          glossary: [{ term: 'a\uFFFD' }],
        });

        const entry = await stores.answerCache.put({
          chatbotId: 'default',
          scope: 'org:',
          conversationId: null,
          echoedWords: ['\0'],
          normalizedQuestion: 'what\0',
          question: 'what\0',
          answer: 'this\0',
          sources: [],
          usage: null,
          documentVersions: {},
        });
        expect(entry).toBeDefined();
        // The lookup maps the question the same way, so a repeat still finds it.
        expect(await stores.answerCache.findExact('default', 'org:', 'what\0')).toMatchObject({
          question: 'what\uFFFD',
          answer: 'this\uFFFD',
          echoedWords: ['\uFFFD'],
        });
        await stores.tokenUsage.charge([{ scope: 'principal', subject: 'user:\0' }], 5, '2026-01-01');
        expect(await stores.tokenUsage.spent('principal', 'user:\0', '2026-01-01')).toBe(5);
      } finally {
        await stores.close();
      }
    });

    it('adds up token charges made at once from two instances exactly', async () => {
      const url = await freshDatabase();
      const first = await openPostgresStores(url, { poolMax: 10 });
      const second = await openPostgresStores(url, { poolMax: 10 });
      try {
        const shop = { scope: 'chatbot' as const, subject: 'shop' };
        const ana = { scope: 'principal' as const, subject: 'user:ana' };
        await Promise.all(
          Array.from({ length: 20 }, (_, index) =>
            (index % 2 === 0 ? first : second).tokenUsage.charge(
              // Half name the rows in the other order: the charges must queue, not deadlock.
              index % 4 < 2 ? [shop, ana] : [ana, shop],
              index + 1,
              '2026-11-24',
            ),
          ),
        );
        expect(await first.tokenUsage.spent('chatbot', 'shop', '2026-11-24')).toBe(210);
        expect(await second.tokenUsage.spent('principal', 'user:ana', '2026-11-24')).toBe(210);
      } finally {
        await first.close();
        await second.close();
      }
    });

    it('lets two instances on one database see each other’s writes', async () => {
      const url = await freshDatabase();
      const first = await openPostgresStores(url);
      const second = await openPostgresStores(url);
      try {
        const conversation = await first.conversations.createConversation('alice', 'default');
        await first.conversations.appendMessage({
          id: 'q1',
          conversationId: conversation.id,
          role: 'user',
          content: 'hello',
          createdAt: conversation.createdAt,
        });
        expect(
          (await second.conversations.listMessages(conversation.id)).map((message) => message.id),
        ).toEqual(['q1']);
        await second.chatbots.putChatbot({
          id: 'shared',
          name: 'Shared',
          collectionId: 'docs',
          orgId: 'acme',
          systemPrompt: null,
          temperature: null,
          maxTokens: null,
          glossary: [],
        });
        expect(await first.chatbots.collectionOwner('docs')).toEqual({ orgId: 'acme' });
        const entry = await first.answerCache.put({
          chatbotId: 'default',
          scope: 'org:',
          conversationId: conversation.id,
          echoedWords: [],
          normalizedQuestion: 'hello',
          question: 'hello',
          answer: 'hi',
          sources: [],
          usage: null,
          documentVersions: {},
        });
        expect((await second.answerCache.findExact('default', 'org:', 'hello'))?.id).toBe(entry?.id);
        // Deleting the conversation on one instance forgets the answer the other cached for it.
        expect(await second.conversations.deleteConversation(conversation.id)).toBe(true);
        expect(await first.answerCache.findExact('default', 'org:', 'hello')).toBeUndefined();
        const { token } = await first.apiKeys.createApiKey({ name: 'k', orgId: null, admin: true });
        expect(await second.apiKeys.verifyApiKey(token)).toMatchObject({ admin: true });
      } finally {
        await first.close();
        await second.close();
      }
    });

    it('creates a conversation on a remembered chatbot only while its row is still the version read', async () => {
      const url = await freshDatabase();
      const first = await openPostgresStores(url);
      const second = await openPostgresStores(url);
      const sql = postgres(url, { max: 1, onnotice: () => {} });
      try {
        await checkRememberedChatbot(first, second, (text) => sql.unsafe(text));
      } finally {
        await sql.end();
        await first.close();
        await second.close();
      }
    });

    it('sends an answer’s sources once: its final store keeps those its checkpoint stored', async () => {
      const url = await freshDatabase();
      const stores = await openPostgresStores(url);
      const sql = postgres(url, { max: 1, onnotice: () => {} });
      try {
        await checkCheckpointedSourcesKept(
          stores,
          (messageId) =>
            sql`UPDATE messages SET sources = jsonb_set(sources, '{0,title}', '"Kept"') WHERE id = ${messageId}`,
        );
      } finally {
        await sql.end();
        await stores.close();
      }
    });

    it('ends an answer with its sources after another instance took its owner for dead and ended it', async () => {
      const url = await freshDatabase();
      const owner = await openPostgresStores(url);
      const other = await openPostgresStores(url);
      try {
        await checkSourcesAfterOwnerLost(owner, other);
      } finally {
        await owner.close();
        await other.close();
      }
    });

    it('marks a stale streaming answer interrupted and leaves a fresh one (another instance’s) alone', async () => {
      const stores = await openFresh();
      try {
        const conversations = stores.conversations;
        const conversation = await conversations.createConversation('alice', 'default');
        const now = Date.now();
        const answer = (id: string, createdAt: number) => ({
          id,
          conversationId: conversation.id,
          role: 'assistant' as const,
          content: '',
          createdAt,
          status: 'streaming' as const,
          runId: `run_${id}`,
        });
        const stale = now - STREAMING_STALE_AFTER_MS - 60_000;
        // Started long ago, never saved since: its process died.
        await conversations.appendMessage(answer('dead', stale));
        // Started long ago, last checkpointed long ago too.
        await conversations.appendMessage(answer('silent', stale));
        vi.useFakeTimers({ toFake: ['Date'] });
        try {
          vi.setSystemTime(stale + 1000);
          await conversations.checkpointMessage('silent', { content: 'early text' });
        } finally {
          vi.useRealTimers();
        }
        // Started long ago, but checkpointed a moment ago: a long answer another instance is streaming.
        await conversations.appendMessage(answer('long', stale));
        await conversations.checkpointMessage('long', { content: 'still going' });
        // Started a moment ago.
        await conversations.appendMessage(answer('fresh', now));
        expect(await conversations.interruptStreamingMessages()).toBe(2);
        expect(await conversations.findMessageByRun('run_dead')).toMatchObject({ status: 'interrupted' });
        expect(await conversations.findMessageByRun('run_silent')).toMatchObject({
          status: 'interrupted',
          content: 'early text',
        });
        expect(await conversations.findMessageByRun('run_long')).toMatchObject({
          status: 'streaming',
          content: 'still going',
        });
        expect(await conversations.findMessageByRun('run_fresh')).toMatchObject({ status: 'streaming' });
      } finally {
        await stores.close();
      }
    });

    it('gives up on a history read or a cache lookup when the run’s signal aborts', async () => {
      const url = await freshDatabase();
      // One connection: once the lock goes, the pool serves again.
      const stores = await openPostgresStores(url, { poolMax: 1 });
      const other = postgres(url, { max: 1, onnotice: () => {} });
      try {
        const conversation = await stores.conversations.createConversation('alice', 'default');
        const cancelled = new Error('run cancelled');
        await expect(
          stores.conversations.listMessages(conversation.id, 10, AbortSignal.abort(cancelled)),
        ).rejects.toBe(cancelled);
        await expect(
          stores.answerCache.findExact('default', 'org:', 'q', AbortSignal.abort(cancelled)),
        ).rejects.toBe(cancelled);
        // A read stuck behind a lock ends when the signal aborts, not when the lock goes.
        let release = (): void => {};
        const held = new Promise<void>((resolve) => {
          release = resolve;
        });
        let locked = (): void => {};
        const lockTaken = new Promise<void>((resolve) => {
          locked = resolve;
        });
        const holder = other.begin(async (tx) => {
          await tx`LOCK TABLE messages IN ACCESS EXCLUSIVE MODE`;
          locked();
          await held;
        });
        await lockTaken;
        const controller = new AbortController();
        const started = performance.now();
        const read = stores.conversations.listMessages(conversation.id, 10, controller.signal);
        setTimeout(() => controller.abort(cancelled), 100);
        await expect(read).rejects.toBe(cancelled);
        expect(performance.now() - started).toBeLessThan(2000);
        release();
        await holder;
        // The pool is fine afterwards.
        expect(await stores.conversations.listMessages(conversation.id)).toEqual([]);
      } finally {
        await other.end({ timeout: 1 });
        await stores.close();
      }
    });

    it('leaves similar-question lookups off without pgvector, still caching answers with their embedding', async () => {
      const stores = await openFresh();
      try {
        if (stores.vectors.available) return;
        expect(stores.vectors.error).toMatch(/pgvector/);
        const space = { model: 'test:bow', dimensions: 2 };
        const vector = Float32Array.of(0.6, 0.8);
        const entry = await stores.answerCache.put({
          chatbotId: 'default',
          scope: 'org:',
          conversationId: null,
          echoedWords: [],
          normalizedQuestion: 'q',
          question: 'q',
          answer: 'a',
          sources: [],
          usage: { inputTokens: 1, outputTokens: 2 },
          documentVersions: {},
          embedding: { space, vector },
        });
        expect(await stores.answerCache.findSimilar('default', 'org:', space, vector, 0.5)).toBeUndefined();
        expect(await stores.answerCache.findExact('default', 'org:', 'q')).toEqual(entry);
      } finally {
        await stores.close();
      }
    });
  });
});
