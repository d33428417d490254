// `node bench/pg-driver-bench.ts [--url postgres://...]`: the measurement behind the choice of PostgreSQL driver
// (docs/postgres.md). Both candidates, `pg` (node-postgres, with its pool) and `postgres` (porsager), run the same
// work against the same database, in alternating trials: the query shapes the stores issue on an answer's path.
// 1. one point read by primary key, sequential (latency, and client CPU per query);
// 2. 64 concurrent point reads through a pool of 10 (throughput under load, client CPU per query);
// 3. a checkpoint-style UPDATE of one row, sequential;
// 4. 2,000 rows inserted in one statement from arrays (unnest), the shape of saving a document's chunks.
// Prints medians of the trials side by side. The work runs in a scratch database that is dropped at the end.

import { parseArgs } from 'node:util';
import pg from 'pg';
import postgres from 'postgres';

const { values } = parseArgs({
  options: {
    url: { type: 'string', default: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test' },
    trials: { type: 'string', default: '3' },
  },
});
const adminUrl = values.url;
const trials = Number(values.trials);
const database = `rivulet_driver_bench_${process.pid}`;
const url = withDatabase(adminUrl, database);

function withDatabase(base: string, name: string): string {
  const parsed = new URL(base);
  parsed.pathname = `/${name}`;
  return parsed.toString();
}

interface Driver {
  name: string;
  one(sql: string, params: unknown[]): Promise<unknown>;
  close(): Promise<void>;
}

function nodePostgres(): Driver {
  const pool = new pg.Pool({ connectionString: url, max: 10 });
  return {
    name: 'pg',
    async one(sql, params) {
      // A named statement is prepared once per connection, as porsager's driver does by default.
      const result = await pool.query({ name: statementName(sql), text: sql, values: params });
      return result.rows[0] as unknown;
    },
    close: () => pool.end(),
  };
}

const names = new Map<string, string>();
function statementName(sql: string): string {
  let name = names.get(sql);
  if (name === undefined) names.set(sql, (name = `s${names.size}`));
  return name;
}

function porsager(): Driver {
  const sql = postgres(url, { max: 10, onnotice: () => {} });
  return {
    name: 'postgres',
    async one(text, params) {
      const rows = await sql.unsafe(text, params as postgres.ParameterOrJSON<never>[], { prepare: true });
      return rows[0];
    },
    close: () => sql.end(),
  };
}

function cpuMicros(): number {
  const usage = process.cpuUsage();
  return usage.user + usage.system;
}

interface Figures {
  pointLatencyUs: number;
  pointCpuUs: number;
  concurrentQps: number;
  concurrentCpuUs: number;
  updateLatencyUs: number;
  bulkInsertMs: number;
}

async function measure(driver: Driver): Promise<Figures> {
  const point = 'SELECT id, content, status FROM bench_messages WHERE id = $1';
  for (let i = 0; i < 200; i += 1) await driver.one(point, [`m${i % 1000}`]);

  let start = performance.now();
  let cpu = cpuMicros();
  const sequential = 3000;
  for (let i = 0; i < sequential; i += 1) await driver.one(point, [`m${i % 1000}`]);
  const pointLatencyUs = ((performance.now() - start) * 1000) / sequential;
  const pointCpuUs = (cpuMicros() - cpu) / sequential;

  const workers = 64;
  const each = 200;
  start = performance.now();
  cpu = cpuMicros();
  await Promise.all(
    Array.from({ length: workers }, async (_, worker) => {
      for (let i = 0; i < each; i += 1) await driver.one(point, [`m${(worker * each + i) % 1000}`]);
    }),
  );
  const elapsed = performance.now() - start;
  const concurrentQps = (workers * each) / (elapsed / 1000);
  const concurrentCpuUs = (cpuMicros() - cpu) / (workers * each);

  const update = 'UPDATE bench_messages SET content = $2, status = $3 WHERE id = $1';
  start = performance.now();
  const updates = 1000;
  for (let i = 0; i < updates; i += 1) await driver.one(update, [`m${i % 1000}`, `text ${i}`, 'streaming']);
  const updateLatencyUs = ((performance.now() - start) * 1000) / updates;

  const rows = 2000;
  const ids = Array.from({ length: rows }, (_, i) => `c${i}`);
  const texts = Array.from({ length: rows }, (_, i) => `chunk ${i} `.repeat(40));
  await driver.one('TRUNCATE bench_chunks', []);
  start = performance.now();
  await driver.one('INSERT INTO bench_chunks (id, text) SELECT * FROM unnest($1::text[], $2::text[])', [
    ids,
    texts,
  ]);
  const bulkInsertMs = performance.now() - start;

  return { pointLatencyUs, pointCpuUs, concurrentQps, concurrentCpuUs, updateLatencyUs, bulkInsertMs };
}

function median(numbers: number[]): number {
  const sorted = [...numbers].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

const admin = new pg.Client({ connectionString: adminUrl });
await admin.connect();
await admin.query(`DROP DATABASE IF EXISTS ${database}`);
await admin.query(`CREATE DATABASE ${database}`);
try {
  const setup = new pg.Client({ connectionString: url });
  await setup.connect();
  await setup.query(`
    CREATE TABLE bench_messages (id TEXT PRIMARY KEY, content TEXT NOT NULL, status TEXT);
    INSERT INTO bench_messages SELECT 'm' || g, repeat('word ', 50), 'complete' FROM generate_series(0, 999) g;
    CREATE TABLE bench_chunks (id TEXT PRIMARY KEY, text TEXT NOT NULL);
  `);
  await setup.end();

  const results = new Map<string, Figures[]>([
    ['pg', []],
    ['postgres', []],
  ]);
  for (let trial = 0; trial < trials; trial += 1) {
    for (const open of trial % 2 === 0 ? [nodePostgres, porsager] : [porsager, nodePostgres]) {
      const driver = open();
      results.get(driver.name)?.push(await measure(driver));
      await driver.close();
    }
  }
  const rowsOut: [string, keyof Figures, number][] = [
    ['point read, sequential: latency (us)', 'pointLatencyUs', 1],
    ['point read, sequential: client CPU per query (us)', 'pointCpuUs', 1],
    ['point read, 64 concurrent, pool 10: queries/s', 'concurrentQps', 0],
    ['point read, 64 concurrent: client CPU per query (us)', 'concurrentCpuUs', 1],
    ['checkpoint UPDATE, sequential: latency (us)', 'updateLatencyUs', 1],
    ['2,000 chunks in one unnest INSERT (ms)', 'bulkInsertMs', 1],
  ];
  console.log(`PostgreSQL driver bench, ${trials} trials each, medians (Node ${process.version})`);
  console.log(`${'measure'.padEnd(54)}${'pg'.padStart(12)}${'postgres'.padStart(12)}`);
  for (const [label, key, digits] of rowsOut) {
    const a = median((results.get('pg') ?? []).map((figures) => figures[key]));
    const b = median((results.get('postgres') ?? []).map((figures) => figures[key]));
    console.log(`${label.padEnd(54)}${a.toFixed(digits).padStart(12)}${b.toFixed(digits).padStart(12)}`);
  }
} finally {
  await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
  await admin.end();
}
