// BM25 search over chunks in PostgreSQL: the same inverted index as the SQLite store's (src/stores/sqlite/lexical.ts),
// in the same four tables (migration 1), with the same postings codec and scorer (src/retrieval/bm25/), so both
// backends rank identically. This file is the SQL, shaped for a database across a network: every step reads or
// writes all the terms and chunks it touches in one statement (unnest arrays, `= ANY`), since a round trip costs
// more than the work of most of them.
//
// Layout, as in SQLite: new chunks wait in lexical_pending (queries score them from their terms strings) until their
// collection has MERGE_PENDING_AT of them or mergePending() is called, then they are merged into per-term postings
// blocks (lexical_postings); lexical_chunks keeps a merged chunk's terms for deleting it; lexical_collections the
// collection's statistics. The same chunks end up pending or merged as in SQLite, so even the clamping of a
// posting's fields (u16 length, u8 frequencies) happens to the same chunks.
//
// Writers of one collection are serialised by its lexical_collections row lock, taken before anything of the
// collection is read: a merge reads pending chunks and blocks and writes them back, which two transactions at once
// would otherwise overwrite (SQLite has a single writer; PostgreSQL has row locks).

import type { TransactionSql } from 'postgres';
import {
  Bm25Scorer,
  generationOf,
  termPostingsOf,
  type GenerationRow,
  type LexicalHit,
  type TermPostings,
} from '../../retrieval/bm25/bm25-scorer.ts';
import { queryTerms } from '../../retrieval/bm25/bm25.ts';
import { PostingsCache } from '../../retrieval/bm25/postings-cache.ts';
import {
  chunkTerms,
  mergedChunkTerms,
  parseChunkTerms,
  type ChunkFields,
} from '../../retrieval/bm25/chunk-terms.ts';
import {
  appendBlocks,
  encodePosting,
  insertPosting,
  joinPostings,
  MAX_POSTING_ROWID,
  MERGE_PENDING_AT,
  OPEN_BLOCK_BOUND,
  POSTING_BLOCK_CAPACITY,
  postingRowid,
  splitPostings,
} from '../../retrieval/bm25/postings.ts';
import { pgText, type Sql } from './database.ts';

export type { LexicalHit } from '../../retrieval/bm25/bm25-scorer.ts';

export interface PostgresLexicalFields extends ChunkFields {
  /** chunks.rowid of a chunk row written in the same transaction (or earlier). */
  rowid: number;
  /** The chunk's collection (chunks.collection_id): the index is partitioned by it. */
  collectionId: string;
}

interface CollectionRow {
  id: number;
  chunks: number;
  terms: number;
  pending: number;
}

interface PendingChunk {
  rowid: number;
  length: number;
  /** " term:title:text ... " (chunk-terms.ts). */
  terms: string;
}

interface BlockRow {
  term: string;
  bound: number;
  last: number;
  count: number;
  data: Uint8Array;
}

export class PostgresLexicalIndex {
  private readonly scorer = new Bm25Scorer();
  /** The postings queries read, while their collection's generation stays (see rankAt). */
  private readonly postings = new PostingsCache();

  /**
   * Indexes chunks (replacing what was indexed under their rowids). Call inside the transaction that wrote them; the
   * export/import code calls it the same way.
   */
  async add(tx: TransactionSql, chunks: readonly PostgresLexicalFields[]): Promise<void> {
    if (chunks.length === 0) return;
    for (const { rowid } of chunks) {
      if (!Number.isSafeInteger(rowid) || rowid < 0 || rowid > MAX_POSTING_ROWID) {
        throw new Error(`lexical index: rowid ${rowid} out of range`);
      }
    }
    await this.remove(
      tx,
      chunks.map((chunk) => chunk.rowid),
    );
    const byCollection = new Map<string, PostgresLexicalFields[]>();
    for (const chunk of chunks) {
      const group = byCollection.get(chunk.collectionId);
      if (group === undefined) byCollection.set(chunk.collectionId, [chunk]);
      else group.push(chunk);
    }
    // Collections in one order, so that two transactions adding to the same two never wait on each other.
    for (const collectionId of [...byCollection.keys()].sort()) {
      await addToCollection(tx, collectionId, byCollection.get(collectionId) ?? []);
    }
  }

