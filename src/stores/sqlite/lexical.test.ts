import { mkdtempSync, rmSync } from 'node:fs';
import type { DatabaseSync } from 'node:sqlite';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { analyze } from '../../retrieval/text-analysis.ts';
import { openDatabase } from './database.ts';
import { BM25, LexicalIndex, queryTerms } from './lexical.ts';

let db: DatabaseSync;
let index: LexicalIndex;
let chunkIds = 0;

beforeEach(() => {
  db = openDatabase(':memory:').db;
  index = new LexicalIndex(db);
  for (const collection of ['docs', 'other']) {
    db.prepare(
      `INSERT INTO documents (id, collection_id, source, title, media_type, content_hash, metadata, chunk_count,
         bytes, created_at, updated_at) VALUES (?, ?, 'source', 'title', 'text/plain', 'hash', '{}', 0, 0, 0, 0)`,
    ).run(`doc-${collection}`, collection);
  }
});

afterEach(() => db.close());

/** Writes a chunk row and indexes it, as the document store does; returns its rowid. */
function addChunk(
  collection: string,
  text: string,
  options: { title?: string; heading?: string; rowid?: number } = {},
) {
  const { rowid } = db
    .prepare(
      `INSERT INTO chunks (rowid, id, document_id, collection_id, ordinal, heading, text)
       VALUES (?, ?, ?, ?, 0, ?, ?) RETURNING rowid`,
    )
    .get(
      options.rowid ?? null,
      `chunk-${(chunkIds += 1)}`,
      `doc-${collection}`,
      collection,
      options.heading ?? '',
      text,
    ) as {
    rowid: number;
  };
  index.add({ rowid, title: options.title ?? '', heading: options.heading ?? '', text });
  return rowid;
}

function removeChunk(rowid: number): void {
  index.delete(rowid);
  db.prepare('DELETE FROM chunks WHERE rowid = ?').run(rowid);
}

const rowids = (collection: string, query: string, limit = 10): number[] =>
  index.query(collection, query, limit).map((hit) => hit.rowid);

