// An answer on PostgreSQL reads its collection's lexical generation with the write that stores its question, and its
// search ranks from the postings the process keeps at that generation without another statement. A document another
// instance stored before the question is in that answer's sources all the same: the generation is read after the
// question arrived. Runs in the `postgres` Vitest project only.

import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { RunEvent } from '../../src/core/events.ts';
import { PostgresLexicalIndex } from '../../src/stores/postgres/postgres-lexical.ts';
import { openPostgresStores } from '../../src/stores/postgres/postgres-stores.ts';
import type { Stores } from '../../src/stores/stores.ts';
import { createTestDatabase, postgresSkipReason, type TestDatabase } from '../helpers/postgres.ts';
import { lastEvent, readSse } from '../helpers/sse-client.ts';
import { startTestServer, type TestServer } from '../helpers/test-server.ts';

describe.skipIf(postgresSkipReason !== undefined)(
  'search at the generation the question was stored at',
  () => {
    let database: TestDatabase;
    let server: TestServer;
    let other: Stores;

    beforeAll(async () => {
      database = await createTestDatabase('search_generation');
      // No answer cache: every question is searched; a follow-up is searched as asked (not condensed).
      server = await startTestServer(
        { DATABASE_URL: database.url, ANSWER_CACHE: 'false', QUERY_ENHANCE: 'false' },
        { tokenCount: 5, seed: 2 },
      );
      other = await openPostgresStores(database.url, { poolMax: 2, migrate: false });
    });
    afterAll(async () => {
      await other.close();
      await server.close();
      await database.drop();
    });

    /** The conversation of the last answer asked. */
    let lastConversation = '';

    async function ask(message: string, conversationId?: string): Promise<string[]> {
      const answer = await readSse(`${server.url}/api/chat/stream`, {
        body: conversationId === undefined ? { message } : { message, conversationId },
      });
      expect(lastEvent(answer.frames)?.type).toBe('done');
      lastConversation = (answer.frames[0]?.data as Extract<RunEvent, { type: 'start' }>).conversationId;
      const sources = answer.frames.find((frame) => frame.data.type === 'sources')?.data as
        Extract<RunEvent, { type: 'sources' }> | undefined;
      return (sources?.sources ?? []).map((source) => source.title);
    }

    async function store(stores: Stores, source: string, title: string, text: string): Promise<void> {
      const chatbot = await server.app.stores.chatbots.getChatbot('default');
      await stores.documents.upsertDocument(
        {
          collectionId: chatbot?.collectionId ?? 'default',
          source,
          title,
          mediaType: 'text/plain',
          contentHash: `${source}:${text.length}`,
          bytes: text.length,
        },
        [{ ordinal: 0, heading: '', text }],
      );
    }

    /** The refunds document, stored by this instance (unchanged when it is there already). */
    function storeRefunds(): Promise<void> {
      return store(
        server.app.stores,
        'refunds.txt',
        'Refunds',
        'Refunds are issued within 14 days of a return.',
      );
    }

    /** The lexical index's ranking statements made from now on (its `read`), in every store of this process. */
    function rankingStatements() {
      return vi.spyOn(PostgresLexicalIndex.prototype as unknown as { read: () => Promise<unknown> }, 'read');
    }

    it('makes no ranking statement for a question whose postings are kept, and finds what another instance just stored', async () => {
      await storeRefunds();
      // The first answer reads the question's terms' postings, kept at the generation; the next need no statement.
      expect(await ask('How long do refunds take?')).toEqual(['Refunds']);
      const statements = rankingStatements();
      try {
        expect(await ask('How long do refunds take?')).toEqual(['Refunds']);
        expect(statements).not.toHaveBeenCalled();

        // Another instance stores a document; the next question, asked as soon as that write returned, finds it.
        await store(other, 'damaged.txt', 'Damaged goods', 'Refunds for damaged goods take 30 days.');
        expect((await ask('How long do refunds take?')).sort()).toEqual(['Damaged goods', 'Refunds']);
        expect(statements).toHaveBeenCalledTimes(1);
        // And removes it again: gone from the very next answer's sources.
        const damaged = await other.documents.findDocumentBySource(
          (await server.app.stores.chatbots.getChatbot('default'))?.collectionId ?? 'default',
          'damaged.txt',
        );
        expect(await other.documents.deleteDocument(damaged?.id ?? '')).toBe(true);
        expect(await ask('How long do refunds take?')).toEqual(['Refunds']);
      } finally {
        statements.mockRestore();
      }
    });

    it('reads a follow-up’s history and generation with its conversation: no history read, no ranking statement', async () => {
      // Its own documents: the refunds one, and no damaged-goods one yet.
      await storeRefunds();
      const collectionId =
        (await server.app.stores.chatbots.getChatbot('default'))?.collectionId ?? 'default';
      const left = await other.documents.findDocumentBySource(collectionId, 'damaged.txt');
      if (left !== undefined) await other.documents.deleteDocument(left.id);
      await ask('How long do refunds take?');
      const conversationId = lastConversation;
      const turns = vi.spyOn(server.app.stores.conversations, 'listTurns');
      const statements = rankingStatements();
      try {
        expect(await ask('And how long do refunds take?', conversationId)).toContain('Refunds');
        expect(turns).not.toHaveBeenCalled();
        expect(statements).not.toHaveBeenCalled();
        // The prompt holds the conversation so far: the first question and its answer, then this one.
        const body = server.upstream.requests.at(-1)?.body as {
          messages: { role: string; content: string }[];
        };
        const said = body.messages.filter((message) => message.role !== 'system');
        expect(said.map((message) => message.role)).toEqual(['user', 'assistant', 'user']);
        expect(said[0]?.content).toContain('How long do refunds take?');
        expect(said[2]?.content).toContain('And how long do refunds take?');

        // Stored by another instance just before the next follow-up: found by it.
        await store(other, 'damaged.txt', 'Damaged goods', 'Refunds for damaged goods take 30 days.');
        expect((await ask('How long do refunds take?', conversationId)).sort()).toEqual([
          'Damaged goods',
          'Refunds',
        ]);
        expect(statements).toHaveBeenCalledTimes(1);
        expect(turns).not.toHaveBeenCalled();
      } finally {
        turns.mockRestore();
        statements.mockRestore();
      }
    });
  },
);
