// `npm run eval:beir`: BM25 retrieval quality on BEIR SciFact through the real store API, compared with the
// published numbers. Ingests every document (title + abstract, one chunk) with documents.upsertDocument (then
// mergeTextIndex, as the ingestor ends a batch) into fresh stores (a SQLite file, or with --store postgres a scratch
// PostgreSQL database, created and dropped), runs
// searchText(collection, query, 1000) for each query of the split, and computes nDCG@10 (binary relevance, as
// trec_eval ndcg_cut.10 over the top-1000 run) and Recall@100 for BM25 alone and for the run retrieval uses (the
// same hits after the proximity rerank, src/retrieval/proximity.ts), with the latency of searchText and of
// searchLexical (both steps). Both backends rank with the same scorer over the same postings, so their figures
// must agree.

import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { ChunkHit } from '../src/core/documents.ts';
import { searchLexical } from '../src/retrieval/lexical-search.ts';
import { rerankByProximity } from '../src/retrieval/proximity.ts';
import { openStores } from '../src/stores/open-stores.ts';
import { createScratchDatabase, DEFAULT_DATABASE_URL, type ScratchDatabase } from './scratch-postgres.ts';
import { formatNumber, percentile } from './stats.ts';

const DEFAULT_DIR = fileURLToPath(new URL('../../shared/data/beir-scifact', import.meta.url));
const COLLECTION = 'scifact';
const RUN_DEPTH = 1000;
/** A retrieval-augmented answer asks for a few dozen candidates; latency is also timed at this depth. */
const ANSWER_DEPTH = 20;

const USAGE = `Usage: npm run eval:beir -- [<dataset dir>] [--split test|train] [--store sqlite|postgres]
                         [--data-dir <dir>] [--database-url <url>]

  <dataset dir>         BEIR SciFact (corpus.jsonl, queries.jsonl, qrels/<split>.tsv); default $BEIR_SCIFACT_DIR
                        or ${DEFAULT_DIR}
  --split               qrels split to evaluate (default test: the 300 queries the published numbers use)
  --store               sqlite (default) or postgres
  --data-dir <dir>      sqlite: directory to build the database in, kept afterwards (default: a temporary one,
                        deleted); must not exist
  --database-url <url>  postgres: the server to create a scratch database on (dropped afterwards); default
                        $DATABASE_URL or ${DEFAULT_DATABASE_URL}`;

/** Published nDCG@10 on the SciFact test split (see the dataset README for sources). */
const REFERENCES: readonly [method: string, ndcg: number][] = [
  ['BM25 flat, Anserini/Lucene (k1 0.9, b 0.4, title+text one field)', 0.6789],
  ['BM25, BEIR paper (Elasticsearch multi_match)', 0.665],
  ['BM25 multifield, Anserini', 0.6647],
  ['BGE-base-en-v1.5 (dense)', 0.7408],
];

interface CorpusDoc {
  _id: string;
  title: string;
  text: string;
}

function readJsonLines<T>(path: string): T[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as T);
}

/** query id -> relevant doc ids (score > 0); lines end in CRLF in the BEIR release. */
function readQrels(path: string): Map<string, Set<string>> {
  const qrels = new Map<string, Set<string>>();
  const lines = readFileSync(path, 'utf8').split('\n').slice(1);
  for (const line of lines) {
    const [query, doc, score] = line.replace(/\r$/, '').split('\t');
    if (query === undefined || doc === undefined || !(Number(score) > 0)) continue;
    const relevant = qrels.get(query) ?? new Set<string>();
    relevant.add(doc);
    qrels.set(query, relevant);
  }
  return qrels;
}

/** nDCG@k with binary gains; the ideal ranking puts every relevant document first. */
function ndcgAt(k: number, ranked: readonly string[], relevant: ReadonlySet<string>): number {
  let dcg = 0;
  ranked.slice(0, k).forEach((doc, i) => {
    if (relevant.has(doc)) dcg += 1 / Math.log2(i + 2);
  });
  let ideal = 0;
  for (let i = 0; i < Math.min(k, relevant.size); i += 1) ideal += 1 / Math.log2(i + 2);
  return dcg / ideal;
}

