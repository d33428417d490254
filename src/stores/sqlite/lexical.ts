// BM25 full-text search over chunks with FTS5: the schema, indexing and the query. Quality is measured by
// `npm run eval:beir`; speed by `npm run bench`.

import type { DatabaseSync, StatementSync } from 'node:sqlite';

/** Contentless FTS5 table keyed by chunks.rowid: the text itself lives once, in `chunks`. */
export const LEXICAL_SCHEMA = `
  CREATE VIRTUAL TABLE chunk_fts USING fts5(
    title, heading, text,
    content = '', contentless_delete = 1,
    tokenize = 'porter unicode61 remove_diacritics 2'
  );
`;

export interface LexicalFields {
  rowid: number | bigint;
  title: string;
  heading: string;
  text: string;
}

/** Words too common to help ranking: dropped from queries (documents keep them, so phrases still read). */
const STOPWORDS = new Set(
  (
    'a an and are as at be but by for if in into is it no not of on or such that the their then there these ' +
    'they this to was will with what which who whom how why when where do does did can could should would i you ' +
    'me my we our your he she him her its from about than so'
  ).split(' '),
);

/** An FTS5 MATCH expression: the query's words, quoted (so no FTS syntax leaks through), joined with OR. */
export function buildMatchQuery(query: string): string | undefined {
  const words =
    query
      .normalize('NFKC')
      .toLowerCase()
      .match(/[\p{L}\p{N}]+/gu) ?? [];
  const terms = [...new Set(words.filter((word) => !STOPWORDS.has(word)))];
  if (terms.length === 0) return undefined;
  return terms.map((term) => `"${term}"`).join(' OR ');
}

export class LexicalIndex {
  private readonly insert: StatementSync;
  private readonly remove: StatementSync;
  private readonly search: StatementSync;

  constructor(db: DatabaseSync) {
    this.insert = db.prepare('INSERT INTO chunk_fts (rowid, title, heading, text) VALUES (?, ?, ?, ?)');
    this.remove = db.prepare('DELETE FROM chunk_fts WHERE rowid = ?');
    // bm25() is lower-is-better; weights favour titles and headings over body text.
    this.search = db.prepare(`
      SELECT c.rowid AS rowid, -bm25(chunk_fts, 2.0, 1.5, 1.0) AS score
      FROM chunk_fts JOIN chunks c ON c.rowid = chunk_fts.rowid
      WHERE chunk_fts MATCH ? AND c.collection_id = ?
      ORDER BY bm25(chunk_fts, 2.0, 1.5, 1.0)
      LIMIT ?`);
  }

  add(fields: LexicalFields): void {
    this.insert.run(fields.rowid, fields.title, fields.heading, fields.text);
  }

  delete(rowid: number | bigint): void {
    this.remove.run(rowid);
  }

  /** Best first. */
  query(collectionId: string, query: string, limit: number): { rowid: number; score: number }[] {
    const match = buildMatchQuery(query);
    if (match === undefined) return [];
    return this.search.all(match, collectionId, limit) as { rowid: number; score: number }[];
  }
}
