// `node bench/held-heap-bench.ts`: heap held per open stream, by constructor and closure, from two heap snapshots of
// Rivulet (sample corpus, retrieval on, as stream-bench's held scenario runs it): one idle after a warm-up, one with
// N streams held open at 1 token/s. Faster to iterate on than the held scenario's RSS, and says what the bytes are.

import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { SEED } from './levels.ts';
import { runLoad, type Target } from './load-client.ts';
import {
  ROOT,
  runBench,
  setFakeScenario,
  startFakeUpstreamChild,
  stopChild,
  waitForHttpOk,
  type BenchChild,
} from './processes.ts';
import { startRivulet } from './rivulet-child.ts';

const USAGE = `Usage: node bench/held-heap-bench.ts [--streams 1000] [--top 40] [--keep <dir>]
  --streams <n>   streams held open when the second snapshot is taken (opened at 1,000/s, 1 token/s)
  --top <n>       rows of each table
  --keep <dir>    write the snapshots into <dir> and keep them (default: a temp dir, removed)`;

const START_TIMEOUT_MS = 20_000;
const SNAPSHOT_TIMEOUT_MS = 120_000;
const PROMPT = 'Benchmark prompt: tell me about rivers and streams.';

interface Row {
  count: number;
  bytes: number;
}

interface Snapshot {
  totalBytes: number;
  /** type: constructor or function name (closures: with their source location) -> objects and self size. */
  byKey: Map<string, Row>;
}

interface RawSnapshot {
  snapshot: {
    meta: {
      node_fields: string[];
      node_types: [string[]];
      edge_fields: string[];
      edge_types: [string[]];
      location_fields?: string[];
    };
  };
  nodes: number[];
  edges: number[];
  strings: string[];
  locations?: number[];
}

function add(map: Map<string, Row>, key: string, bytes: number): void {
  const row = map.get(key);
  if (row === undefined) map.set(key, { count: 1, bytes });
  else {
    row.count += 1;
    row.bytes += bytes;
  }
}

