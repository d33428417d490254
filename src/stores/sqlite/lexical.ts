// BM25 search over chunks: an inverted index kept in ordinary SQLite tables, scored by the shared scorer
// (src/retrieval/bm25/, which also holds the postings codec and BM25's parameters). This file is the SQL.
//
// Why not FTS5's bm25(): it scores every row that matches any query term, and a question's common words
// ("patients", "increase") match half of a large collection; at 100k chunks that is 40-110 ms a query. Here a
// query reads its terms' postings as a few hundred packed blobs and scores them in a tight loop (a few ms at
// 100k chunks), with BM25's parameters and idf under our control.
//
// Layout. Everything is partitioned by collection: a query never reads another collection's postings, and the
// statistics (chunk count, average length, document frequencies) are the collection's own.
// - lexical_pending: a new chunk is one row here, with its length and its terms (" term:title:text ..."; title
//   counts title and heading occurrences, text the body's). Queries score pending chunks straight from it.
// - lexical_postings: when a collection has MERGE_PENDING_AT pending chunks, or when mergePending() is called (the
//   ingestor does after each batch), they are merged into per-term blocks (postings.ts) in one pass (one write per
//   distinct term instead of one per term of every chunk, which in SQLite means far fewer pages rewritten per
//   commit).
// - lexical_chunks: a merged chunk's length and terms (" term term ..."), so that deleting it touches only its
//   blocks.
// - lexical_collections: per collection, the chunk count, their total length and the pending count, and its
//   generation: bumped by every statement that changes the others, so by every write to the collection's chunks
//   (see RankedChunks in src/core/documents.ts: a retriever keeps chunks it read while the generation stays).

import type { DatabaseSync, StatementSync } from 'node:sqlite';
import {
  Bm25Scorer,
  generationOf,
  termPostingsOf,
  type GenerationRow,
  type LexicalHit,
} from '../../retrieval/bm25/bm25-scorer.ts';
import { PostingsCache } from '../../retrieval/bm25/postings-cache.ts';
import { queryTerms } from '../../retrieval/bm25/bm25.ts';
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

export { BM25, queryTerms } from '../../retrieval/bm25/bm25.ts';
export type { LexicalHit } from '../../retrieval/bm25/bm25-scorer.ts';

export const LEXICAL_SCHEMA = `
  CREATE TABLE lexical_collections (
    id INTEGER PRIMARY KEY,
    collection_id TEXT NOT NULL UNIQUE,
    chunks INTEGER NOT NULL,
    terms INTEGER NOT NULL,
    pending INTEGER NOT NULL
  ) STRICT;

  CREATE TABLE lexical_pending (
    rowid INTEGER PRIMARY KEY,
    collection INTEGER NOT NULL,
    length INTEGER NOT NULL,
    terms TEXT NOT NULL
  ) STRICT;
  CREATE INDEX lexical_pending_by_collection ON lexical_pending (collection);

  CREATE TABLE lexical_chunks (
    rowid INTEGER PRIMARY KEY,
    collection INTEGER NOT NULL,
    length INTEGER NOT NULL,
    terms TEXT NOT NULL
  ) STRICT;

  CREATE TABLE lexical_postings (
    id INTEGER PRIMARY KEY,
    collection INTEGER NOT NULL,
    term TEXT NOT NULL,
    bound INTEGER NOT NULL,
    last INTEGER NOT NULL,
    count INTEGER NOT NULL,
    data BLOB NOT NULL,
    UNIQUE (collection, term, bound)
  ) STRICT;
`;

export interface LexicalFields extends ChunkFields {
  /** chunks.rowid; the chunk row must exist (its collection_id is read from it). */
  rowid: number | bigint;
}

interface CollectionRow {
  id: number;
  chunks: number;
  terms: number;
  pending: number;
}

interface ChunkRow {
  rowid: number;
  length: number;
  terms: string;
}

interface BlockRow {
  bound: number;
  last: number;
  count: number;
  data: Uint8Array;
}

type Statement =
  | 'chunkCollection'
  | 'collection'
  | 'createCollection'
  | 'updateCollection'
  | 'pendingChunk'
  | 'mergedChunk'
  | 'insertPending'
  | 'deletePending'
  | 'pendingChunks'
  | 'insertMerged'
  | 'deleteMerged'
  | 'append'
  | 'openBlock'
  | 'ceilingBlock'
  | 'writeBlock'
  | 'deleteBlock'
  | 'generation'
  | 'search';

