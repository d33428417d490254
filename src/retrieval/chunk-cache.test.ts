// The retriever's chunk cache over real stores (SQLite on disk; PostgreSQL when DATABASE_URL is set): searches answer
// as the uncached search does, before and after documents change in this store, in another store instance on the
// same database, and between a search's ranking and its read; a removed or changed chunk is never served.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createTestDatabase, postgresSkipReason, type TestDatabase } from '../../test/helpers/postgres.ts';
import type { ChunkInput, DocumentInput, DocumentStore } from '../core/documents.ts';
import { openStores } from '../stores/open-stores.ts';
import type { Stores } from '../stores/stores.ts';
import { ChunkCache } from './chunk-cache.ts';
import { searchLexical, searchLexicalCached } from './lexical-search.ts';
import { HybridRetriever } from './retriever.ts';

const silent = { info() {}, warn() {}, error() {}, debug() {} } as never;
const QUERIES = ['refunds returns', 'shipping euros', 'vicunas andes wild', 'opened items refunds days'];

function input(source: string, contentHash: string, title = `Title of ${source}`): DocumentInput {
  return { collectionId: 'docs', source, title, mediaType: 'text/plain', contentHash, bytes: 10 };
}

function chunks(...texts: string[]): ChunkInput[] {
  return texts.map((text, ordinal) => ({ ordinal, text, heading: '' }));
}

function retriever(documents: DocumentStore): HybridRetriever {
  return new HybridRetriever({ documents, embedder: undefined, candidates: 30, rrfK: 60, logger: silent });
}

/** What a search returns, as its uncached form (searchText, the rerank) finds it now. */
async function uncached(documents: DocumentStore, query: string, limit = 6) {
  return (await searchLexical(documents, 'docs', query, limit)).map((hit) => ({
    chunkId: hit.id,
    text: hit.text,
    documentTitle: hit.documentTitle,
    contentHash: hit.contentHash,
    score: hit.score,
  }));
}

async function cached(search: HybridRetriever, query: string, limit = 6) {
  return (await search.search('docs', query, undefined, limit)).map((passage) => ({
    chunkId: passage.chunkId,
    text: passage.text,
    documentTitle: passage.documentTitle,
    contentHash: passage.contentHash,
    score: passage.score,
  }));
}

async function expectSameAsUncached(search: HybridRetriever, documents: DocumentStore): Promise<void> {
  for (const query of QUERIES)
    expect(await cached(search, query), query).toEqual(await uncached(documents, query));
}

interface Backend {
  name: string;
  skip: string | undefined;
  /** Two store instances on one new database. */
  open(): Promise<[Stores, Stores]>;
}

const dir = mkdtempSync(join(tmpdir(), 'rivulet-chunk-cache-'));
const databases: TestDatabase[] = [];
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await Promise.all(databases.map((database) => database.drop()));
});
let opened = 0;

const backends: Backend[] = [
  {
    name: 'sqlite (file)',
    skip: undefined,
    async open() {
      opened += 1;
      const dataDir = join(dir, `db-${opened}`);
      return [await openStores({ dataDir }), await openStores({ dataDir })];
    },
  },
  {
    name: 'postgres',
    skip: postgresSkipReason,
    async open() {
      const database = await createTestDatabase('chunk_cache');
      databases.push(database);
      const config = { dataDir: dir, databaseUrl: database.url, databasePoolMax: 2 };
      const first = await openStores(config);
      return [first, await openStores(config)];
    },
  },
];