/** Reads a .heapsnapshot and sums self sizes by kind of object. */
function readSnapshot(path: string): Snapshot {
  const raw = JSON.parse(readFileSync(path, 'utf8')) as RawSnapshot;
  const meta = raw.snapshot.meta;
  const nodeFieldCount = meta.node_fields.length;
  const edgeFieldCount = meta.edge_fields.length;
  const typeOffset = meta.node_fields.indexOf('type');
  const nameOffset = meta.node_fields.indexOf('name');
  const sizeOffset = meta.node_fields.indexOf('self_size');
  const edgeCountOffset = meta.node_fields.indexOf('edge_count');
  const edgeTypeOffset = meta.edge_fields.indexOf('type');
  const edgeNameOffset = meta.edge_fields.indexOf('name_or_index');
  const edgeToOffset = meta.edge_fields.indexOf('to_node');
  const nodeTypes = meta.node_types[0];
  const edgeTypes = meta.edge_types[0];
  const { nodes, edges, strings } = raw;
  const nodeCount = nodes.length / nodeFieldCount;
  const firstEdge = new Uint32Array(nodeCount + 1);
  for (let node = 0, edge = 0; node < nodeCount; node += 1) {
    firstEdge[node] = edge;
    edge += (nodes[node * nodeFieldCount + edgeCountOffset] ?? 0) * edgeFieldCount;
    firstEdge[node + 1] = edge;
  }
  const namedEdge = (node: number, name: string): number | undefined => {
    for (let edge = firstEdge[node] ?? 0; edge < (firstEdge[node + 1] ?? 0); edge += edgeFieldCount) {
      const type = edgeTypes[edges[edge + edgeTypeOffset] ?? 0];
      if (type === 'element' || type === 'hidden') continue;
      if (strings[edges[edge + edgeNameOffset] ?? 0] === name)
        return (edges[edge + edgeToOffset] ?? 0) / nodeFieldCount;
    }
    return undefined;
  };
  // Closures: their script and line, from the snapshot's locations and the Script each function belongs to.
  const locationOf = new Map<number, string>();
  const locationFields = meta.location_fields ?? [];
  const locations = raw.locations ?? [];
  if (locationFields.length > 0) {
    const objectOffset = locationFields.indexOf('object_index');
    const lineOffset = locationFields.indexOf('line');
    for (let at = 0; at < locations.length; at += locationFields.length) {
      const node = (locations[at + objectOffset] ?? 0) / nodeFieldCount;
      let script = '?';
      const shared = namedEdge(node, 'shared');
      const scriptNode = shared === undefined ? undefined : namedEdge(shared, 'script');
      const scriptName = scriptNode === undefined ? undefined : namedEdge(scriptNode, 'name');
      if (scriptName !== undefined) {
        script = strings[nodes[scriptName * nodeFieldCount + nameOffset] ?? 0] ?? '?';
        script = script
          .replace(/^file:\/\//, '')
          .replace(ROOT, '')
          .replace(/.*node_modules\//, 'nm/');
      }
      locationOf.set(node, `${script}:${(locations[at + lineOffset] ?? 0) + 1}`);
    }
  }
  const byKey = new Map<string, Row>();
  let totalBytes = 0;
  for (let node = 0; node < nodeCount; node += 1) {
    const base = node * nodeFieldCount;
    const type = nodeTypes[nodes[base + typeOffset] ?? 0] ?? '?';
    const name = strings[nodes[base + nameOffset] ?? 0] ?? '';
    const bytes = nodes[base + sizeOffset] ?? 0;
    totalBytes += bytes;
    let key: string;
    if (type === 'closure') key = `closure ${name || '(anonymous)'} ${locationOf.get(node) ?? ''}`;
    else if (type === 'string' || type === 'concatenated string' || type === 'sliced string') {
      key = bytes >= 1024 ? `${type} >=1KB ${JSON.stringify(name.slice(0, 50))}` : `${type} <1KB`;
    } else if (type === 'object' || type === 'native') key = `${type} ${name}`;
    else key = `${type} ${name.length > 60 ? `${name.slice(0, 60)}…` : name}`;
    add(byKey, key, bytes);
  }
  return { totalBytes, byKey };
}

function printDiff(before: Snapshot, after: Snapshot, streams: number, top: number): void {
  const rows: { key: string; count: number; bytes: number }[] = [];
  for (const [key, row] of after.byKey) {
    const old = before.byKey.get(key) ?? { count: 0, bytes: 0 };
    rows.push({ key, count: row.count - old.count, bytes: row.bytes - old.bytes });
  }
  for (const [key, old] of before.byKey) {
    if (!after.byKey.has(key)) rows.push({ key, count: -old.count, bytes: -old.bytes });
  }
  const perStream = (value: number): string => (value / streams).toFixed(2).padStart(9);
  const kb = (value: number): string => (value / streams / 1024).toFixed(2).padStart(8);
  console.log(
    `heap per held stream: ${((after.totalBytes - before.totalBytes) / streams / 1024).toFixed(1)} KB ` +
      `(${(before.totalBytes / 2 ** 20).toFixed(1)} MB idle, ${(after.totalBytes / 2 ** 20).toFixed(1)} MB with ${streams} streams)`,
  );
  const closures = rows.filter((row) => row.key.startsWith('closure '));
  console.log(
    `closures per stream: ${(closures.reduce((sum, row) => sum + row.count, 0) / streams).toFixed(1)}, ` +
      `suspended async frames (generator objects): ${((rows.find((row) => row.key === 'object Generator')?.count ?? 0) / streams).toFixed(1)}`,
  );
  console.log(`\nby kind of object (largest per stream first): KB/stream objects/stream kind`);
  for (const row of rows.toSorted((a, b) => b.bytes - a.bytes).slice(0, top)) {
    console.log(`${kb(row.bytes)} ${perStream(row.count)}  ${row.key}`);
  }
  console.log(`\nclosures (most per stream first): objects/stream KB/stream function and where`);
  for (const row of closures.toSorted((a, b) => b.count - a.count).slice(0, top)) {
    if (row.count / streams < 0.5) break;
    console.log(`${perStream(row.count)} ${kb(row.bytes)}  ${row.key.slice('closure '.length)}`);
  }
}

function snapshotFiles(dir: string): string[] {
  return readdirSync(dir).filter((name) => name.endsWith('.heapsnapshot'));
}

/** Asks the child for a heap snapshot (--heapsnapshot-signal) and resolves with its path once it is written. */
async function takeSnapshot(child: BenchChild, port: number, dir: string): Promise<string> {
  const known = new Set(snapshotFiles(dir));
  child.process.kill('SIGUSR2');
  const deadline = performance.now() + SNAPSHOT_TIMEOUT_MS;
  let file: string | undefined;
  while (file === undefined) {
    if (performance.now() > deadline) throw new Error('no heap snapshot written');
    await new Promise((resolve) => setTimeout(resolve, 100));
    file = snapshotFiles(dir).find((name) => !known.has(name));
  }
  // Written on the main thread: once the server answers again, the file is complete.
  await waitForHttpOk(child, port, '/healthz', SNAPSHOT_TIMEOUT_MS);
  const path = join(dir, file);
  let size = -1;
  while (size !== statSync(path).size) {
    size = statSync(path).size;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return path;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      streams: { type: 'string', default: '1000' },
      top: { type: 'string', default: '40' },
      keep: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const streams = Number(values.streams);
  const top = Number(values.top);
  const snapshotDir = values.keep ?? mkdtempSync(join(tmpdir(), 'rivulet-held-heap-'));
  mkdirSync(snapshotDir, { recursive: true });
  const corpusDir = mkdtempSync(join(tmpdir(), 'rivulet-held-heap-corpus-'));
  const { child: fake, url: fakeUrl } = await startFakeUpstreamChild(ROOT, START_TIMEOUT_MS);
  let rivulet: BenchChild | undefined;
  try {
    const started = await startRivulet({
      name: 'rivulet (sample corpus)',
      upstreamUrl: fakeUrl,
      nodeFlags: ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${snapshotDir}`],
      redisUrl: undefined,
      sampleCorpusDir: corpusDir,
    });
    rivulet = started.child;
    const target: Target = {
      name: 'rivulet',
      port: started.port,
      path: '/api/chat/stream',
      body: JSON.stringify({ message: PROMPT }),
      format: 'rivulet',
    };
    // Warm-up: JIT, pools and caches, so the idle snapshot holds what the loaded one holds apart from the streams.
    await setFakeScenario(fake, { tokenCount: 20, interTokenMs: 1, ttftMs: 0, seed: SEED });
    await runLoad(target, {
      concurrency: 100,
      rounds: 3,
      rampMs: 0,
      tokensPerStream: 20,
      streamDurationMs: 20,
      timeoutMs: 60_000,
    });
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const idlePath = await takeSnapshot(rivulet, started.port, snapshotDir);

    // As the held scenario: 15 tokens at 1 a second, the snapshot half a stream after the last one opened.
    const tokenCount = 15;
    await setFakeScenario(fake, { tokenCount, interTokenMs: 1_000, ttftMs: 0, seed: SEED });
    let loadedPath: Promise<string> | undefined;
    let held = 0;
    const child = rivulet;
    const result = await runLoad(target, {
      concurrency: streams,
      rounds: 1,
      rampMs: streams,
      tokensPerStream: tokenCount,
      streamDurationMs: (tokenCount - 1) * 1_000,
      timeoutMs: 300_000,
      onMidpoint: (streamingNow) => {
        held = streamingNow;
        loadedPath = takeSnapshot(child, started.port, snapshotDir);
      },
    });
    if (loadedPath === undefined) throw new Error('the load ended before its midpoint');
    const loaded = await loadedPath;
    console.log(
      `${streams} streams opened at 1,000/s, 1 token/s; ${held} streaming at the snapshot, ${result.completed} completed, ` +
        `${result.started - result.completed} failed`,
    );
    printDiff(readSnapshot(idlePath), readSnapshot(loaded), held, top);
    return result.started === result.completed ? 0 : 1;
  } finally {
    await Promise.all([rivulet === undefined ? Promise.resolve() : stopChild(rivulet), stopChild(fake)]);
    rmSync(corpusDir, { recursive: true, force: true });
    if (values.keep === undefined && existsSync(snapshotDir))
      rmSync(snapshotDir, { recursive: true, force: true });
  }
}

runBench(main);