export class LexicalIndex {
  private readonly statements: Record<Statement, StatementSync>;
  private readonly scorer = new Bm25Scorer();
  /** The postings queries read, while their collection's generation stays (see rank). */
  private readonly postings = new PostingsCache();

  constructor(db: DatabaseSync) {
    this.statements = {
      chunkCollection: db.prepare('SELECT collection_id FROM chunks WHERE rowid = ?'),
      collection: db.prepare(
        'SELECT id, chunks, terms, pending FROM lexical_collections WHERE collection_id = ?',
      ),
      createCollection: db.prepare(`
        INSERT INTO lexical_collections (collection_id, chunks, terms, pending) VALUES (?, 0, 0, 0)
        RETURNING id, chunks, terms, pending`),
      updateCollection: db.prepare(`
        UPDATE lexical_collections
        SET chunks = chunks + ?2, terms = terms + ?3, pending = pending + ?4, generation = generation + 1
        WHERE id = ?1`),
      pendingChunk: db.prepare('SELECT collection, length FROM lexical_pending WHERE rowid = ?'),
      mergedChunk: db.prepare('SELECT collection, length, terms FROM lexical_chunks WHERE rowid = ?'),
      insertPending: db.prepare(
        'INSERT INTO lexical_pending (rowid, collection, length, terms) VALUES (?, ?, ?, ?)',
      ),
      deletePending: db.prepare('DELETE FROM lexical_pending WHERE rowid = ?'),
      pendingChunks: db.prepare(
        'SELECT rowid, length, terms FROM lexical_pending WHERE collection = ? ORDER BY rowid',
      ),
      insertMerged: db.prepare(
        'INSERT INTO lexical_chunks (rowid, collection, length, terms) VALUES (?, ?, ?, ?)',
      ),
      deleteMerged: db.prepare('DELETE FROM lexical_chunks WHERE rowid = ?'),
      // Appends postings to the term's open block when they all come after its last posting and fit, or opens
      // the term's first block. No change means the slow path. (|| yields TEXT; SQLite copies the bytes
      // unchanged both ways, so the cast restores the exact blob.)
      append: db.prepare(`
        INSERT INTO lexical_postings (collection, term, bound, last, count, data)
        VALUES (?1, ?2, ${OPEN_BLOCK_BOUND}, ?3, ?4, ?5)
        ON CONFLICT (collection, term, bound) DO UPDATE
          SET last = excluded.last, count = count + excluded.count, data = CAST(data || excluded.data AS BLOB)
          WHERE last < ?6 AND count + excluded.count <= ${POSTING_BLOCK_CAPACITY}`),
      openBlock: db.prepare(`
        SELECT bound, last, count, data FROM lexical_postings
        WHERE collection = ? AND term = ? AND bound = ${OPEN_BLOCK_BOUND}`),
      ceilingBlock: db.prepare(`
        SELECT bound, last, count, data FROM lexical_postings
        WHERE collection = ? AND term = ? AND bound >= ? ORDER BY bound LIMIT 1`),
      writeBlock: db.prepare(`
        INSERT INTO lexical_postings (collection, term, bound, last, count, data) VALUES (?, ?, ?, ?, ?, ?)
        ON CONFLICT (collection, term, bound) DO UPDATE
          SET last = excluded.last, count = excluded.count, data = excluded.data`),
      deleteBlock: db.prepare('DELETE FROM lexical_postings WHERE collection = ? AND term = ? AND bound = ?'),
      generation: db.prepare('SELECT generation FROM lexical_collections WHERE collection_id = ?'),
      // Everything a query reads, as one statement (one read transaction): the collection's statistics, its query
      // terms' blocks and its pending chunks (QueryRow).
      search: db.prepare(`
        WITH c AS (SELECT id, chunks, terms, generation FROM lexical_collections WHERE collection_id = ?1)
        SELECT 0 AS kind, c.chunks AS a, c.terms AS b, NULL AS term, NULL AS data, c.generation AS generation FROM c
        UNION ALL
        SELECT 1, p.count, 0, p.term, p.data, NULL FROM c JOIN lexical_postings AS p ON p.collection = c.id
        WHERE p.term IN (SELECT value FROM json_each(?2))
        UNION ALL
        SELECT 2, lp.rowid, lp.length, lp.terms, NULL, NULL FROM c JOIN lexical_pending AS lp ON lp.collection = c.id`),
    };
  }