  /** Removes chunks from the index; rowids never indexed are ignored. Call inside the transaction deleting them. */
  async remove(tx: TransactionSql, rowids: readonly number[]): Promise<void> {
    if (rowids.length === 0) return;
    const ids = [...rowids];
    // The collections' locks first (see the top of the file), in id order.
    const locked = await tx<{ id: number }[]>`
      SELECT id FROM lexical_collections
      WHERE id IN (
        SELECT collection FROM lexical_pending WHERE rowid = ANY(${ids}::bigint[])
        UNION SELECT collection FROM lexical_chunks WHERE rowid = ANY(${ids}::bigint[]))
      ORDER BY id FOR UPDATE`;
    if (locked.length === 0) return;
    // Deletes the chunks' rows and takes them off their collections' statistics, returning the merged ones.
    const merged = await tx<{ rowid: number; collection: number; terms: string }[]>`
      WITH pending AS (
        DELETE FROM lexical_pending WHERE rowid = ANY(${ids}::bigint[]) RETURNING collection, length
      ), merged AS (
        DELETE FROM lexical_chunks WHERE rowid = ANY(${ids}::bigint[]) RETURNING rowid, collection, length, terms
      ), gone AS (
        SELECT collection, count(*) AS chunks, sum(length) AS terms, count(*) FILTER (WHERE is_pending) AS pending
        FROM (SELECT collection, length, true AS is_pending FROM pending
              UNION ALL SELECT collection, length, false FROM merged) AS chunk
        GROUP BY collection
      ), stats AS (
        UPDATE lexical_collections AS c
        SET chunks = c.chunks - gone.chunks, terms = c.terms - gone.terms, pending = c.pending - gone.pending,
          generation = c.generation + 1
        FROM gone WHERE c.id = gone.collection
      )
      SELECT rowid, collection, terms FROM merged`;
    if (merged.length === 0) return;
    const removals = merged.flatMap(({ rowid, collection, terms }) =>
      parseChunkTerms(terms).map(({ term }) => ({ collection, term, rowid })),
    );
    const blocks = new BlockEdits(
      await tx<(BlockRow & { collection: number })[]>`
        SELECT DISTINCT ON (p.id) p.collection, p.term, p.bound, p.last, p.count, p.data
        FROM unnest(
          ${removals.map((entry) => entry.collection)}::bigint[],
          ${removals.map((entry) => entry.term)}::text[],
          ${removals.map((entry) => entry.rowid)}::bigint[]) AS r(collection, term, rowid)
        CROSS JOIN LATERAL (
          SELECT id, collection, term, bound, last, count, data FROM lexical_postings
          WHERE collection = r.collection AND term = r.term AND bound >= r.rowid
          ORDER BY bound LIMIT 1) AS p`,
    );
    for (const { collection, term, rowid } of removals) blocks.remove(collection, term, rowid);
    await blocks.write(tx);
  }

  /**
   * Merges the collection's pending chunks into the postings blocks now, as SQLite's mergePending does (both must be
   * called alike for the two to keep the same chunks merged). Call inside a transaction.
   */
  async mergePending(tx: TransactionSql, collectionId: string): Promise<void> {
    // The collection's lock first (see the top of the file).
    const [collection] = await tx<CollectionRow[]>`
      SELECT id, chunks, terms, pending FROM lexical_collections WHERE collection_id = ${pgText(collectionId)}
      FOR UPDATE`;
    if (collection === undefined || collection.pending <= 0) return;
    const merged = await merge(tx, collection, []);
    await tx`
      UPDATE lexical_collections SET pending = pending - ${merged}, generation = generation + 1
      WHERE id = ${collection.id}`;
  }

  /**
   * The best `limit` chunks of the collection for the query by BM25, best first; scores are positive. Reads the
   * statistics, the query terms' blocks and the pending chunks in one statement (one snapshot). A rowid whose chunk
   * was deleted without remove() may appear: the caller reads the chunks by rowid and collection, which drops it.
   */
  async rank(
    sql: Sql,
    collectionId: string,
    query: string,
    limit: number,
    signal?: AbortSignal,
  ): Promise<LexicalHit[]> {
    return (await this.rankAt(sql, collectionId, query, limit, signal)).ranked;
  }

