// BM25 over packed postings, scored in JavaScript, the same for every store. Quality is measured by
// `npm run eval:beir` (BEIR SciFact).
//
// A store keeps the postings (postings.ts, chunk-terms.ts) in its own tables and, for a query, reads what the
// scorer needs: the collection's statistics and, for each query term, its postings blocks and the postings of
// chunks not merged into blocks yet. It reads them however suits it (synchronously in SQLite, in one round trip
// over a network), then calls rank(), which is synchronous: concurrent queries never interleave inside it, so one
// scorer (and its score table) serves a whole store.

import { BM25 } from './bm25.ts';
import { pendingPostings, type PendingPosting } from './chunk-terms.ts';
import type { PostingBlock } from './postings.ts';
import { ScoreTable, type LexicalHit } from './score-table.ts';

export type { LexicalHit } from './score-table.ts';

/** A collection's statistics: its chunk count and their total length in terms. */
export interface CollectionStats {
  chunks: number;
  terms: number;
}

/** A query term's postings: its blocks, and the postings of the chunks still pending a merge. */
export interface TermPostings {
  blocks: readonly PostingBlock[];
  pending: readonly PendingPosting[];
}

/**
 * One row of a store's query statement, which reads all a query needs at once: the collection's statistics (kind
 * 0: `a` its chunk count, `b` its total length), a postings block of a query term (1: `a` its count, `term`, `data`)
 * or a pending chunk (2: `a` its rowid, `b` its length, `term` its terms string, chunk-terms.ts).
 */
export interface QueryRow {
  kind: 0 | 1 | 2;
  a: number;
  b: number;
  term: string | null;
  data: Uint8Array | null;
}

/** A row of a store's query statement: its statistics row (kind 0) carries the collection's generation too. */
export type GenerationRow = QueryRow & { generation: number | null };

/** The collection's generation on a query's statistics row (RankedChunks); undefined without one. */
export function generationOf(rows: readonly GenerationRow[]): number | undefined {
  for (const row of rows) if (row.kind === 0) return row.generation ?? undefined;
  return undefined;
}

/**
 * The collection's statistics and each of `terms`' postings (in the order of `terms`) from the rows of a store's query
 * statement; undefined without a statistics row (no such collection).
 */
export function termPostingsOf(
  terms: readonly string[],
  rows: readonly QueryRow[],
): { stats: CollectionStats; lists: TermPostings[] } | undefined {
  let stats: CollectionStats | undefined;
  const blocks = new Map<string, PostingBlock[]>();
  const pending: { rowid: number; length: number; terms: string }[] = [];
  for (const row of rows) {
    if (row.kind === 0) stats = { chunks: row.a, terms: row.b };
    else if (row.kind === 1) {
      const block = { count: row.a, data: row.data as Uint8Array };
      const list = blocks.get(row.term as string);
      if (list === undefined) blocks.set(row.term as string, [block]);
      else list.push(block);
    } else pending.push({ rowid: row.a, length: row.b, terms: row.term as string });
  }
  if (stats === undefined) return undefined;
  const lists = terms.map((term) => ({
    blocks: blocks.get(term) ?? [],
    pending: pending.length > 0 ? pendingPostings(pending, term) : [],
  }));
  return { stats, lists };
}

export class Bm25Scorer {
  private readonly scores = new ScoreTable();

  /**
   * The best `limit` chunks by BM25 over the postings of the query's terms (one entry per distinct term), best
   * first; scores are positive, ties go to the lower rowid.
   */
  /** rank() over the rows of a store's query statement (QueryRow) for the query's distinct `terms`. */
  rankRows(terms: readonly string[], rows: readonly QueryRow[], limit: number): LexicalHit[] {
    const read = termPostingsOf(terms, rows);
    return read === undefined ? [] : this.rank(read.stats, read.lists, limit);
  }

  rank(stats: CollectionStats, lists: readonly TermPostings[], limit: number): LexicalHit[] {
    if (!(limit >= 1) || stats.chunks <= 0) return [];
    const { k1, b, titleWeight } = BM25;
    const n = stats.chunks;
    const averageLength = Math.max(stats.terms / n, 1);
    // k1 * (1 - b + b * length / average) = lengthBase + lengthSlope * length
    const lengthBase = k1 * (1 - b);
    const lengthSlope = (k1 * b) / averageLength;
    let postings = 0;
    for (const { blocks, pending } of lists) {
      postings += pending.length;
      for (const block of blocks) postings += block.count;
    }
    const scores = this.scores;
    scores.reset(postings);
    for (const { blocks, pending } of lists) {
      let df = pending.length;
      for (const block of blocks) df += block.count;
      if (df === 0) continue;
      // Lucene's idf: never negative, so a word in most chunks still counts a little.
      const weight = Math.log(1 + (n - df + 0.5) / (df + 0.5)) * (k1 + 1);
      for (const { count, data } of blocks) {
        scores.addPostings(data, count, weight, lengthBase, lengthSlope, titleWeight);
      }
      for (const { rowid, length, title, text } of pending) {
        const frequency = titleWeight * title + text;
        scores.add(rowid, (weight * frequency) / (frequency + lengthBase + lengthSlope * length));
      }
    }
    return scores.top(limit);
  }
}
