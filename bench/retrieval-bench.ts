// `npm run bench:retrieval` (also run by `npm run bench`): the TTFT that BM25 retrieval over a 100k-chunk
// collection adds to an answer (issue goal: <= 15 ms at p50), and searchText's own latency on the store.
//
// 1. Builds (once, cached in os.tmpdir() and keyed by its parameters and by a fingerprint of the index the current
//    code writes) a SQLite database of generated documents through the store API (openStores +
//    documents.upsertDocument), timing the ingest.
// 2. Times searchText on that store directly, in this process, for every question, and searchLexical (searchText
//    and the proximity rerank the retriever adds).
// 3. Starts two Rivulet servers (src/cli/main.ts serve: loadConfig + createApp) against the fake upstream
//    (ttftMs 0), both with SAMPLE_CORPUS=false ANSWER_CACHE=false QUERY_ENHANCE=false EMBEDDING_PROVIDER=none:
//    one on the big database, one on DATA_DIR=:memory: (an empty collection: retrieval runs and finds nothing).
//    Asks both the same questions over POST /api/chat/stream, one at a time (interleaved) and then 8 at a time,
//    and reports client-side TTFT, the server's retrieve phase, and the difference.

import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { cpus, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { noteIgnoredFlags, othersFlagsNote, parseBenchArgs } from './flags.ts';
import { loadConfig } from '../src/config.ts';
import type { ChunkHit, ChunkInput, DocumentInput } from '../src/core/documents.ts';
import { searchLexical } from '../src/retrieval/lexical-search.ts';
import { databasePath, openStores } from '../src/stores/open-stores.ts';
import { mulberry32 } from '../test/fakes/openai-upstream.ts';
import type { ScenarioSetMessage, SetScenarioMessage } from './messages.ts';
import {
  freePort,
  runBench,
  startFakeUpstreamChild,
  spawnChild,
  stopChild,
  waitForHttpOk,
  waitForMessage,
  type BenchChild,
  RIVULET_SCRIPT,
} from './processes.ts';
import { formatNumber, markdownTable, percentile } from './stats.ts';

/** Bump when the generated corpus changes: cached databases of another version are not reused. */
const GENERATOR_VERSION = 1;
const SEED = 20_250_101;
const COLLECTION = 'default';
const GOAL_ADDED_TTFT_MS = 15;
const DEFAULT_CHUNKS = 100_000;
const QUICK_CHUNKS = 20_000;
const DEFAULT_QUESTIONS = 300;
const QUICK_QUESTIONS = 100;
const WARMUP_QUESTIONS = 20;
const CONCURRENT = 8;
const START_TIMEOUT_MS = 30_000;
const IPC_TIMEOUT_MS = 5_000;
const REQUEST_TIMEOUT_MS = 15_000;
const MODEL = 'bench';
const ANSWER_TOKENS = 20;

const USAGE = `Usage: npm run bench:retrieval -- [--chunks <n>] [--quick] [--rebuild] [--questions <n>] [--cpu-prof <dir>]

  --chunks <n>     chunks in the collection (default ${DEFAULT_CHUNKS}; quick: ${QUICK_CHUNKS}); about 10 per document
  --quick          smoke run: ${QUICK_CHUNKS} chunks (unless --chunks), ${QUICK_QUESTIONS} questions
  --rebuild        build the database again even when a cached one matches
  --questions <n>  questions per pass (default ${DEFAULT_QUESTIONS}, 20..2000), all distinct
  --cpu-prof <dir> run both Rivulet servers with node --cpu-prof, profiles written into <dir> at the end

The database is cached in ${join(tmpdir(), `rivulet-bench-<chunks>-v${GENERATOR_VERSION}`)}/ and rebuilt when the parameters or the
index the current code writes (schema, analyzer, posting format) change. ${othersFlagsNote('retrieval')}`;

// ---------------------------------------------------------------------------------------------------------------
// The generated corpus: documents of ~10 chunks under section headings, ~150-250 words a chunk. Words follow a
// Zipf distribution over a vocabulary of common English words followed by ~30k generated words, and each document
// has its own topic words, so postings have the shape of real text: a few huge lists (the, how, use), a long tail
// of short ones, and bursty topic terms.

/** Real words in rough frequency order; they take the top Zipf ranks (stopwords included, as in real text). */
const COMMON_WORDS = (
  'the of and to a in is that for it as was with be by on not this are or from at which but have an they you ' +
  'were her she there been one all we their has would when if so no will can more other what about some its ' +
  'into them only could do time these may than then two like first how over any now my most also should new ' +
  'after where used use does set each way many make between need before just under through system data file ' +
  'server user default value version error request number process configuration support run change table ' +
  'query index update service list example option page field type format node cluster network memory disk ' +
  'limit timeout cache log report access policy account key model level state event stream message why ' +
  'which who i find happens guide reference overview handbook notes manual tutorial works affect configure ' +
  'enable disable without during while every within across against'
).split(' ');

const ONSETS =
  'b br c ch cl cr d dr f fl fr g gl gr h j k kl l m n p pl pr qu r s sc sh sk sl sn sp st str t th tr v w z'.split(
    ' ',
  );
const VOWELS = 'a e i o u ai ea ee io ou oa y'.split(' ');
const CODAS = ['', '', '', ...'n r s l m t nd st rk x ng ck ph ld'.split(' ')];
const GENERATED_WORDS = 30_000;
const ZIPF_EXPONENT = 1.0;
const TOPICS_PER_DOCUMENT = 12;
const TOPIC_SHARE = 0.08;
const TITLE_SUFFIXES = ['guide', 'reference', 'overview', 'handbook', 'notes', 'manual', 'tutorial'];

interface Vocabulary {
  words: string[];
  /** Cumulative Zipf probabilities by rank. */
  cdf: Float64Array;
}

function buildVocabulary(seed: number): Vocabulary {
  const random = mulberry32(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const seen = new Set(COMMON_WORDS);
  const words = [...COMMON_WORDS];
  while (words.length < COMMON_WORDS.length + GENERATED_WORDS) {
    const syllables = 2 + Math.floor(random() * random() * 3);
    let word = '';
    for (let i = 0; i < syllables; i += 1)
      word += pick(ONSETS) + pick(VOWELS) + (i === syllables - 1 ? pick(CODAS) : '');
    if (word.length < 4 || seen.has(word)) continue;
    seen.add(word);
    words.push(word);
  }
  const cdf = new Float64Array(words.length);
  let total = 0;
  for (let rank = 0; rank < words.length; rank += 1) {
    total += 1 / (rank + 1) ** ZIPF_EXPONENT;
    cdf[rank] = total;
  }
  for (let rank = 0; rank < words.length; rank += 1) cdf[rank] = (cdf[rank] as number) / total;
  return { words, cdf };
}

function zipfRank(vocabulary: Vocabulary, random: () => number): number {
  const target = random();
  const { cdf } = vocabulary;
  let low = 0;
  let high = cdf.length - 1;
  while (low < high) {
    const middle = (low + high) >> 1;
    if ((cdf[middle] as number) < target) low = middle + 1;
    else high = middle;
  }
  return low;
}

/** Per-document random stream, so a document's topics can be recomputed without generating the corpus. */
function documentRandom(seed: number, index: number): () => number {
  return mulberry32((seed ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0);
}

/** Topic ranks of a document: words well past the common ones, the first the most frequent in the document. */
function documentTopics(vocabulary: Vocabulary, random: () => number): number[] {
  const topics: number[] = [];
  const first = COMMON_WORDS.length + 200;
  while (topics.length < TOPICS_PER_DOCUMENT) {
    const rank = first + Math.floor(random() * (vocabulary.words.length - first));
    if (!topics.includes(rank)) topics.push(rank);
  }
  return topics;
}

const capitalize = (word: string): string => word.charAt(0).toUpperCase() + word.slice(1);

interface GeneratedDocument {
  input: DocumentInput;
  chunks: ChunkInput[];
  words: number;
}

class CorpusGenerator {
  readonly vocabulary: Vocabulary;
  /** Occurrences of each rank in the generated text (for the corpus summary). */
  readonly counts: Uint32Array;
  private readonly seed: number;

  constructor(seed: number) {
    this.seed = seed;
    this.vocabulary = buildVocabulary(seed);
    this.counts = new Uint32Array(this.vocabulary.words.length);
  }

  topicsOf(index: number): number[] {
    return documentTopics(this.vocabulary, documentRandom(this.seed, index));
  }

  document(index: number, maxChunks: number): GeneratedDocument {
    const random = documentRandom(this.seed, index);
    const { words } = this.vocabulary;
    const topics = documentTopics(this.vocabulary, random);
    const word = (): string => {
      let rank: number;
      if (random() < TOPIC_SHARE) rank = topics[Math.floor(topics.length * random() * random())] as number;
      else rank = zipfRank(this.vocabulary, random);
      this.counts[rank] = (this.counts[rank] ?? 0) + 1;
      return words[rank] as string;
    };
    const title = `${capitalize(words[topics[0] as number] as string)} ${words[topics[1] as number]} ${
      TITLE_SUFFIXES[Math.floor(random() * TITLE_SUFFIXES.length)]
    }`;
    const chunkCount = Math.min(maxChunks, 6 + Math.floor(random() * 9));
    const chunks: ChunkInput[] = [];
    let heading = '';
    let sectionLeft = 0;
    let totalWords = 0;
    for (let ordinal = 0; ordinal < chunkCount; ordinal += 1) {
      if (sectionLeft === 0) {
        const section = [
          capitalize(words[topics[Math.floor(random() * topics.length)] as number] as string),
          word(),
          ...(random() < 0.5 ? [word()] : []),
        ].join(' ');
        heading = random() < 0.3 ? `${title} > ${section}` : section;
        sectionLeft = 2 + Math.floor(random() * 3);
      }
      sectionLeft -= 1;
      const target = 150 + Math.floor(random() * 101);
      const sentences: string[] = [];
      let count = 0;
      while (count < target) {
        const length = Math.min(target - count, 6 + Math.floor(random() * 19));
        const parts: string[] = [];
        for (let i = 0; i < length; i += 1) {
          let token = random() < 0.01 ? String(Math.floor(random() * 10_000)) : word();
          if (i === 0) token = capitalize(token);
          if (i < length - 1 && random() < 0.06) token += ',';
          parts.push(token);
        }
        sentences.push(`${parts.join(' ')}.`);
        count += length;
      }
      totalWords += count;
      chunks.push({ ordinal, heading, text: sentences.join(' ') });
    }
    const hash = createHash('sha256');
    for (const chunk of chunks) hash.update(chunk.heading).update('\n').update(chunk.text).update('\n');
    const bytes = chunks.reduce((sum, chunk) => sum + Buffer.byteLength(chunk.text) + 1, 0);
    return {
      input: {
        collectionId: COLLECTION,
        source: `docs/${words[topics[0] as number]}-${index}.md`,
        title,
        mediaType: 'text/markdown',
        contentHash: hash.digest('hex'),
        bytes,
      },
      chunks,
      words: totalWords,
    };
  }
}

/**
 * Distinct questions of 5-15 words: an opener, one to three topic words of a random document, and common words
 * and connectors drawn from the same Zipf distribution as the text.
 */
function generateQuestions(
  generator: CorpusGenerator,
  documents: number,
  count: number,
  seed: number,
): string[] {
  const random = mulberry32(seed);
  const { words } = generator.vocabulary;
  const openers = [
    'how do i',
    'how does the',
    'what is the',
    'what are the',
    'why does the',
    'which',
    'when should i',
    'where can i find the',
    'can i',
    'is there a way to',
    'what happens when the',
    'how can we',
  ];
  const connectors = ['with', 'for', 'in', 'of', 'the', 'after', 'on', 'during', 'without', 'between', 'and'];
  const questions = new Set<string>();
  let attempts = 0;
  while (questions.size < count) {
    attempts += 1;
    if (attempts > count * 100) throw new Error('could not generate enough distinct questions');
    const topics = generator.topicsOf(Math.floor(random() * documents));
    const parts = (openers[Math.floor(random() * openers.length)] as string).split(' ');
    const topicWords = 1 + Math.floor(random() * 3);
    const length = Math.max(5 + Math.floor(random() * 11), parts.length + topicWords);
    const rest: string[] = [];
    for (let i = 0; i < topicWords; i += 1) {
      rest.push(words[topics[Math.floor(topics.length * random() * random())] as number] as string);
    }
    while (parts.length + rest.length < length) {
      const at = Math.floor(random() * (rest.length + 1));
      const filler =
        random() < 0.4
          ? (connectors[Math.floor(random() * connectors.length)] as string)
          : (words[zipfRank(generator.vocabulary, random)] as string);
      rest.splice(at, 0, filler);
    }
    const question = `${[...parts, ...rest].join(' ')}?`;
    questions.add(capitalize(question));
  }
  return [...questions];
}

// ---------------------------------------------------------------------------------------------------------------
// The cached database.

interface BuildMeta {
  generator: number;
  seed: number;
  chunks: number;
  fingerprint: string;
  documents: number;
  words: number;
  vocabularyUsed: number;
  topTenShare: number;
  ingestMs: number;
  buildMs: number;
  builtAt: string;
}

/**
 * What the current code writes into the index for a few generated documents (schema, and every row of every
 * table that is not a base table), hashed. A database built by other index code (another schema, analyzer or
 * posting format) has another fingerprint and is rebuilt; a change to ranking alone keeps it.
 */
async function indexFingerprint(scratchDir: string): Promise<string> {
  const fingerprintDir = join(scratchDir, 'fingerprint');
  rmSync(fingerprintDir, { recursive: true, force: true });
  const path = databasePath(fingerprintDir);
  const stores = await openStores({ dataDir: fingerprintDir });
  const generator = new CorpusGenerator(SEED ^ 0x51ed);
  for (let index = 0; index < 3; index += 1) {
    const { input, chunks } = generator.document(index, 3);
    await stores.documents.upsertDocument(input, chunks);
  }
  await stores.close();
  const db = new DatabaseSync(path, { readOnly: true });
  const hash = createHash('sha256');
  try {
    const objects = db
      .prepare('SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY type, name')
      .all() as { type: string; name: string; sql: string }[];
    const baseTables = new Set([
      'meta',
      'conversations',
      'messages',
      'chatbots',
      'documents',
      'chunks',
      'answer_cache',
      'api_keys',
      'token_usage',
      // Its rows carry created_at: hashed, every run would see new index code and rebuild.
      'collections',
    ]);
    for (const { type, name, sql } of objects) {
      hash.update(`${type} ${name} ${sql}\n`);
      if (type !== 'table' || baseTables.has(name) || /^CREATE VIRTUAL/i.test(sql)) continue;
      const columns = (
        db.prepare(`SELECT count(*) AS n FROM pragma_table_info(?)`).get(name) as { n: number }
      ).n;
      const order = Array.from({ length: columns }, (_, i) => String(i + 1)).join(', ');
      for (const row of db
        .prepare(`SELECT * FROM "${name.replaceAll('"', '""')}" ORDER BY ${order}`)
        .iterate()) {
        hash.update(
          JSON.stringify(Object.values(row as Record<string, unknown>), (_key, value: unknown) =>
            value instanceof Uint8Array
              ? Buffer.from(value).toString('hex')
              : typeof value === 'bigint'
                ? String(value)
                : value,
          ),
        );
        hash.update('\n');
      }
    }
  } finally {
    db.close();
  }
  rmSync(path, { force: true });
  rmSync(`${path}-wal`, { force: true });
  rmSync(`${path}-shm`, { force: true });
  return hash.digest('hex').slice(0, 16);
}

function cacheLabel(chunks: number): string {
  return chunks % 1000 === 0 ? `${chunks / 1000}k` : String(chunks);
}

function readMeta(path: string): BuildMeta | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as BuildMeta;
  } catch {
    return undefined;
  }
}

function fileBytes(path: string): number {
  return existsSync(path) ? statSync(path).size : 0;
}

const thousands = (value: number): string => Math.round(value).toLocaleString('en-US');

async function buildDatabase(dataDir: string, chunkTarget: number, fingerprint: string): Promise<BuildMeta> {
  const buildStartedAt = performance.now();
  const partial = `${dataDir}.partial`;
  rmSync(partial, { recursive: true, force: true });
  rmSync(dataDir, { recursive: true, force: true });
  const stores = await openStores({ dataDir: partial });
  const generator = new CorpusGenerator(SEED);
  let chunks = 0;
  let documents = 0;
  let words = 0;
  let ingestMs = 0;
  let lastReport = performance.now();
  let nextPercent = 10;
  console.log(
    `building ${thousands(chunkTarget)} chunks (once for these parameters and index code; progress every 10%)`,
  );
  while (chunks < chunkTarget) {
    const generated = generator.document(documents, chunkTarget - chunks);
    const startedAt = performance.now();
    const { status } = await stores.documents.upsertDocument(generated.input, generated.chunks);
    ingestMs += performance.now() - startedAt;
    if (status !== 'added') throw new Error(`document ${documents} was ${status}, expected added`);
    documents += 1;
    chunks += generated.chunks.length;
    words += generated.words;
    const percent = (chunks / chunkTarget) * 100;
    if (percent >= nextPercent || performance.now() - lastReport > 15_000) {
      const elapsed = (performance.now() - buildStartedAt) / 1000;
      const rate = chunks / elapsed;
      console.log(
        `  ${thousands(chunks)}/${thousands(chunkTarget)} chunks (${Math.floor(percent)}%), ${thousands(documents)} docs, ` +
          `${thousands(rate)} chunks/s, ~${Math.round((chunkTarget - chunks) / rate)} s left`,
      );
      lastReport = performance.now();
      while (nextPercent <= percent) nextPercent += 10;
    }
  }
  await stores.close();
  renameSync(partial, dataDir);
  let total = 0;
  for (const count of generator.counts) total += count;
  const sorted = Array.from(generator.counts).sort((a, b) => b - a);
  const topTen = sorted.slice(0, 10).reduce((sum, count) => sum + count, 0);
  return {
    generator: GENERATOR_VERSION,
    seed: SEED,
    chunks,
    fingerprint,
    documents,
    words,
    vocabularyUsed: sorted.filter((count) => count > 0).length,
    topTenShare: total === 0 ? 0 : topTen / total,
    ingestMs,
    buildMs: performance.now() - buildStartedAt,
    builtAt: new Date().toISOString(),
  };
}

/** The servers store a conversation per question; drop them so the cached database stays as built. */
function resetConversations(path: string): void {
  const db = new DatabaseSync(path);
  try {
    db.exec('DELETE FROM messages; DELETE FROM conversations; DELETE FROM answer_cache;');
    db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
  } finally {
    db.close();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The client: one SSE stream per question, timed to its first token.

interface StreamResult {
  /** Client-side: request start to the chunk holding the first token event. */
  ttftMs: number;
  /** The server's own TTFT (done.timings.ttftMs). */
  serverTtftMs: number | undefined;
  /** The retrieve phase's durationMs. */
  retrieveMs: number | undefined;
  sources: number;
  error: string | undefined;
}

function streamQuestion(agent: Agent, port: number, question: string): Promise<StreamResult> {
  return new Promise((resolve) => {
    const body = JSON.stringify({ message: question });
    const result: StreamResult = {
      ttftMs: Number.NaN,
      serverTtftMs: undefined,
      retrieveMs: undefined,
      sources: 0,
      error: undefined,
    };
    let settled = false;
    const finish = (error?: string): void => {
      if (settled) return;
      settled = true;
      if (error !== undefined) result.error ??= error;
      else if (!Number.isFinite(result.ttftMs)) result.error ??= 'no token';
      resolve(result);
    };
    const startedAt = performance.now();
    const outgoing = request(
      {
        host: '127.0.0.1',
        port,
        path: '/api/chat/stream',
        method: 'POST',
        agent,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          accept: 'text/event-stream',
        },
      },
      (response) => {
        if (response.statusCode !== 200) {
          response.resume();
          finish(`HTTP ${String(response.statusCode)}`);
          return;
        }
        response.setEncoding('utf8');
        let buffer = '';
        response.on('data', (chunk: string) => {
          const now = performance.now();
          buffer += chunk;
          let end = buffer.indexOf('\n\n');
          while (end !== -1) {
            const frame = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            end = buffer.indexOf('\n\n');
            let event = '';
            let data = '';
            for (const line of frame.split('\n')) {
              if (line.startsWith('event: ')) event = line.slice(7);
              else if (line.startsWith('data: ')) data += line.slice(6);
            }
            switch (event) {
              case 'token':
                if (!Number.isFinite(result.ttftMs)) result.ttftMs = now - startedAt;
                break;
              case 'phase': {
                const phase = JSON.parse(data) as { name: string; state: string; durationMs?: number };
                if (phase.name === 'retrieve' && phase.state === 'end') result.retrieveMs = phase.durationMs;
                break;
              }
              case 'sources':
                result.sources = (JSON.parse(data) as { sources: unknown[] }).sources.length;
                break;
              case 'done':
                result.serverTtftMs =
                  (JSON.parse(data) as { timings?: { ttftMs?: number | null } }).timings?.ttftMs ?? undefined;
                break;
              case 'error':
                result.error = `error event: ${data.slice(0, 200)}`;
                break;
              default:
                break;
            }
          }
        });
        response.on('end', () => finish());
        response.on('error', (error) => finish(error.message));
      },
    );
    outgoing.setTimeout(REQUEST_TIMEOUT_MS, () => outgoing.destroy(new Error('timed out')));
    outgoing.on('error', (error) => finish(error.message));
    outgoing.end(body);
  });
}

interface PassResult {
  results: StreamResult[];
  wallMs: number;
}

async function runConcurrent(
  agent: Agent,
  port: number,
  questions: readonly string[],
  concurrency: number,
): Promise<PassResult> {
  const results: StreamResult[] = new Array<StreamResult>(questions.length);
  let next = 0;
  const startedAt = performance.now();
  const worker = async (): Promise<void> => {
    while (next < questions.length) {
      const index = next;
      next += 1;
      results[index] = await streamQuestion(agent, port, questions[index] as string);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { results, wallMs: performance.now() - startedAt };
}

// ---------------------------------------------------------------------------------------------------------------

interface Server {
  name: string;
  child: BenchChild;
  port: number;
}

async function startRivulet(
  name: string,
  dataDir: string,
  fakeUrl: string,
  cwd: string,
  nodeFlags: string[],
): Promise<Server> {
  const port = await freePort();
  const child = spawnChild({
    name,
    script: RIVULET_SCRIPT,
    args: ['serve'],
    nodeFlags,
    env: {
      LLM_PROVIDER: 'openai-compatible',
      LLM_BASE_URL: fakeUrl,
      LLM_MODEL: MODEL,
      EMBEDDING_PROVIDER: 'none',
      LOG_LEVEL: 'warn',
      HOST: '127.0.0.1',
      PORT: String(port),
      DATA_DIR: dataDir,
      SAMPLE_CORPUS: 'false',
      ANSWER_CACHE: 'false',
      QUERY_ENHANCE: 'false',
    },
    // Not the repository: a developer's ./.env must not change what is measured.
    cwd,
    ipc: false,
  });
  try {
    await waitForHttpOk(child, port, '/healthz', START_TIMEOUT_MS);
  } catch (error) {
    // The database was checked against the index code as it was when this run began.
    throw new Error(
      `${name} did not start. If src/stores/sqlite changed while this run was going, run it again: a database ` +
        'built by other index code is rebuilt.',
      { cause: error },
    );
  }
  return { name, child, port };
}

async function setScenario(fake: BenchChild, scenario: SetScenarioMessage['scenario']): Promise<void> {
  const reply = waitForMessage<ScenarioSetMessage>(fake, 'scenario-set', IPC_TIMEOUT_MS);
  const message: SetScenarioMessage = { type: 'set-scenario', scenario };
  fake.process.send(message);
  await reply;
}

function failures(results: readonly StreamResult[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const result of results) {
    if (result.error !== undefined) counts.set(result.error, (counts.get(result.error) ?? 0) + 1);
  }
  return counts;
}

const ok = (results: readonly StreamResult[]): StreamResult[] =>
  results.filter((result) => result.error === undefined);
const defined = (values: readonly (number | undefined)[]): number[] =>
  values.filter((value): value is number => value !== undefined && Number.isFinite(value));
const ms = (value: number): string => formatNumber(value, 2);

async function main(): Promise<number> {
  const benchStartedAt = performance.now();
  const { values, ignored } = parseBenchArgs('retrieval');
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const integer = (
    name: string,
    text: string | undefined,
    fallback: number,
    min: number,
    max: number,
  ): number => {
    if (text === undefined) return fallback;
    const value = Number(text);
    if (!Number.isInteger(value) || value < min || value > max) {
      throw new Error(`--${name} must be an integer from ${min} to ${max}, got "${text}"`);
    }
    return value;
  };
  const chunkTarget = integer(
    'chunks',
    values.chunks,
    values.quick ? QUICK_CHUNKS : DEFAULT_CHUNKS,
    100,
    2_000_000,
  );
  const questionCount = integer(
    'questions',
    values.questions,
    values.quick ? QUICK_QUESTIONS : DEFAULT_QUESTIONS,
    20,
    2_000,
  );

  const cpuList = cpus();
  console.log('\n## Rivulet retrieval benchmark (BM25 over a large collection)\n');
  console.log(
    `machine: ${cpuList.length} CPU(s) (${cpuList[0]?.model.trim() ?? 'unknown'}), ${Math.round(totalmem() / 2 ** 30)} GiB RAM, Linux ${release()}, Node ${process.version}`,
  );
  noteIgnoredFlags(ignored);

  // The database, built or reused.
  const cacheRoot = join(tmpdir(), `rivulet-bench-${cacheLabel(chunkTarget)}-v${GENERATOR_VERSION}`);
  const dataDir = join(cacheRoot, 'data');
  const dbPath = join(dataDir, 'rivulet.sqlite');
  const metaPath = join(cacheRoot, 'meta.json');
  const scratch = mkdtempSync(join(tmpdir(), 'rivulet-retrieval-bench-'));
  const fingerprint = await indexFingerprint(scratch);
  let meta = readMeta(metaPath);
  let reason: string | undefined;
  if (values.rebuild) reason = '--rebuild';
  else if (meta === undefined || !existsSync(dbPath)) reason = 'no cached database';
  else if (meta.generator !== GENERATOR_VERSION || meta.seed !== SEED || meta.chunks !== chunkTarget)
    reason = 'cached database has other parameters';
  else if (meta.fingerprint !== fingerprint)
    reason = `the index code changed since the cached database was built: fingerprint ${meta.fingerprint} -> ${fingerprint}`;
  if (reason !== undefined || meta === undefined) {
    console.log(`database: building in ${dataDir} (${reason ?? 'no cached database'})`);
    rmSync(metaPath, { force: true });
    meta = await buildDatabase(dataDir, chunkTarget, fingerprint);
    writeFileSync(metaPath, `${JSON.stringify(meta, null, 2)}\n`);
  } else {
    console.log(
      `database: cached ${dbPath} (built ${meta.builtAt}, index fingerprint ${fingerprint}; --rebuild forces a rebuild)`,
    );
  }
  resetConversations(dbPath);
  const dbBytes = fileBytes(dbPath) + fileBytes(`${dbPath}-wal`);
  console.log(
    `corpus: ${thousands(meta.chunks)} chunks in ${thousands(meta.documents)} documents, ${thousands(meta.words)} words ` +
      `(${Math.round(meta.words / meta.chunks)} a chunk), ${thousands(meta.vocabularyUsed)} distinct words, Zipf s=${ZIPF_EXPONENT} ` +
      `(top 10 words ${(meta.topTenShare * 100).toFixed(1)}% of the text), ${TOPICS_PER_DOCUMENT} topic words a document`,
  );
  console.log(
    `ingest: ${(meta.ingestMs / 1000).toFixed(1)} s in upsertDocument = ${thousands((meta.documents / meta.ingestMs) * 1000)} docs/s, ` +
      `${thousands((meta.chunks / meta.ingestMs) * 1000)} chunks/s (build with generation ${(meta.buildMs / 1000).toFixed(1)} s); ` +
      `database ${(dbBytes / 2 ** 20).toFixed(0)} MB`,
  );

  const config = loadConfig({ DATA_DIR: dataDir, LLM_PROVIDER: 'none', EMBEDDING_PROVIDER: 'none' });
  const candidates = config.retrieval.candidates;
  const allQuestions = generateQuestions(
    new CorpusGenerator(SEED),
    meta.documents,
    questionCount + WARMUP_QUESTIONS,
    SEED + 1,
  );
  const warmup = allQuestions.slice(0, WARMUP_QUESTIONS);
  const questions = allQuestions.slice(WARMUP_QUESTIONS);
  const lengths = questions.map((question) => question.split(' ').length);
  console.log(
    `questions: ${questions.length} distinct (plus ${warmup.length} for warm-up), ${Math.min(...lengths)}-${Math.max(...lengths)} words, ` +
      `e.g. "${questions[0]}" / "${questions[1]}"`,
  );

  // searchText on the store, and searchLexical (searchText and the proximity rerank, as the retriever runs
  // them), in this process, before the servers start.
  const stores = await openStores({ dataDir });
  const searches: [name: string, search: (question: string) => Promise<ChunkHit[]>][] = [
    ['searchText', (question) => stores.documents.searchText(COLLECTION, question, candidates)],
    ['searchLexical', (question) => searchLexical(stores.documents, COLLECTION, question, candidates)],
  ];
  const directRows: string[][] = [];
  for (const [name, search] of searches) {
    for (const question of warmup) await search(question);
    const directMs: number[] = [];
    const directHits: number[] = [];
    for (const question of questions) {
      const startedAt = performance.now();
      const hits = await search(question);
      directMs.push(performance.now() - startedAt);
      directHits.push(hits.length);
    }
    directRows.push([
      name,
      `${cacheLabel(meta.chunks)} chunks`,
      String(directMs.length),
      ms(percentile(directMs, 50)),
      ms(percentile(directMs, 95)),
      ms(percentile(directMs, 99)),
      ms(Math.max(...directMs)),
      formatNumber(directHits.reduce((sum, hits) => sum + hits, 0) / directHits.length, 1),
    ]);
  }
  await stores.close();
  console.log(
    `\n### searchText on the store and searchLexical (with the proximity rerank), no HTTP, limit ${candidates} = RETRIEVAL_CANDIDATES, one at a time\n`,
  );
  console.log(
    markdownTable(
      ['search', 'collection', 'queries', 'p50 ms', 'p95 ms', 'p99 ms', 'max ms', 'hits/query'],
      directRows,
    ),
  );

  // The servers.
  const { child: fake, url: fakeUrl } = await startFakeUpstreamChild(scratch, START_TIMEOUT_MS);
  await setScenario(fake, { tokenCount: ANSWER_TOKENS, interTokenMs: 0, ttftMs: 0, seed: 1 });
  const profileDir = values['cpu-prof'];
  const nodeFlags = profileDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${profileDir}`];
  const empty = await startRivulet('rivulet (empty)', ':memory:', fakeUrl, scratch, nodeFlags);
  const full = await startRivulet(
    `rivulet (${cacheLabel(meta.chunks)})`,
    dataDir,
    fakeUrl,
    scratch,
    nodeFlags,
  );
  console.log(
    `\nservers: fake upstream (ttftMs 0, ${ANSWER_TOKENS} tokens, no gaps) and two Rivulet processes (src/cli/main.ts serve), ` +
      'LLM_PROVIDER=openai-compatible EMBEDDING_PROVIDER=none SAMPLE_CORPUS=false ANSWER_CACHE=false QUERY_ENHANCE=false; ' +
      `one with DATA_DIR=<the ${cacheLabel(meta.chunks)} database>, one with DATA_DIR=:memory: (empty collection); all on 127.0.0.1`,
  );

  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENT * 2, maxFreeSockets: CONCURRENT * 2 });
  for (const question of warmup) {
    await streamQuestion(agent, empty.port, question);
    await streamQuestion(agent, full.port, question);
  }
  await runConcurrent(agent, empty.port, warmup, CONCURRENT);
  await runConcurrent(agent, full.port, warmup, CONCURRENT);

  // c=1: the same question to both servers in turn, so drift on a shared machine hits both alike.
  const sequential = { empty: [] as StreamResult[], full: [] as StreamResult[] };
  const sequentialStartedAt = performance.now();
  for (const [index, question] of questions.entries()) {
    const first = index % 2 === 0 ? 'empty' : 'full';
    const second = first === 'empty' ? 'full' : 'empty';
    sequential[first].push(await streamQuestion(agent, (first === 'empty' ? empty : full).port, question));
    sequential[second].push(await streamQuestion(agent, (second === 'empty' ? empty : full).port, question));
  }
  const sequentialMs = performance.now() - sequentialStartedAt;
  const concurrentEmpty = await runConcurrent(agent, empty.port, questions, CONCURRENT);
  const concurrentFull = await runConcurrent(agent, full.port, questions, CONCURRENT);
  agent.destroy();

  const passes = [
    { pass: 'c=1', target: empty.name, results: sequential.empty },
    { pass: 'c=1', target: full.name, results: sequential.full },
    { pass: `c=${CONCURRENT}`, target: empty.name, results: concurrentEmpty.results },
    { pass: `c=${CONCURRENT}`, target: full.name, results: concurrentFull.results },
  ];
  console.log(
    `\n### TTFT over HTTP: POST /api/chat/stream, request start to the first token event (client clock)\n`,
  );
  console.log(
    `c=1: ${questions.length} questions, each to both servers in turn (${(sequentialMs / 1000).toFixed(1)} s); ` +
      `c=${CONCURRENT}: the same questions, ${CONCURRENT} streams at a time, one server after the other ` +
      `(${(concurrentEmpty.wallMs / 1000).toFixed(1)} s, ${(concurrentFull.wallMs / 1000).toFixed(1)} s)\n`,
  );
  console.log(
    markdownTable(
      [
        'pass',
        'target',
        'ok',
        'TTFT p50 ms',
        'TTFT p95 ms',
        'TTFT p99 ms',
        'server TTFT p50 ms',
        'retrieve p50 ms',
        'retrieve p95 ms',
        'sources/answer',
      ],
      passes.map(({ pass, target, results }) => {
        const good = ok(results);
        return [
          pass,
          target,
          `${good.length}/${results.length}`,
          ms(
            percentile(
              good.map((r) => r.ttftMs),
              50,
            ),
          ),
          ms(
            percentile(
              good.map((r) => r.ttftMs),
              95,
            ),
          ),
          ms(
            percentile(
              good.map((r) => r.ttftMs),
              99,
            ),
          ),
          ms(percentile(defined(good.map((r) => r.serverTtftMs)), 50)),
          ms(percentile(defined(good.map((r) => r.retrieveMs)), 50)),
          ms(percentile(defined(good.map((r) => r.retrieveMs)), 95)),
          formatNumber(good.reduce((sum, r) => sum + r.sources, 0) / Math.max(good.length, 1), 1),
        ];
      }),
    ),
  );
  let failed = 0;
  for (const { pass, target, results } of passes) {
    for (const [why, count] of failures(results)) {
      failed += count;
      console.log(`FAILED: ${pass} ${target}: ${count} stream(s): ${why}`);
    }
  }

  const added = (pass: string): { p50: number; p95: number } => {
    const [base, withRetrieval] = passes
      .filter((entry) => entry.pass === pass)
      .map((entry) => ok(entry.results));
    const ttft = (results: StreamResult[] | undefined): number[] => (results ?? []).map((r) => r.ttftMs);
    return {
      p50: percentile(ttft(withRetrieval), 50) - percentile(ttft(base), 50),
      p95: percentile(ttft(withRetrieval), 95) - percentile(ttft(base), 95),
    };
  };
  const paired: number[] = [];
  for (let index = 0; index < questions.length; index += 1) {
    const a = sequential.empty[index];
    const b = sequential.full[index];
    if (a?.error === undefined && b?.error === undefined && a !== undefined && b !== undefined)
      paired.push(b.ttftMs - a.ttftMs);
  }
  const one = added('c=1');
  const many = added(`c=${CONCURRENT}`);
  console.log(`\n### added TTFT with retrieval (${full.name} minus ${empty.name})\n`);
  console.log(
    markdownTable(
      ['pass', 'added TTFT p50 ms', 'added TTFT p95 ms', 'same-question difference p50 ms'],
      [
        ['c=1', ms(one.p50), ms(one.p95), ms(percentile(paired, 50))],
        [`c=${CONCURRENT}`, ms(many.p50), ms(many.p95), 'n/a'],
      ],
    ),
  );
  const met = Number.isFinite(one.p50) && one.p50 <= GOAL_ADDED_TTFT_MS;
  console.log(
    `\ngoal <= ${GOAL_ADDED_TTFT_MS} ms p50: ${met ? 'met' : 'missed'} (added TTFT p50 at c=1 over ${thousands(meta.chunks)} chunks: ${ms(one.p50)} ms)`,
  );

  for (const server of [empty, full]) {
    if (server.child.outputLineCount > 0) {
      console.log(
        `\n${server.name} wrote ${server.child.outputLineCount} log line(s) at LOG_LEVEL=warn; the last ones:`,
      );
      console.log(server.child.recentOutput.slice(-5).join('\n'));
    }
  }
  await Promise.all([stopChild(empty.child), stopChild(full.child), stopChild(fake)]);
  rmSync(scratch, { recursive: true, force: true });
  if (profileDir !== undefined) {
    console.log(
      `\nCPU profiles in ${profileDir}: empty pid ${empty.child.pid}, ${full.name} pid ${full.child.pid}`,
    );
  }
  console.log(`\nretrieval bench took ${Math.round((performance.now() - benchStartedAt) / 1000)} s`);
  return failed > 0 ? 1 : 0;
}

runBench(main);