  /**
   * rank(), with the collection's generation read in the same statement (bumped by every statement that changes
   * its statistics, so by every write to its chunks: see RankedChunks); undefined when the query has no terms or
   * the collection no index. Postings read before at the generation the collection still has are not read again
   * (PostingsCache): the statement returns only those the cache lacks. `atGeneration`: the collection's generation as
   * another statement read it after the question arrived; when every term is kept at it, no statement is made.
   */
  async rankAt(
    sql: Sql,
    collectionId: string,
    query: string,
    limit: number,
    signal?: AbortSignal,
    atGeneration?: number,
  ): Promise<{ generation: number | undefined; ranked: LexicalHit[] }> {
    if (!(limit >= 1)) return { generation: undefined, ranked: [] };
    const terms = queryTerms(query);
    if (terms.length === 0) return { generation: undefined, ranked: [] };
    const kept = this.postings.kept(collectionId, terms);
    const lacking = kept === undefined ? terms : terms.filter((_, index) => kept.lists[index] === undefined);
    if (kept !== undefined && lacking.length === 0 && atGeneration === kept.generation) {
      return {
        generation: atGeneration,
        ranked: this.scorer.rank(kept.stats, kept.lists as TermPostings[], limit),
      };
    }
    const rows = await this.read(sql, collectionId, terms, kept?.generation, lacking, signal);
    const generation = generationOf(rows);
    if (generation === undefined) return { generation, ranked: [] };
    const readAll = kept === undefined || generation !== kept.generation;
    const read = termPostingsOf(readAll ? terms : lacking, rows) as NonNullable<
      ReturnType<typeof termPostingsOf>
    >;
    // Blocks copied out of the driver's buffers: a small bytea is a view of a 64 KB pool slab, which a kept view
    // would hold (the copy costs only what a cache miss reads).
    const lists = read.lists.map(({ blocks, pending }) => ({
      blocks: blocks.map(({ count, data }) => ({ count, data: new Uint8Array(data) })),
      pending,
    }));
    this.postings.keep(collectionId, generation, read.stats, readAll ? terms : lacking, lists);
    if (readAll) return { generation, ranked: this.scorer.rank(read.stats, lists, limit) };
    // The statement found the generation the kept lists were read at: they hold, with the ones just read.
    let next = 0;
    const all = kept.lists.map((list) => list ?? (lists[next++] as TermPostings));
    return { generation, ranked: this.scorer.rank(kept.stats, all, limit) };
  }

  /**
   * One statement (one snapshot): the collection's statistics and generation, and, when the generation is the one
   * the cache keeps postings at, only the postings and pending chunks of the `lacking` terms; otherwise those of all
   * `terms`.
   */
  private read(
    sql: Sql,
    collectionId: string,
    terms: readonly string[],
    keptGeneration: number | undefined,
    lacking: readonly string[],
    signal: AbortSignal | undefined,
  ): Promise<GenerationRow[]> {
    // -1: no generation is kept (a collection's starts at 0), so everything is read.
    const keptAt = keptGeneration ?? -1;
    return sql<GenerationRow[]>`
      WITH c AS (
        SELECT id, chunks, terms, generation FROM lexical_collections WHERE collection_id = ${pgText(collectionId)})
      SELECT 0 AS kind, c.chunks AS a, c.terms AS b, NULL::text AS term, NULL::bytea AS data,
        c.generation AS generation FROM c
      UNION ALL
      SELECT 1, p.count, 0, p.term, p.data, NULL FROM c JOIN lexical_postings AS p ON p.collection = c.id
      WHERE (c.generation <> ${keptAt}::bigint OR ${lacking.length > 0}::boolean)
        AND p.term = ANY(CASE WHEN c.generation = ${keptAt}::bigint THEN ${lacking as string[]}::text[] ELSE ${terms as string[]}::text[] END)
      UNION ALL
      SELECT 2, lp.rowid, lp.length, lp.terms, NULL, NULL FROM c JOIN lexical_pending AS lp ON lp.collection = c.id
      WHERE c.generation <> ${keptAt}::bigint OR ${lacking.length > 0}::boolean`.signal(signal);
  }
}