describe('lexical index', () => {
  it('treats query syntax as plain words and returns nothing for queries without searchable words', () => {
    const alpha = addChunk('docs', 'Alpha beta: gamma-delta (near) "quoted" NEAR star* minus -x 数据库 検索');
    addChunk('docs', 'unrelated text about something else');
    const hostile = [
      '"',
      '""',
      '"alpha',
      '(alpha OR',
      ')',
      'NEAR(alpha beta)',
      'alpha NEAR/2 beta',
      'alpha*',
      '*',
      '-alpha',
      'alpha - beta',
      'title:alpha',
      ':',
      '^alpha',
      'alpha AND NOT beta',
      '{title}: alpha',
      "alpha' OR '1'='1",
      'alpha; DROP TABLE chunks; --',
      '\u0000alpha',
    ];
    for (const query of hostile) {
      expect(() => index.query('docs', query, 10), query).not.toThrow();
    }
    expect(rowids('docs', 'NEAR(alpha beta)')).toEqual([alpha]);
    expect(rowids('docs', 'star*')).toEqual([alpha]);
    expect(rowids('docs', 'gamma-delta')).toEqual([alpha]);
    expect(rowids('docs', '数据库')).toEqual([alpha]);
    for (const empty of [
      '',
      '   ',
      '🙂🚀🎉',
      '***',
      '"()"',
      '-:',
      'the of and to is',
      'What is it?',
      '¿¡…—',
    ]) {
      expect(index.query('docs', empty, 10), empty).toEqual([]);
      expect(queryTerms(empty), empty).toEqual([]);
    }
    expect(index.query('docs', 'alpha', 0)).toEqual([]);
  });

  it('keeps collections apart, including their statistics', () => {
    const docs = addChunk('docs', 'Refunds are issued within 14 days of a return.');
    addChunk('docs', 'Shipping is free above 50 euros.');
    const other = addChunk('other', 'Refunds refunds refunds for the other tenant.');
    expect(rowids('docs', 'How long do refunds take?')).toEqual([docs]);
    expect(rowids('other', 'refunds')).toEqual([other]);
    expect(rowids('missing', 'refunds')).toEqual([]);
    expect(index.query('docs', 'refunds', 10)[0]?.score).toBeGreaterThan(0);
  });

  it('forgets deleted chunks and re-indexes a reused rowid', () => {
    const first = addChunk('docs', 'The quick brown fox');
    const second = addChunk('docs', 'A quick grey wolf');
    expect(new Set(rowids('docs', 'quick'))).toEqual(new Set([first, second]));
    removeChunk(second);
    expect(rowids('docs', 'quick')).toEqual([first]);
    expect(rowids('docs', 'wolf')).toEqual([]);
    // SQLite hands out the highest rowid again after it is deleted.
    const reused = addChunk('other', 'A lazy dog');
    expect(reused).toBe(second);
    expect(rowids('docs', 'wolf')).toEqual([]);
    expect(rowids('other', 'dog')).toEqual([reused]);
    index.delete(123_456); // never indexed: ignored
  });

  it('keeps merged postings consistent when a term empties and a lower rowid comes back', () => {
    // 400 chunks: merged in batches into a full block of "shared" and an open block after it.
    const rows = Array.from({ length: 400 }, (_, i) => addChunk('docs', `shared filler${i}`));
    const early = rows[10] as number;
    // Empties the open block, then brings back an early rowid with the term, merged (by 127 more chunks) twice.
    for (const rowid of rows.slice(150)) removeChunk(rowid);
    const fillers = (): void => {
      for (let i = 0; i < 127; i += 1) addChunk('docs', `padding${i}`);
    };
    for (let round = 0; round < 2; round += 1) {
      removeChunk(early);
      addChunk('docs', 'shared twin', { rowid: early });
      fillers();
    }
    const twin = addChunk('docs', 'shared twin');
    fillers();
    const hits = index.query('docs', 'shared twin', 5);
    expect(hits.slice(0, 2).map((hit) => hit.rowid)).toEqual([early, twin]);
    expect(hits[0]?.score).toBeCloseTo(hits[1]?.score ?? Number.NaN, 12);
    expect(rowids('docs', 'shared', 500)).toHaveLength(151);
    removeChunk(early);
    expect(rowids('docs', 'twin')).toEqual([twin]);
  });

  it('matches word forms through stemming and ignores case and diacritics', () => {
    const runs = addChunk('docs', 'She runs every morning.');
    const cafe = addChunk('docs', 'Le Café Crème de la Señora, naïve Übergröße');
    expect(rowids('docs', 'running')).toEqual([runs]);
    expect(rowids('docs', 'RUN')).toEqual([runs]);
    expect(rowids('docs', 'cafe creme')).toEqual([cafe]);
    expect(rowids('docs', 'CAFÉ')).toEqual([cafe]);
    expect(rowids('docs', 'senora')).toEqual([cafe]);
    expect(rowids('docs', 'naive')).toEqual([cafe]);
    expect(rowids('docs', 'ubergrosse')).toEqual([cafe]);
  });

  it('searches titles and headings, and weighs them above body text', () => {
    const titled = addChunk('docs', 'Check the logs first.', {
      title: 'Kubernetes handbook',
      heading: 'Crashloops',
    });
    const body = addChunk('docs', 'Kubernetes restarts crashloops with backoff; kubernetes pods.');
    expect(rowids('docs', 'crashloops')).toHaveLength(2);
    expect(rowids('docs', 'handbook')).toEqual([titled]);
    expect(rowids('docs', 'kubernetes crashloops')[0]).toBe(titled);
    expect(rowids('docs', 'backoff')).toEqual([body]);
  });

  it('keeps numbers and hyphenated terms searchable', () => {
    const il6 = addChunk('docs', 'IL-6 levels rose 2.5-fold in 10,000 patients (p < 0.05).');
    addChunk('docs', 'IL-10 levels fell by 6 percent in 2 patients.');
    expect(rowids('docs', 'IL-6 2.5-fold')[0]).toBe(il6);
    expect(rowids('docs', '10,000')).toEqual([il6]);
    expect(rowids('docs', '0.05')).toEqual([il6]);
  });

  it('ranks exactly as BM25 over the analyzed text, through merges, block splits, deletes and re-adds', () => {
    // A deterministic generator over a small vocabulary, so common words fill and split posting blocks.
    let seed = 42;
    const random = (): number => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const vocabulary = Array.from({ length: 60 }, (_, i) => `w${i}x`);
    const sentence = (words: number): string =>
      Array.from({ length: words }, () => vocabulary[Math.floor(random() ** 2 * vocabulary.length)]).join(
        ' ',
      );
    const live = new Map<number, { collection: string; title: string; text: string }>();
    const add = (collection: string, rowid?: number): void => {
      const chunk = { collection, title: sentence(2), text: sentence(5 + Math.floor(random() * 30)) };
      live.set(
        addChunk(collection, chunk.text, { title: chunk.title, ...(rowid === undefined ? {} : { rowid }) }),
        chunk,
      );
    };
    for (let i = 0; i < 900; i += 1) add(random() < 0.8 ? 'docs' : 'other');
    const victims = [...live.keys()].filter(() => random() < 0.3);
    for (const rowid of victims) {
      removeChunk(rowid);
      live.delete(rowid);
    }
    // Re-adding a third of them puts rowids below postings already merged.
    for (const rowid of victims.filter(() => random() < 0.33)) add(random() < 0.5 ? 'docs' : 'other', rowid);
    for (let i = 0; i < 300; i += 1) add('docs');

    const expected = (collection: string, query: string, limit: number) => {
      const chunks = [...live].filter(([, chunk]) => chunk.collection === collection);
      const analyzed = chunks.map(([rowid, chunk]) => ({
        rowid,
        title: analyze(chunk.title),
        text: analyze(chunk.text),
      }));
      const average =
        analyzed.reduce((sum, chunk) => sum + chunk.title.length + chunk.text.length, 0) / analyzed.length;
      const scores = new Map<number, number>();
      for (const term of queryTerms(query)) {
        const df = analyzed.filter((chunk) => chunk.title.includes(term) || chunk.text.includes(term)).length;
        const idf = Math.log(1 + (analyzed.length - df + 0.5) / (df + 0.5));
        for (const chunk of analyzed) {
          const tf =
            BM25.titleWeight * chunk.title.filter((t) => t === term).length +
            chunk.text.filter((t) => t === term).length;
          if (tf === 0) continue;
          const norm = BM25.k1 * (1 - BM25.b + (BM25.b * (chunk.title.length + chunk.text.length)) / average);
          scores.set(chunk.rowid, (scores.get(chunk.rowid) ?? 0) + (idf * tf * (BM25.k1 + 1)) / (tf + norm));
        }
      }
      return [...scores]
        .sort((a, b) => b[1] - a[1] || a[0] - b[0])
        .slice(0, limit)
        .map(([rowid, score]) => ({ rowid, score }));
    };
    for (const query of [
      'w0x',
      'w1x w2x',
      'w3x w40x w59x',
      'w0x w1x w2x w3x w4x w5x',
      'w58x w59x',
      'nothing',
    ]) {
      for (const collection of ['docs', 'other']) {
        const actual = index.query(collection, query, 25);
        const wanted = expected(collection, query, 25);
        expect(
          actual.map((hit) => hit.rowid),
          `${collection}: ${query}`,
        ).toEqual(wanted.map((hit) => hit.rowid));
        actual.forEach((hit, i) => expect(hit.score).toBeCloseTo(wanted[i]?.score ?? Number.NaN, 9));
      }
    }
  });
});

