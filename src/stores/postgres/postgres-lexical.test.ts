// The PostgreSQL lexical index ranks exactly as SQLite's: the same chunks, deletions and re-adds give the same hits
// with the same scores, through merges, block splits and rowids placed below merged postings. Runs on the PostgreSQL
// server of DATABASE_URL (skipped with a message without one) and on PGlite.

import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createTestDatabase, postgresSkipReason, type TestDatabase } from '../../../test/helpers/postgres.ts';
import { startPglite, type PgliteServer } from '../../../test/helpers/pglite.ts';
import type { ChunkHit, ChunkInput } from '../../core/documents.ts';
import type { PostingsCache } from '../../retrieval/bm25/postings-cache.ts';
import { MERGE_PENDING_AT, POSTING_BLOCK_CAPACITY } from '../../retrieval/bm25/postings.ts';
import { openDatabase } from '../sqlite/database.ts';
import { LexicalIndex } from '../sqlite/lexical.ts';
import { openSqliteStores } from '../sqlite/sqlite-stores.ts';
import type { Stores } from '../stores.ts';
import { connect, migrate, type Sql } from './database.ts';
import { PostgresLexicalIndex } from './postgres-lexical.ts';
import { openPostgresStores } from './postgres-stores.ts';

/** A deterministic generator over a small vocabulary, so that common words fill and split posting blocks. */
function words(seed: number): (count: number) => string {
  let state = seed;
  const random = (): number => {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    return state / 2 ** 31;
  };
  const vocabulary = Array.from({ length: 60 }, (_, i) => `w${i}x`);
  return (count) =>
    Array.from({ length: count }, () => vocabulary[Math.floor(random() ** 2 * vocabulary.length)]).join(' ');
}

/** A chunk of collection `docs` with only a text: what the kept-postings tests index. */
function chunk(rowid: number, text: string) {
  return { rowid, collectionId: 'docs', title: '', heading: '', text };
}

const QUERIES = [
  'w0x',
  'w1x w2x',
  'w3x w40x w59x',
  'w0x w1x w2x w3x w4x w5x',
  'w58x w59x',
  'w7x w7x',
  'nothing',
];

interface Backend {
  name: string;
  skip: string | undefined;
  /** A migrated, empty database's URL; the returned function releases it. */
  open(): Promise<{ url: string; release: () => Promise<void> }>;
  /** Connections for the stores: PGlite's wire server serves one at a time. */
  poolMax: number;
}

let pglite: PgliteServer | undefined;
const backends: Backend[] = [
  {
    name: 'PostgreSQL (DATABASE_URL)',
    skip: postgresSkipReason,
    poolMax: 2,
    async open() {
      const database: TestDatabase = await createTestDatabase('lexical');
      return { url: database.url, release: () => database.drop() };
    },
  },
  {
    name: 'PGlite',
    skip: undefined,
    poolMax: 1,
    async open() {
      pglite ??= await startPglite();
      await pglite.reset();
      return { url: pglite.url, release: async () => {} };
    },
  },
];
afterAll(async () => {
  await pglite?.stop();
});