  /** Indexes a chunk (replacing what was indexed under its rowid). Call inside the transaction that wrote it. */
  add(fields: LexicalFields): void {
    const rowid = Number(fields.rowid);
    if (!Number.isSafeInteger(rowid) || rowid < 0 || rowid > MAX_POSTING_ROWID) {
      throw new Error(`lexical index: rowid ${rowid} out of range`);
    }
    const chunk = this.statements.chunkCollection.get(rowid) as { collection_id: string } | undefined;
    if (chunk === undefined) throw new Error(`lexical index: chunk ${rowid} does not exist`);
    this.delete(rowid);
    const collection = this.collection(chunk.collection_id, true) as CollectionRow;

    const { length, terms } = chunkTerms(fields);
    this.statements.insertPending.run(rowid, collection.id, length, terms);
    this.statements.updateCollection.run(collection.id, 1, length, 1);
    if (collection.pending + 1 >= MERGE_PENDING_AT) this.merge(collection.id);
  }

  /** Removes a chunk from the index; a rowid that was never indexed is ignored. */
  delete(rowid: number | bigint): void {
    const pending = this.statements.pendingChunk.get(rowid) as
      { collection: number; length: number } | undefined;
    if (pending !== undefined) {
      this.statements.deletePending.run(rowid);
      this.statements.updateCollection.run(pending.collection, -1, -pending.length, -1);
      return;
    }
    const merged = this.statements.mergedChunk.get(rowid) as
      { collection: number; length: number; terms: string } | undefined;
    if (merged === undefined) return;
    const id = Number(rowid);
    for (const { term } of parseChunkTerms(merged.terms)) this.removePosting(merged.collection, term, id);
    this.statements.deleteMerged.run(rowid);
    this.statements.updateCollection.run(merged.collection, -1, -merged.length, 0);
  }

  /**
   * Merges the collection's pending chunks into the postings blocks now, rather than when MERGE_PENDING_AT of them
   * have gathered, so that queries read only their terms' postings (a small collection never reaches the
   * threshold, and its every query would scan all its chunks' terms). Call inside a transaction.
   */
  mergePending(collectionId: string): void {
    const collection = this.collection(collectionId, false);
    if (collection !== undefined && collection.pending > 0) this.merge(collection.id);
  }

  /**
   * The best `limit` chunks of the collection for the query by BM25, best first; scores are positive. A rowid whose
   * chunk was deleted without delete() may appear: the caller reads the chunks by rowid and collection, which drops
   * it (the document store's hits).
   */
  query(collectionId: string, query: string, limit: number): LexicalHit[] {
    return this.rank(collectionId, query, limit).ranked;
  }

  /**
   * query(), with the collection's generation the postings were read at (bumped by every add, delete and merge: see
   * RankedChunks); undefined when the query has no terms or the collection no index. Postings read at the generation
   * the collection still has are not read again (PostingsCache): a question whose terms were all seen costs one row.
   */
  rank(
    collectionId: string,
    query: string,
    limit: number,
  ): { generation: number | undefined; ranked: LexicalHit[] } {
    if (!(limit >= 1)) return { generation: undefined, ranked: [] };
    const terms = queryTerms(query);
    if (terms.length === 0) return { generation: undefined, ranked: [] };
    const head = this.statements.generation.get(collectionId) as { generation: number } | undefined;
    if (head === undefined) return { generation: undefined, ranked: [] };
    const { generation } = head;
    const kept = this.postings.lookup(collectionId, generation, terms);
    if (kept !== undefined) return { generation, ranked: this.scorer.rank(kept.stats, kept.lists, limit) };
    const rows = this.statements.search.all(
      collectionId,
      JSON.stringify(terms),
    ) as unknown as GenerationRow[];
    const read = termPostingsOf(terms, rows);
    if (read === undefined) return { generation: undefined, ranked: [] };
    // Kept only when read at the generation just checked: a write between the two reads leaves nothing behind.
    const readAt = generationOf(rows);
    if (readAt === generation) this.postings.keep(collectionId, generation, read.stats, terms, read.lists);
    return { generation: readAt, ranked: this.scorer.rank(read.stats, read.lists, limit) };
  }