/** Adds chunks of one collection: pending, or merged where SQLite would have merged them one by one. */
async function addToCollection(
  tx: TransactionSql,
  collectionId: string,
  chunks: readonly PostgresLexicalFields[],
): Promise<void> {
  // Creates the collection's row or locks it (a no-op update), returning its statistics as of the lock.
  const [collection] = await tx<CollectionRow[]>`
    INSERT INTO lexical_collections (collection_id, chunks, terms, pending)
    VALUES (${pgText(collectionId)}, 0, 0, 0)
    ON CONFLICT (collection_id) DO UPDATE SET pending = lexical_collections.pending
    RETURNING id, chunks, terms, pending`;
  if (collection === undefined) throw new Error(`lexical index: no row for collection ${collectionId}`);
  const entries: PendingChunk[] = chunks.map((chunk) => {
    const { length, terms } = chunkTerms(chunk);
    return { rowid: chunk.rowid, length, terms: pgText(terms) };
  });
  // SQLite merges as soon as a collection has MERGE_PENDING_AT pending chunks: everything up to the last chunk that
  // reached it is merged, the rest stays pending.
  let pending = collection.pending;
  let mergedUpTo = 0;
  entries.forEach((_, i) => {
    pending += 1;
    if (pending >= MERGE_PENDING_AT) {
      mergedUpTo = i + 1;
      pending = 0;
    }
  });
  const merging = entries.slice(0, mergedUpTo);
  const staying = entries.slice(mergedUpTo);
  const mergedPending = merging.length > 0 ? await merge(tx, collection, merging) : 0;
  const length = entries.reduce((sum, entry) => sum + entry.length, 0);
  await tx.batch([
    tx`
      INSERT INTO lexical_pending (rowid, collection, length, terms)
      SELECT rowid, ${collection.id}, length, terms
      FROM unnest(
        ${staying.map((entry) => entry.rowid)}::bigint[],
        ${staying.map((entry) => entry.length)}::int[],
        ${staying.map((entry) => entry.terms)}::text[]) AS chunk(rowid, length, terms)`,
    tx`
      UPDATE lexical_collections
      SET chunks = chunks + ${entries.length}, terms = terms + ${length},
        pending = pending + ${staying.length - mergedPending}, generation = generation + 1
      WHERE id = ${collection.id}`,
  ]);
}

/**
 * Merges the collection's pending chunks and `adding` (not written yet) into the postings blocks, and records them
 * as merged chunks. Returns how many pending chunks it took from lexical_pending.
 */