for (const backend of backends) {
  describe.skipIf(backend.skip !== undefined)(
    `lexical index postings kept between queries: ${backend.name}`,
    () => {
      it('reads only the postings it lacks while the generation stays, and all of them once another index wrote', async () => {
        const { url, release } = await backend.open();
        const sql: Sql = connect(url, { max: 1 });
        try {
          await migrate(sql);
          const mine = new PostgresLexicalIndex();
          const theirs = new PostgresLexicalIndex();
          await sql.begin((tx) =>
            mine.add(tx, [
              chunk(1, 'Refunds are issued within 14 days.'),
              chunk(2, 'Shipping is free above 50 euros.'),
            ]),
          );
          await sql.begin((tx) => mine.mergePending(tx, 'docs'));
          const first = await mine.rankAt(sql, 'docs', 'refund policy', 10);
          expect(first.ranked.map((hit) => hit.rowid)).toEqual([1]);
          // Behind the indexes' back (no generation bump): terms read before are not read again...
          await sql`DELETE FROM lexical_postings`;
          expect(await mine.rankAt(sql, 'docs', 'policy refunds', 10)).toEqual(first);
          // ...a term it lacks is read (at the same generation: gone now), the others come from memory...
          expect(
            (await mine.rankAt(sql, 'docs', 'refund shipping', 10)).ranked.map((hit) => hit.rowid),
          ).toEqual([1]);
          // ...and an index that never read them reads what the database holds.
          expect((await theirs.rankAt(sql, 'docs', 'refund policy', 10)).ranked).toEqual([]);
          // Another index (another instance) writes: the generation moves, everything is read again.
          await sql.begin((tx) => theirs.add(tx, [chunk(3, 'Refunds for damaged goods.')]));
          expect(
            (await mine.rankAt(sql, 'docs', 'refund policy', 10)).ranked.map((hit) => hit.rowid),
          ).toEqual([3]);
          expect(await mine.rankAt(sql, 'docs', 'refund shipping', 10)).toEqual(
            await new PostgresLexicalIndex().rankAt(sql, 'docs', 'refund shipping', 10),
          );
          // What it keeps owns its bytes: a small bytea from the driver is a view of a shared 64 KB slab.
          const { postings } = mine as unknown as { postings: PostingsCache };
          await sql.begin((tx) => theirs.mergePending(tx, 'docs'));
          await mine.rankAt(sql, 'docs', 'refund', 10);
          const [block] = postings.kept('docs', ['refund'])?.lists[0]?.blocks ?? [];
          expect(block?.data.byteLength).toBeGreaterThan(0);
          expect(block?.data.buffer.byteLength).toBe(block?.data.byteLength);
        } finally {
          await sql.end();
          await release();
        }
      });

      it('ranks from the postings it keeps without a statement only at the generation it is given', async () => {
        const { url, release } = await backend.open();
        const sql: Sql = connect(url, { max: 1 });
        const index = new PostgresLexicalIndex();
        const statements = vi.spyOn(index as unknown as { read: () => Promise<unknown> }, 'read');
        try {
          await migrate(sql);
          await sql.begin((tx) => index.add(tx, [chunk(1, 'Refunds are issued within 14 days.')]));
          const first = await index.rankAt(sql, 'docs', 'refund policy', 10);
          expect(first.ranked.map((hit) => hit.rowid)).toEqual([1]);
          expect(statements).toHaveBeenCalledTimes(1);
          // At the generation its postings were read at (as a statement of the answer read it): none.
          expect(await index.rankAt(sql, 'docs', 'policy refunds', 10, undefined, first.generation)).toEqual(
            first,
          );
          expect(statements).toHaveBeenCalledTimes(1);
          // A term it does not keep, or no generation given: the statement, as before.
          await index.rankAt(sql, 'docs', 'refund shipping', 10, undefined, first.generation);
          await index.rankAt(sql, 'docs', 'refund policy', 10);
          expect(statements).toHaveBeenCalledTimes(3);
          // Another writer moved the generation: given the new one, the kept postings (of the old) are not used.
          await sql.begin((tx) =>
            new PostgresLexicalIndex().add(tx, [chunk(2, 'Refunds for damaged goods.')]),
          );
          const [row] = await sql<{ generation: number }[]>`
            SELECT generation FROM lexical_collections WHERE collection_id = 'docs'`;
          expect(row?.generation).toBeGreaterThan(first.generation ?? 0);
          const now = await index.rankAt(sql, 'docs', 'refund policy', 10, undefined, row?.generation);
          expect(statements).toHaveBeenCalledTimes(4);
          expect(now).toEqual(await new PostgresLexicalIndex().rankAt(sql, 'docs', 'refund policy', 10));
          expect(now.ranked.map((hit) => hit.rowid).sort()).toEqual([1, 2]);
          // Given the old generation now (an answer whose question was stored before the write): the kept postings
          // are of the new one, so the statement is made, and ranks as the collection is.
          expect(await index.rankAt(sql, 'docs', 'refund policy', 10, undefined, first.generation)).toEqual(
            now,
          );
          expect(statements).toHaveBeenCalledTimes(5);
        } finally {
          statements.mockRestore();
          await sql.end();
          await release();
        }
      });

      it('ranks as a fresh index would while queries and writes run at once', async () => {
        const { url, release } = await backend.open();
        const sql: Sql = connect(url, { max: backend.poolMax === 1 ? 1 : 4 });
        try {
          await migrate(sql);
          const index = new PostgresLexicalIndex();
          const writer = new PostgresLexicalIndex();
          const sentence = words(11);
          let random = 0.25;
          const next = (): number => (random = (random * 9301 + 49_297) % 233_280) / 233_280;
          const queries = Array.from({ length: 30 }, () => sentence(1 + Math.floor(next() * 4)));
          const chunk = (rowid: number) => ({
            rowid,
            collectionId: 'docs',
            title: '',
            heading: '',
            text: sentence(8),
          });
          let rowid = 0;
          await sql.begin((tx) =>
            writer.add(
              tx,
              Array.from({ length: 40 }, () => chunk((rowid += 1))),
            ),
          );
          for (let round = 0; round < 8; round += 1) {
            const writes = (async () => {
              for (let write = 0; write < 4; write += 1) {
                const what = Math.floor(next() * 3);
                if (what === 0) await sql.begin((tx) => writer.add(tx, [chunk((rowid += 1))]));
                else if (what === 1)
                  await sql.begin((tx) => writer.remove(tx, [1 + Math.floor(next() * rowid)]));
                else await sql.begin((tx) => writer.mergePending(tx, 'docs'));
              }
            })();
            await Promise.all([writes, ...queries.map((query) => index.rankAt(sql, 'docs', query, 10))]);
            for (const query of queries) {
              expect(await index.rankAt(sql, 'docs', query, 10)).toEqual(
                await new PostgresLexicalIndex().rankAt(sql, 'docs', query, 10),
              );
            }
          }
        } finally {
          await sql.end();
          await release();
        }
      }, 120_000);
    },
  );

  describe.skipIf(backend.skip !== undefined)(`lexical index parity with SQLite: ${backend.name}`, () => {
    it('scores like the SQLite index through merges, block splits, deletes and rowids re-added below merged ones', async () => {
      const { url, release } = await backend.open();
      const sql: Sql = connect(url, { max: 1 });
      try {
        await migrate(sql);
        const sqlite = openDatabase(':memory:').db;
        const sqliteIndex = new LexicalIndex(sqlite);
        const index = new PostgresLexicalIndex();
        for (const collection of ['docs', 'other']) {
          sqlite
            .prepare(
              `INSERT INTO documents (id, collection_id, source, title, media_type, content_hash, metadata,
                 chunk_count, bytes, created_at, updated_at) VALUES (?, ?, ?, 't', 'text/plain', 'h', '{}', 0, 0, 0, 0)`,
            )
            .run(`doc-${collection}`, collection, collection);
        }
        const insertChunk = sqlite.prepare(
          `INSERT INTO chunks (rowid, id, document_id, collection_id, ordinal, heading, text)
           VALUES (?, ?, ?, ?, 0, '', '') ON CONFLICT (rowid) DO NOTHING`,
        );
        const sentence = words(7);
        let random = 0.5;
        const next = (): number => (random = (random * 9301 + 49_297) % 233_280) / 233_280;
        const live = new Set<number>();
        // Batches as the document store writes them: one transaction per document.
        const add = async (collection: string, rowids: readonly number[]): Promise<void> => {
          const chunks = rowids.map((rowid) => ({
            rowid,
            collectionId: collection,
            title: sentence(2),
            heading: '',
            text: sentence(5 + Math.floor(next() * 30)),
          }));
          for (const chunk of chunks) {
            insertChunk.run(chunk.rowid, `c${chunk.rowid}`, `doc-${collection}`, collection);
            sqliteIndex.add(chunk);
            live.add(chunk.rowid);
          }
          await sql.begin((tx) => index.add(tx, chunks));
        };
        const remove = async (rowids: readonly number[]): Promise<void> => {
          for (const rowid of rowids) {
            sqliteIndex.delete(rowid);
            sqlite.prepare('DELETE FROM chunks WHERE rowid = ?').run(rowid);
            live.delete(rowid);
          }
          await sql.begin((tx) => index.remove(tx, rowids));
        };
        let rowid = 0;
        const fresh = (count: number): number[] => Array.from({ length: count }, () => (rowid += 1));
        for (let document = 0; document < 60; document += 1) {
          await add(next() < 0.8 ? 'docs' : 'other', fresh(1 + Math.floor(next() * 25)));
        }
        // A merge asked for before the threshold (as the ingestor asks after a batch); more chunks come in later.
        for (const collection of ['docs', 'other']) {
          sqliteIndex.mergePending(collection);
          await sql.begin((tx) => index.mergePending(tx, collection));
        }
        const sqlitePending = sqlite
          .prepare('SELECT sum(pending) AS pending FROM lexical_collections')
          .get() as { pending: number };
        expect(sqlitePending.pending).toBe(0);
        expect(await sql`SELECT sum(pending)::int AS pending FROM lexical_collections`).toEqual([
          { pending: 0 },
        ]);
        // One document past the merge threshold on its own: merged in the middle of its transaction.
        await add('docs', fresh(MERGE_PENDING_AT * 2 + 17));
        const victims = [...live].filter(() => next() < 0.3);
        for (let at = 0; at < victims.length; at += 20) await remove(victims.slice(at, at + 20));
        // Re-adding a third of them puts rowids below postings already merged (as an import or SQLite's rowid reuse
        // does), splitting full blocks.
        const back = victims.filter(() => next() < 0.33);
        for (let at = 0; at < back.length; at += 15)
          await add(next() < 0.5 ? 'docs' : 'other', back.slice(at, at + 15));
        for (let document = 0; document < 20; document += 1)
          await add('docs', fresh(1 + Math.floor(next() * 25)));
        for (let document = 0; document < 5; document += 1)
          await add('other', fresh(1 + Math.floor(next() * 25)));

        const [{ max } = { max: 0 }] = await sql<
          { max: number }[]
        >`SELECT max(count) AS max FROM lexical_postings`;
        expect(max).toBe(POSTING_BLOCK_CAPACITY);
        for (const query of QUERIES) {
          for (const collection of ['docs', 'other', 'missing']) {
            const expected = sqliteIndex.query(collection, query, 40);
            const actual = await index.rank(sql, collection, query, 40);
            // SQLite drops rowids whose chunk row is gone; none are here.
            expect(
              actual.map((hit) => hit.rowid),
              `${collection}: ${query}`,
            ).toEqual(expected.map((hit) => hit.rowid));
            actual.forEach((hit, i) =>
              expect(Math.abs(hit.score - (expected[i]?.score ?? 0))).toBeLessThan(1e-9),
            );
          }
        }
        sqlite.close();
      } finally {
        await sql.end({ timeout: 1 });
        await release();
      }
    }, 120_000);

    describe('document stores', () => {
      let sqlite: Stores;
      let postgres: Stores;
      let release: () => Promise<void>;
      beforeAll(async () => {
        const database = await backend.open();
        release = database.release;
        sqlite = openSqliteStores(':memory:');
        postgres = await openPostgresStores(database.url, { poolMax: backend.poolMax });
      }, 60_000);
      afterAll(async () => {
        await sqlite?.close();
        await postgres?.close();
        await release?.();
      });

      const key = (hit: ChunkHit): string => `${hit.source}#${hit.ordinal}`;
      const expectSameHits = async (): Promise<void> => {
        for (const query of QUERIES) {
          for (const collection of ['docs', 'other']) {
            const expected = await sqlite.documents.searchText(collection, query, 30);
            const actual = await postgres.documents.searchText(collection, query, 30);
            expect(actual.map(key), `${collection}: ${query}`).toEqual(expected.map(key));
            actual.forEach((hit, i) => {
              expect(Math.abs(hit.score - (expected[i]?.score ?? 0))).toBeLessThan(1e-9);
              expect(hit).toMatchObject({
                text: expected[i]?.text,
                documentTitle: expected[i]?.documentTitle,
              });
            });
          }
        }
      };

      it('give the same searchText hits and scores, past the merge threshold and after deletions and updates', async () => {
        const sentence = words(11);
        let seed = 3;
        const next = (): number => (seed = (seed * 16_807) % 2_147_483_647) / 2_147_483_647;
        const documents: { collectionId: string; source: string }[] = [];
        const put = async (
          collectionId: string,
          source: string,
          version: string,
          count: number,
        ): Promise<void> => {
          const input = {
            collectionId,
            source,
            title: sentence(3),
            mediaType: 'text/plain',
            contentHash: version,
            bytes: 1,
          };
          const chunks: ChunkInput[] = Array.from({ length: count }, (_, ordinal) => ({
            ordinal,
            heading: next() < 0.3 ? sentence(2) : '',
            text: sentence(4 + Math.floor(next() * 40)),
          }));
          await sqlite.documents.upsertDocument(input, chunks);
          await postgres.documents.upsertDocument(input, chunks);
        };
        for (let n = 0; n < 50; n += 1) {
          const document = { collectionId: next() < 0.75 ? 'docs' : 'other', source: `d${n}.txt` };
          documents.push(document);
          await put(document.collectionId, document.source, 'v1', 1 + Math.floor(next() * 20));
        }
        await put('docs', 'big.txt', 'v1', MERGE_PENDING_AT * 3 + 5);
        await expectSameHits();
        for (const document of documents.filter(() => next() < 0.3)) {
          for (const stores of [sqlite, postgres]) {
            const found = await stores.documents.findDocumentBySource(document.collectionId, document.source);
            expect(await stores.documents.deleteDocument(found?.id ?? '')).toBe(true);
          }
        }
        await expectSameHits();
        for (const document of documents.filter(() => next() < 0.3)) {
          await put(document.collectionId, document.source, 'v2', 1 + Math.floor(next() * 30));
        }
        await put('docs', 'big.txt', 'v2', MERGE_PENDING_AT + 3);
        await expectSameHits();
        // Merged on request, as after an ingest: the same hits, and after more chunks come in.
        for (const stores of [sqlite, postgres]) {
          for (const collection of ['docs', 'other']) await stores.documents.mergeTextIndex(collection);
        }
        await expectSameHits();
        await put('other', 'late.txt', 'v1', 7);
        await expectSameHits();
        for (const collection of ['docs', 'other']) {
          expect(await postgres.documents.countDocuments(collection)).toEqual(
            await sqlite.documents.countDocuments(collection),
          );
        }
      }, 120_000);
    });
  });
}