for (const backend of backends) {
  describe.skipIf(backend.skip !== undefined)(`chunk cache: ${backend.name}`, () => {
    let open: Stores[] = [];
    afterEach(async () => {
      await Promise.all(open.map((stores) => stores.close()));
      open = [];
    });

    async function twoInstances(): Promise<[Stores, Stores]> {
      const pair = await backend.open();
      open = pair;
      return pair;
    }

    it('answers as the uncached search, and sees changes made in the same store', async () => {
      const [stores] = await twoInstances();
      const documents = stores.documents;
      const a = await documents.upsertDocument(
        input('a.txt', 'a'),
        chunks('Refunds are issued within 14 days of a return.', 'Returns of opened items cost 5 euros.'),
      );
      await documents.upsertDocument(input('b.txt', 'b'), chunks('Shipping is free above 50 euros.'));
      const search = retriever(documents);
      await expectSameAsUncached(search, documents);
      await expectSameAsUncached(search, documents); // from the cache now

      // Replaced: the old text is never served again.
      await documents.upsertDocument(
        input('a.txt', 'a2', 'Refund rules'),
        chunks('Refunds now take 30 days; returns are free.'),
      );
      const after = await cached(search, 'refunds returns');
      expect(after.map((hit) => hit.text)).toEqual(['Refunds now take 30 days; returns are free.']);
      expect(after[0]?.documentTitle).toBe('Refund rules');
      await expectSameAsUncached(search, documents);

      // Deleted: gone from the answers.
      expect(await documents.deleteDocument(a.document.id)).toBe(true);
      expect(await cached(search, 'refunds returns')).toEqual([]);
      await expectSameAsUncached(search, documents);

      // Added.
      await documents.upsertDocument(input('c.txt', 'c'), chunks('Vicuñas live wild in the Andes.'));
      expect((await cached(search, 'vicunas andes wild')).map((hit) => hit.text)).toEqual([
        'Vicuñas live wild in the Andes.',
      ]);
      await expectSameAsUncached(search, documents);
    });

    it('sees what another store instance on the same database changed', async () => {
      const [server, other] = await twoInstances();
      const a = await server.documents.upsertDocument(
        input('a.txt', 'a'),
        chunks('Refunds are issued within 14 days of a return.'),
      );
      await server.documents.upsertDocument(input('b.txt', 'b'), chunks('Shipping is free above 50 euros.'));
      const search = retriever(server.documents);
      await expectSameAsUncached(search, server.documents);

      await other.documents.upsertDocument(
        input('a.txt', 'a2'),
        chunks('Refunds now take 30 days; returns are free.'),
      );
      expect((await cached(search, 'refunds returns')).map((hit) => hit.text)).toEqual([
        'Refunds now take 30 days; returns are free.',
      ]);
      await expectSameAsUncached(search, server.documents);

      await other.documents.mergeTextIndex('docs');
      await expectSameAsUncached(search, server.documents);

      const changed = await other.documents.findDocumentBySource('docs', 'a.txt');
      expect(changed?.id).toBe(a.document.id);
      expect(await other.documents.deleteDocument(a.document.id)).toBe(true);
      expect(await cached(search, 'refunds returns')).toEqual([]);
      await expectSameAsUncached(search, server.documents);
    });

    it('never serves a cached chunk under a rowid another chunk took', async () => {
      const [stores, other] = await twoInstances();
      await stores.documents.upsertDocument(input('a.txt', 'a'), chunks('Shipping is free above 50 euros.'));
      const last = await stores.documents.upsertDocument(
        input('z.txt', 'z'),
        chunks('Refunds are issued within 14 days of a return.'),
      );
      const search = retriever(stores.documents);
      const before = await stores.documents.rankText('docs', 'refunds', 5);
      expect((await cached(search, 'refunds returns')).map((hit) => hit.text)).toEqual([
        'Refunds are issued within 14 days of a return.',
      ]);
      // The newest chunk deleted and another added in its place: on SQLite it gets the same rowid.
      expect(await other.documents.deleteDocument(last.document.id)).toBe(true);
      await other.documents.upsertDocument(
        input('y.txt', 'y'),
        chunks('Refunds are refused for opened items; returns cost 5 euros.'),
      );
      const now = await stores.documents.rankText('docs', 'refunds', 5);
      if (backend.name.startsWith('sqlite')) expect(now.ranked[0]?.rowid).toBe(before.ranked[0]?.rowid);
      expect(now.generation).not.toBe(before.generation);
      expect((await cached(search, 'refunds returns')).map((hit) => hit.text)).toEqual([
        'Refunds are refused for opened items; returns cost 5 euros.',
      ]);
      await expectSameAsUncached(search, stores.documents);
    });

    it('keeps nothing when the collection changes between the ranking and the read', async () => {
      const [stores, other] = await twoInstances();
      await stores.documents.upsertDocument(
        input('a.txt', 'a'),
        chunks('Refunds are issued within 14 days of a return.', 'Returns of opened items cost 5 euros.'),
      );
      const cache = new ChunkCache();
      let interfere = true;
      // A store whose collection changes (in another instance) right after each ranking while `interfere` holds.
      const documents: Pick<DocumentStore, 'rankText' | 'chunksByRowid'> = {
        async rankText(collectionId, query, limit, signal) {
          const ranking = await stores.documents.rankText(collectionId, query, limit, signal);
          if (interfere) {
            const found = await other.documents.findDocumentBySource('docs', 'a.txt');
            await other.documents.upsertDocument(
              input('a.txt', `${found?.contentHash ?? ''}+`),
              chunks('Refunds changed meanwhile.'),
            );
          }
          return ranking;
        },
        chunksByRowid: (collectionId, rowids, signal) =>
          stores.documents.chunksByRowid(collectionId, rowids, signal),
      };
      // The ranking's chunks are gone when read: only what the rows hold now (on SQLite the new chunk may have taken
      // a ranked rowid, as searchText would have read it too), and nothing kept.
      const raced = await searchLexicalCached(documents, cache, 'docs', 'refunds returns', 6);
      for (const hit of raced) expect(hit.text).toBe('Refunds changed meanwhile.');
      expect(cache.size).toBe(0);
      interfere = false;
      const hits = await searchLexicalCached(documents, cache, 'docs', 'refunds returns', 6);
      expect(hits.map((hit) => hit.text)).toEqual(['Refunds changed meanwhile.']);
      expect(cache.size).toBe(1);
      expect(hits).toEqual(await searchLexical(stores.documents, 'docs', 'refunds returns', 6));
    });

    it('gives the same hits with a cache too small for one search, and stays within its capacity', async () => {
      const [stores] = await twoInstances();
      const texts = Array.from(
        { length: 12 },
        (_, index) => `Refunds and returns, case ${index}: ${'word '.repeat(index)}euros.`,
      );
      await stores.documents.upsertDocument(input('many.txt', 'm'), chunks(...texts));
      const cache = new ChunkCache(4);
      for (const query of [...QUERIES, ...QUERIES]) {
        expect(await searchLexicalCached(stores.documents, cache, 'docs', query, 8), query).toEqual(
          await searchLexical(stores.documents, 'docs', query, 8),
        );
        expect(cache.size).toBeLessThanOrEqual(4);
      }
    });
  });
}