async function merge(
  tx: TransactionSql,
  collection: CollectionRow,
  adding: readonly PendingChunk[],
): Promise<number> {
  // A merge's statements carry thousands of rows, which makes the planner JIT-compile them: 100-200 ms of
  // compiling for statements that run in tens of milliseconds.
  await tx`SET LOCAL jit = off`;
  const stored =
    collection.pending > 0
      ? await tx<PendingChunk[]>`
          DELETE FROM lexical_pending WHERE collection = ${collection.id} RETURNING rowid, length, terms`
      : [];
  const chunks = [...stored, ...adding].sort((a, b) => a.rowid - b.rowid);
  const byTerm = new Map<string, Uint8Array[]>();
  for (const { rowid, length, terms } of chunks) {
    for (const { term, title, text } of parseChunkTerms(terms)) {
      const posting = encodePosting(rowid, length, title, text);
      const postings = byTerm.get(term);
      if (postings === undefined) byTerm.set(term, [posting]);
      else postings.push(posting);
    }
  }
  const appends = [...byTerm].map(([term, postings]) => ({
    term,
    postings,
    first: postingRowid(postings[0] as Uint8Array),
    last: postingRowid(postings[postings.length - 1] as Uint8Array),
  }));
  // The common case in one statement, as SQLite's `append`: the postings go after the end of the term's open block
  // and fit in it, or the term has no blocks yet. The statement returns the terms it handled.
  const fits = appends.filter((entry) => entry.postings.length <= POSTING_BLOCK_CAPACITY);
  const handled = await tx<{ term: string }[]>`
    WITH input AS (
      SELECT * FROM unnest(
        ${fits.map((entry) => entry.term)}::text[],
        ${fits.map((entry) => entry.first)}::bigint[],
        ${fits.map((entry) => entry.last)}::bigint[],
        ${fits.map((entry) => entry.postings.length)}::int[],
        ${fits.map((entry) => joinPostings(entry.postings))}::bytea[]) AS i(term, first, last, count, data)
    ), appended AS (
      UPDATE lexical_postings AS p
      SET last = i.last, count = p.count + i.count, data = p.data || i.data
      FROM input AS i
      WHERE p.collection = ${collection.id} AND p.term = i.term AND p.bound = ${OPEN_BLOCK_BOUND}
        AND p.last < i.first AND p.count + i.count <= ${POSTING_BLOCK_CAPACITY}
      RETURNING p.term
    ), opened AS (
      INSERT INTO lexical_postings (collection, term, bound, last, count, data)
      SELECT ${collection.id}, i.term, ${OPEN_BLOCK_BOUND}, i.last, i.count, i.data FROM input AS i
      WHERE NOT EXISTS (SELECT 1 FROM lexical_postings AS p WHERE p.collection = ${collection.id} AND p.term = i.term)
      RETURNING term
    )
    SELECT term FROM appended UNION ALL SELECT term FROM opened`;
  const done = new Set(handled.map((row) => row.term));
  const rest = appends.filter((entry) => !done.has(entry.term));
  if (rest.length > 0) {
    // The blocks these postings land in: past a full open block only that block; below the term's last posting (a
    // reused or imported rowid) every block from the first of them up.
    const blocks = new BlockEdits(
      (
        await tx<BlockRow[]>`
          SELECT p.term, p.bound, p.last, p.count, p.data
          FROM unnest(${rest.map((entry) => entry.term)}::text[], ${rest.map((entry) => entry.first)}::bigint[])
            AS r(term, first)
          JOIN lexical_postings AS p ON p.collection = ${collection.id} AND p.term = r.term AND p.bound >= r.first`
      ).map((row) => ({ ...row, collection: collection.id })),
    );
    for (const { term, postings, first } of rest) blocks.append(collection.id, term, postings, first);
    await blocks.write(tx);
  }
  // Merged chunks keep only their terms' names, for remove().
  await tx`
    INSERT INTO lexical_chunks (rowid, collection, length, terms)
    SELECT rowid, ${collection.id}, length, terms
    FROM unnest(
      ${chunks.map((chunk) => chunk.rowid)}::bigint[],
      ${chunks.map((chunk) => chunk.length)}::int[],
      ${chunks.map((chunk) => mergedChunkTerms(chunk.terms))}::text[]) AS chunk(rowid, length, terms)`;
  return stored.length;
}

interface EditedBlock {
  bound: number;
  last: number;
  postings: Uint8Array[];
}

/**
 * Postings blocks read from lexical_postings, edited in memory as SQLite's index edits them row by row, then written
 * back (and emptied ones deleted) in one statement. For a term it must hold every block from the lowest rowid it
 * is asked about upwards, so that the block a rowid belongs to (the smallest bound >= it) is among them.
 */
class BlockEdits {
  /** Per "collection term", the blocks in bound order. */
  private readonly terms = new Map<string, EditedBlock[]>();
  private readonly changed = new Map<string, { collection: number; term: string; block: EditedBlock }>();
  private readonly deleted = new Map<string, { collection: number; term: string; bound: number }>();

  constructor(rows: readonly (BlockRow & { collection: number })[]) {
    for (const row of rows) {
      const blocks = this.blocks(row.collection, row.term);
      blocks.push({ bound: row.bound, last: row.last, postings: splitPostings(row) });
    }
    for (const blocks of this.terms.values()) blocks.sort((a, b) => a.bound - b.bound);
  }

  /** SQLite's removePosting: an emptied block goes, except the open one, which keeps its last rowid. */
  remove(collection: number, term: string, rowid: number): void {
    const blocks = this.blocks(collection, term);
    const at = blocks.findIndex((block) => block.bound >= rowid);
    const block = blocks[at];
    if (block === undefined) return;
    const kept = block.postings.filter((entry) => postingRowid(entry) !== rowid);
    if (kept.length === block.postings.length) return;
    if (kept.length === 0 && block.bound !== OPEN_BLOCK_BOUND) {
      blocks.splice(at, 1);
      this.drop(collection, term, block.bound);
    } else {
      const final = kept[kept.length - 1];
      this.put(collection, term, {
        bound: block.bound,
        last: final === undefined ? block.last : postingRowid(final),
        postings: kept,
      });
    }
  }