  private collection(collectionId: string, create: boolean): CollectionRow | undefined {
    const row = this.statements.collection.get(collectionId) as CollectionRow | undefined;
    if (row !== undefined || !create) return row;
    return this.statements.createCollection.get(collectionId) as unknown as CollectionRow;
  }

  /** Moves the collection's pending chunks into the postings blocks. */
  private merge(collection: number): void {
    const chunks = this.statements.pendingChunks.all(collection) as unknown as ChunkRow[];
    const byTerm = new Map<string, Uint8Array[]>();
    for (const { rowid, length, terms } of chunks) {
      for (const { term, title, text } of parseChunkTerms(terms)) {
        const posting = encodePosting(rowid, length, title, text);
        const postings = byTerm.get(term);
        if (postings === undefined) byTerm.set(term, [posting]);
        else postings.push(posting);
      }
    }
    for (const [term, postings] of byTerm) this.appendPostings(collection, term, postings);
    // Merged chunks keep only their terms' names, for delete().
    for (const { rowid, length, terms } of chunks) {
      this.statements.deletePending.run(rowid);
      this.statements.insertMerged.run(rowid, collection, length, mergedChunkTerms(terms));
    }
    this.statements.updateCollection.run(collection, 0, 0, -chunks.length);
  }

  /** Adds postings (ascending rowids) to a term's blocks. */
  private appendPostings(collection: number, term: string, postings: Uint8Array[]): void {
    const first = postingRowid(postings[0] as Uint8Array);
    const last = postingRowid(postings[postings.length - 1] as Uint8Array);
    if (postings.length <= POSTING_BLOCK_CAPACITY) {
      const data = joinPostings(postings);
      const { changes } = this.statements.append.run(collection, term, last, postings.length, data, first);
      if (Number(changes) > 0) return;
    }
    const open = this.statements.openBlock.get(collection, term) as BlockRow | undefined;
    if (open !== undefined && open.last >= first) {
      // Rowids below the term's last posting (a reused rowid): place them one by one.
      for (const posting of postings) this.placePosting(collection, term, postingRowid(posting), posting);
      return;
    }
    // Past the end of a full open block: close full blocks from the front, the rest stays open.
    for (const block of appendBlocks(open === undefined ? [] : splitPostings(open), postings)) {
      this.writeBlock(collection, term, block.bound, block.postings);
    }
  }

  /** Inserts one posting where it belongs, splitting a full block. */
  private placePosting(collection: number, term: string, rowid: number, posting: Uint8Array): void {
    const row = this.statements.ceilingBlock.get(collection, term, rowid) as BlockRow | undefined;
    if (row === undefined) throw new Error(`lexical index: no block for ${rowid} in term ${term}`);
    for (const block of insertPosting(row, posting)) {
      this.writeBlock(collection, term, block.bound, block.postings);
    }
  }

  private removePosting(collection: number, term: string, rowid: number): void {
    const row = this.statements.ceilingBlock.get(collection, term, rowid) as BlockRow | undefined;
    if (row === undefined) return;
    const postings = splitPostings(row);
    const kept = postings.filter((entry) => postingRowid(entry) !== rowid);
    if (kept.length === postings.length) return;
    // A block keeps its bound when its last rowid goes: the bound is only an upper bound. An emptied open block
    // stays, with its last rowid, so that a lower rowid can never open a new block below a closed one.
    if (kept.length === 0 && row.bound !== OPEN_BLOCK_BOUND)
      this.statements.deleteBlock.run(collection, term, row.bound);
    else this.writeBlock(collection, term, row.bound, kept, row.last);
  }

  /** `last` defaults to the last posting's rowid; it is given for an emptied open block. */
  private writeBlock(
    collection: number,
    term: string,
    bound: number,
    postings: readonly Uint8Array[],
    last?: number,
  ): void {
    const final = postings[postings.length - 1];
    const lastRowid = final === undefined ? (last ?? 0) : postingRowid(final);
    this.statements.writeBlock.run(
      collection,
      term,
      bound,
      lastRowid,
      postings.length,
      joinPostings(postings),
    );
  }
}