function recallAt(k: number, ranked: readonly string[], relevant: ReadonlySet<string>): number {
  return ranked.slice(0, k).filter((doc) => relevant.has(doc)).length / relevant.size;
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    options: {
      split: { type: 'string', default: 'test' },
      store: { type: 'string', default: 'sqlite' },
      'data-dir': { type: 'string' },
      'database-url': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    allowPositionals: true,
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const dir = resolve(positionals[0] ?? process.env.BEIR_SCIFACT_DIR ?? DEFAULT_DIR);
  const split = values.split;
  const files = {
    corpus: join(dir, 'corpus.jsonl'),
    queries: join(dir, 'queries.jsonl'),
    qrels: join(dir, 'qrels', `${split}.tsv`),
  };
  const missing = Object.values(files).filter((file) => !existsSync(file));
  if (missing.length > 0) {
    console.error(`BEIR SciFact not found: missing ${missing.join(', ')}`);
    console.error('Pass the dataset directory as an argument or set BEIR_SCIFACT_DIR.\n');
    console.error(USAGE);
    return 2;
  }
  const store = values.store;
  if (store !== 'sqlite' && store !== 'postgres') {
    console.error(`--store ${store}: sqlite or postgres\n`);
    console.error(USAGE);
    return 2;
  }
  const dataDir = values['data-dir'];
  if (dataDir !== undefined && existsSync(dataDir)) {
    console.error(`--data-dir ${dataDir} exists; give a new path`);
    return 2;
  }

  const corpus = readJsonLines<CorpusDoc>(files.corpus);
  const queryTexts = new Map(
    readJsonLines<{ _id: string; text: string }>(files.queries).map((query) => [query._id, query.text]),
  );
  const qrels = readQrels(files.qrels);
  const unknown = [...qrels.keys()].filter((id) => !queryTexts.has(id));
  if (unknown.length > 0) throw new Error(`qrels name ${unknown.length} queries missing from queries.jsonl`);

  let scratchDir: string | undefined;
  let scratchDatabase: ScratchDatabase | undefined;
  if (store === 'postgres') {
    const serverUrl = values['database-url'] ?? process.env.DATABASE_URL ?? DEFAULT_DATABASE_URL;
    scratchDatabase = await createScratchDatabase(serverUrl, 'rivulet_beir');
  } else if (dataDir === undefined) scratchDir = mkdtempSync(join(tmpdir(), 'rivulet-beir-'));
  const stores = await openStores(
    scratchDatabase === undefined
      ? { dataDir: dataDir ?? (scratchDir as string) }
      : { dataDir: ':memory:', databaseUrl: scratchDatabase.url },
  );
  try {
    const ingestStart = performance.now();
    for (const doc of corpus) {
      const text = doc.text;
      const bytes = Buffer.byteLength(JSON.stringify(doc));
      await stores.documents.upsertDocument(
        {
          collectionId: COLLECTION,
          source: doc._id,
          title: doc.title,
          mediaType: 'application/json',
          contentHash: createHash('sha256').update(`${doc.title}\n${text}`).digest('hex'),
          bytes,
          metadata: {},
        },
        [{ ordinal: 0, heading: '', text }],
      );
    }
    // As the ingestor ends a batch: the last chunks short of a merge go into the postings too.
    await stores.documents.mergeTextIndex(COLLECTION);
    const ingestSeconds = (performance.now() - ingestStart) / 1000;

    const timed = async (search: () => Promise<ChunkHit[]>): Promise<{ hits: ChunkHit[]; ms: number }> => {
      const start = performance.now();
      const hits = await search();
      return { hits, ms: performance.now() - start };
    };
    const bm25 = { ndcg: 0, recall: 0 };
    const reranked = { ndcg: 0, recall: 0 };
    const score = (totals: typeof bm25, hits: readonly ChunkHit[], relevant: ReadonlySet<string>): void => {
      const ranked = hits.map((hit) => hit.source);
      totals.ndcg += ndcgAt(10, ranked, relevant) / qrels.size;
      totals.recall += recallAt(100, ranked, relevant) / qrels.size;
    };
    const runLatencies: number[] = [];
    for (const [id, relevant] of qrels) {
      const query = queryTexts.get(id) as string;
      const { hits, ms } = await timed(() => stores.documents.searchText(COLLECTION, query, RUN_DEPTH));
      runLatencies.push(ms);
      score(bm25, hits, relevant);
      score(reranked, rerankByProximity(query, hits), relevant);
    }
    const answerLatencies: number[] = [];
    const lexicalLatencies: number[] = [];
    for (const id of qrels.keys()) {
      const query = queryTexts.get(id) as string;
      answerLatencies.push(
        (await timed(() => stores.documents.searchText(COLLECTION, query, ANSWER_DEPTH))).ms,
      );
      lexicalLatencies.push(
        (await timed(() => searchLexical(stores.documents, COLLECTION, query, ANSWER_DEPTH))).ms,
      );
    }

    const ms = (samples: number[]): string =>
      `p50 ${formatNumber(percentile(samples, 50), 2)} p95 ${formatNumber(percentile(samples, 95), 2)}`;
    console.log(`BEIR SciFact (${dir}), split ${split}, store ${store}`);
    console.log(`docs ${corpus.length}, ingested in ${ingestSeconds.toFixed(1)} s (one upsertDocument each)`);
    const figures = ({ ndcg, recall }: typeof bm25): string =>
      `nDCG@10 ${ndcg.toFixed(4)}, Recall@100 ${recall.toFixed(4)}`;
    console.log(`queries ${qrels.size}: ${figures(reranked)} (BM25 alone: ${figures(bm25)})`);
    console.log(
      `searchText ms: top-${RUN_DEPTH} ${ms(runLatencies)}; top-${ANSWER_DEPTH} ${ms(answerLatencies)}; ` +
        `searchLexical (with the rerank) top-${ANSWER_DEPTH} ${ms(lexicalLatencies)}`,
    );
    if (split === 'test') {
      console.log('published nDCG@10 (test):');
      for (const [method, value] of REFERENCES) console.log(`  ${value.toFixed(4)}  ${method}`);
    }
    return 0;
  } finally {
    await stores.close();
    await scratchDatabase?.drop();
    if (scratchDir !== undefined) rmSync(scratchDir, { recursive: true, force: true });
  }
}

process.exitCode = await main();