describe('lexical index: postings kept between queries', () => {
  it('reads the postings of terms seen before only while the generation stays', () => {
    const refunds = addChunk('docs', 'Refunds are issued within 14 days of a return.');
    addChunk('docs', 'Shipping is free above 50 euros.');
    index.mergePending('docs');
    const first = index.rank('docs', 'refund policy', 10);
    expect(first.ranked.map((hit) => hit.rowid)).toEqual([refunds]);
    // Behind the index's back (no generation bump): a query of terms it read before does not read them again...
    db.exec('DELETE FROM lexical_postings');
    expect(index.rank('docs', 'refund policy', 10)).toEqual(first);
    expect(index.rank('docs', 'policy refunds', 10).ranked).toEqual(first.ranked);
    // ...one with a term it has not read reads them all, at the same generation.
    expect(index.rank('docs', 'refund shipping', 10).ranked).toEqual([]);
    // Any write through the index bumps the generation: everything is read again.
    const later = addChunk('docs', 'Refunds for damaged goods.');
    expect(rowids('docs', 'refund')).toEqual([later]);
  });

  it('sees what another connection to the file wrote', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rivulet-lexical-'));
    try {
      const path = join(dir, 'rivulet.sqlite');
      const mine = openDatabase(path).db;
      const theirs = openDatabase(path).db;
      mine
        .prepare(
          `INSERT INTO documents (id, collection_id, source, title, media_type, content_hash, metadata, chunk_count,
             bytes, created_at, updated_at) VALUES ('doc', 'docs', 'source', 'title', 'text/plain', 'hash', '{}', 0, 0, 0, 0)`,
        )
        .run();
      const chunk = (on: DatabaseSync, into: LexicalIndex, text: string): number => {
        const { rowid } = on
          .prepare(
            `INSERT INTO chunks (id, document_id, collection_id, ordinal, heading, text)
             VALUES (?, 'doc', 'docs', 0, '', ?) RETURNING rowid`,
          )
          .get(`chunk-${(chunkIds += 1)}`, text) as { rowid: number };
        into.add({ rowid, title: '', heading: '', text });
        into.mergePending('docs');
        return rowid;
      };
      const mineIndex = new LexicalIndex(mine);
      const theirIndex = new LexicalIndex(theirs);
      const first = chunk(mine, mineIndex, 'Refunds take 14 days.');
      expect(mineIndex.query('docs', 'refunds', 10).map((hit) => hit.rowid)).toEqual([first]);
      const second = chunk(theirs, theirIndex, 'Refunds refunds: always refunds, within a week.');
      expect(mineIndex.query('docs', 'refunds', 10).map((hit) => hit.rowid)).toEqual([second, first]);
      theirIndex.delete(second);
      expect(mineIndex.query('docs', 'refunds', 10)).toEqual(
        new LexicalIndex(mine).query('docs', 'refunds', 10),
      );
      expect(mineIndex.query('docs', 'refunds', 10).map((hit) => hit.rowid)).toEqual([first]);
      mine.close();
      theirs.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