describe.skipIf(postgresSkipReason !== undefined)('postgres document store', () => {
  let database: TestDatabase;
  let stores: Stores;
  beforeAll(async () => {
    database = await createTestDatabase('documents');
    stores = await openPostgresStores(database.url);
  });
  afterAll(async () => {
    await stores?.close();
    await database?.drop();
  });
  const input = (source: string) => ({
    collectionId: 'docs',
    source,
    title: 'A',
    mediaType: 'text/plain',
    contentHash: 'h',
    bytes: 1,
  });

  it('stops a search whose signal aborted, rejecting with the signal’s reason', async () => {
    await stores.documents.upsertDocument(input('a.txt'), [{ ordinal: 0, heading: '', text: 'alpha beta' }]);
    const controller = new AbortController();
    const reason = new Error('client went away');
    controller.abort(reason);
    await expect(stores.documents.searchText('docs', 'alpha', 5, controller.signal)).rejects.toBe(reason);
    expect(await stores.documents.searchText('docs', 'alpha', 5)).toHaveLength(1);
  });

  it('stores NUL characters as U+FFFD, which PostgreSQL text cannot hold, and still finds the words', async () => {
    await stores.documents.upsertDocument({ ...input('nul\u0000.txt'), title: 'T\u0000' }, [
      { ordinal: 0, heading: 'H\u0000', text: 'gamma\u0000delta', metadata: { note: 'x\u0000' } },
    ]);
    const [hit] = await stores.documents.searchText('docs', 'delta', 5);
    expect(hit).toMatchObject({
      text: 'gamma\uFFFDdelta',
      heading: 'H\uFFFD',
      documentTitle: 'T\uFFFD',
      source: 'nul\uFFFD.txt',
      metadata: { note: 'x\uFFFD' },
    });
    expect(await stores.documents.findDocumentBySource('docs', 'nul\u0000.txt')).toMatchObject({
      source: 'nul\uFFFD.txt',
    });
  });
});