  /** SQLite's appendPostings past its one-statement append: closes full blocks, or places postings one by one. */
  append(collection: number, term: string, postings: readonly Uint8Array[], first: number): void {
    const blocks = this.blocks(collection, term);
    const open = blocks.find((block) => block.bound === OPEN_BLOCK_BOUND);
    if (open !== undefined && open.last >= first) {
      for (const posting of postings) this.place(collection, term, posting);
      return;
    }
    for (const block of appendBlocks(open?.postings ?? [], postings)) {
      this.put(collection, term, { ...block, last: postingRowid(block.postings.at(-1) as Uint8Array) });
    }
  }

  /** Writes the changed blocks and deletes the emptied ones. */
  async write(tx: TransactionSql): Promise<void> {
    if (this.changed.size === 0 && this.deleted.size === 0) return;
    const changed = [...this.changed.values()];
    const deleted = [...this.deleted.values()];
    await tx`
      WITH deleted AS (
        DELETE FROM lexical_postings AS p
        USING unnest(
          ${deleted.map((entry) => entry.collection)}::bigint[],
          ${deleted.map((entry) => entry.term)}::text[],
          ${deleted.map((entry) => entry.bound)}::bigint[]) AS d(collection, term, bound)
        WHERE p.collection = d.collection AND p.term = d.term AND p.bound = d.bound
      )
      INSERT INTO lexical_postings (collection, term, bound, last, count, data)
      SELECT * FROM unnest(
        ${changed.map((entry) => entry.collection)}::bigint[],
        ${changed.map((entry) => entry.term)}::text[],
        ${changed.map((entry) => entry.block.bound)}::bigint[],
        ${changed.map((entry) => entry.block.last)}::bigint[],
        ${changed.map((entry) => entry.block.postings.length)}::int[],
        ${changed.map((entry) => joinPostings(entry.block.postings))}::bytea[])
      ON CONFLICT (collection, term, bound) DO UPDATE
        SET last = excluded.last, count = excluded.count, data = excluded.data`;
  }

  /** SQLite's placePosting: into the block it belongs to, which splits in two when it overflows. */
  private place(collection: number, term: string, posting: Uint8Array): void {
    const rowid = postingRowid(posting);
    const blocks = this.blocks(collection, term);
    const at = blocks.findIndex((block) => block.bound >= rowid);
    const block = blocks[at];
    if (block === undefined) throw new Error(`lexical index: no block for ${rowid} in term ${term}`);
    const placed = insertPosting(
      { ...block, count: block.postings.length, data: joinPostings(block.postings) },
      posting,
    );
    const edited = placed.map(({ bound, postings }) => ({
      bound,
      last: postingRowid(postings.at(-1) as Uint8Array),
      postings,
    }));
    // put() replaces the block that keeps its bound and puts a split's lower half before it.
    for (const entry of edited) this.put(collection, term, entry);
  }

  private blocks(collection: number, term: string): EditedBlock[] {
    const key = `${collection} ${term}`;
    let blocks = this.terms.get(key);
    if (blocks === undefined) {
      blocks = [];
      this.terms.set(key, blocks);
    }
    return blocks;
  }

  private put(collection: number, term: string, block: EditedBlock): void {
    const blocks = this.blocks(collection, term);
    const at = blocks.findIndex((entry) => entry.bound >= block.bound);
    if (blocks[at]?.bound === block.bound) blocks[at] = block;
    else if (at === -1) blocks.push(block);
    else blocks.splice(at, 0, block);
    const key = `${collection} ${term} ${block.bound}`;
    this.deleted.delete(key);
    this.changed.set(key, { collection, term, block });
  }

  private drop(collection: number, term: string, bound: number): void {
    const key = `${collection} ${term} ${bound}`;
    this.changed.delete(key);
    this.deleted.set(key, { collection, term, bound });
  }
}
