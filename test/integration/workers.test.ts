// `rivulet serve --workers 2` as real processes: a primary forking two workers on one port (node:cluster), sharing
// runs through Redis and a PostgreSQL database. Both serve; an answer resumes on the worker that does not hold it;
// /metrics sums both; a killed worker is replaced; SIGTERM drains every worker and exits 0; no REDIS_URL, no start.

import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { Agent, get } from 'node:http';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WORKER_INDEX_VARIABLE } from '../../src/cluster/messages.ts';
import { startFakeUpstream, type FakeScenario, type FakeUpstream } from '../fakes/openai-upstream.ts';
import { freePort } from '../helpers/ports.ts';
import { createTestDatabase, postgresSkipReason, type TestDatabase } from '../helpers/postgres.ts';
import { deleteKeys, REDIS_URL, redisSkipReason, testKeyPrefix } from '../helpers/redis.ts';
import { readSse, tokenText, type SseFrameRead } from '../helpers/sse-client.ts';

const CLI = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
/** Two shared cores, colleagues' tests beside: generous. */
const START_TIMEOUT_MS = 45_000;

interface Cluster {
  primary: ChildProcess;
  url: string;
  port: number;
  output: () => string;
  exited: Promise<number | null>;
}

/** The environment of a server process, built from scratch (nothing of this test runner's leaks in). */
function serverEnv(port: number, extra: Record<string, string>): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '',
    HOST: '127.0.0.1',
    PORT: String(port),
    SAMPLE_CORPUS: 'false',
    ANSWER_CACHE: 'false',
    LLM_PROVIDER: 'openai-compatible',
    LLM_MODEL: 'fake-model',
    RUN_CHECKPOINT_MS: '200',
    SHUTDOWN_GRACE_MS: '20000',
    LOG_LEVEL: 'warn',
    LOG_FORMAT: 'json',
    ...extra,
  };
}

function spawnServer(args: string[], env: Record<string, string>): Omit<Cluster, 'url' | 'port'> {
  // In a directory of its own: no .env of the checkout is read.
  const primary = spawn(process.execPath, [CLI, 'serve', ...args], {
    cwd: tmpdir(),
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  primary.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  primary.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => primary.once('exit', (code) => resolve(code)));
  return { primary, output: () => output, exited };
}

/** GET a JSON body on a connection of its own (no keep-alive pool), so each lands where the cluster sends it. */
function getJson(url: string, agent: Agent | false = false): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    get(url, { agent }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (text += chunk));
      response.on('end', () => {
        try {
          resolve({ status: response.statusCode ?? 0, body: JSON.parse(text) as unknown });
        } catch {
          resolve({ status: response.statusCode ?? 0, body: text });
        }
      });
    }).on('error', reject);
  });
}

function getText(url: string, agent: Agent | false = false): Promise<string> {
  return new Promise((resolve, reject) => {
    get(url, { agent }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (text += chunk));
      response.on('end', () => resolve(text));
    }).on('error', reject);
  });
}

/** Which worker answers /healthz on `agent`'s connection (undefined: nobody listens, or a single server). */
async function workerOf(url: string, agent: Agent | false = false): Promise<number | undefined> {
  try {
    const { body } = await getJson(`${url}/healthz`, agent);
    return (body as { worker?: number }).worker;
  } catch {
    return undefined;
  }
}

/** The worker indexes seen on /healthz over `attempts` new connections. */
async function workersSeen(url: string, attempts: number): Promise<Set<number>> {
  const seen = new Set<number>();
  for (let attempt = 0; attempt < attempts; attempt += 1) {
    const worker = await workerOf(url);
    if (worker !== undefined) seen.add(worker);
  }
  return seen;
}

async function waitFor(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs = START_TIMEOUT_MS,
): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * A connection pinned to one worker: a pool of one socket whose /healthz named the worker; every request made with
 * it afterwards goes over that socket, to that worker. `not` asks for a connection to any other worker.
 */
async function pinnedConnection(url: string, not?: number): Promise<{ agent: Agent; worker: number }> {
  for (let attempt = 0; attempt < 20; attempt += 1) {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const worker = await workerOf(url, agent);
    if (worker !== undefined && worker !== not) return { agent, worker };
    agent.destroy();
  }
  throw new Error(`no connection to a worker other than ${String(not)} in 20 attempts`);
}

/** The PIDs of the primary's workers, by index (read from each one's environment). */
function workerPids(primaryPid: number): Map<number, number> {
  const pids = new Map<number, number>();
  for (const task of readdirSync(`/proc/${primaryPid}/task`)) {
    const children = readFileSync(`/proc/${primaryPid}/task/${task}/children`, 'utf8').trim();
    for (const pid of children === '' ? [] : children.split(' ').map(Number)) {
      let environ: string[];
      try {
        environ = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
      } catch {
        continue; // a worker that just died, not yet reaped
      }
      const entry = environ.find((line) => line.startsWith(`${WORKER_INDEX_VARIABLE}=`));
      if (entry !== undefined) pids.set(Number(entry.split('=')[1]), pid);
    }
  }
  return pids;
}

/** The sum of a counter's samples in a Prometheus text body. */
function counterSum(body: string, name: string): number {
  return body
    .split('\n')
    .filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
}

const skipReason = redisSkipReason ?? postgresSkipReason;
if (skipReason !== undefined)
  console.warn(`[workers] rivulet serve --workers 2 tests skipped: ${skipReason}.`);

describe.skipIf(skipReason !== undefined)('rivulet serve --workers 2 (Redis run hub, PostgreSQL)', () => {
  let upstream: FakeUpstream;
  let database: TestDatabase;
  let keyPrefix: string;
  let cluster: Cluster;

  beforeAll(async () => {
    upstream = await startFakeUpstream({ scenario: { tokenCount: 5, seed: 2 } });
    database = await createTestDatabase('workers');
    keyPrefix = testKeyPrefix('workers');
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const spawned = spawnServer(
      ['--workers', '2'],
      serverEnv(port, {
        LLM_BASE_URL: upstream.url,
        REDIS_URL: REDIS_URL ?? '',
        REDIS_KEY_PREFIX: keyPrefix,
        DATABASE_URL: database.url,
      }),
    );
    cluster = { ...spawned, url, port };
    await waitFor('both workers to listen', async () => {
      if (cluster.primary.exitCode !== null) throw new Error(`the primary exited: ${cluster.output()}`);
      return (await workersSeen(url, 4)).size === 2;
    });
  }, START_TIMEOUT_MS + 10_000);

  afterAll(async () => {
    if (cluster !== undefined && cluster.primary.exitCode === null) {
      for (const pid of workerPids(cluster.primary.pid ?? 0).values()) process.kill(pid, 'SIGKILL');
      cluster.primary.kill('SIGKILL');
    }
    await upstream?.close();
    await database?.drop();
    if (keyPrefix !== undefined) await deleteKeys(keyPrefix);
  });

  /** Reads a whole answer on `agent`'s connection. */
  async function answer(agent: Agent, message: string): Promise<SseFrameRead[]> {
    const result = await readSse(`${cluster.url}/api/chat/stream`, { body: { message }, agent });
    expect(result.status).toBe(200);
    return result.frames;
  }

  it('serves from both workers: /healthz over new connections names worker 0 and worker 1', async () => {
    expect([...(await workersSeen(cluster.url, 10))].sort()).toEqual([0, 1]);
  });

  it('resumes an answer started on one worker on the other (SSE Last-Event-ID)', async () => {
    const scenario: FakeScenario = { tokenCount: 150, interTokenMs: 10, seed: 7 };
    upstream.setScenario(scenario);
    const owner = await pinnedConnection(cluster.url);
    let runId: string | undefined;
    let lastId: string | undefined;
    let tokens = 0;
    const first = await readSse(`${cluster.url}/api/chat/stream`, {
      body: { message: 'a story to resume elsewhere' },
      agent: owner.agent,
      onFrame: (frame) => {
        if (frame.data.type === 'start') runId = frame.data.runId;
        if (frame.data.type !== 'token') return false;
        lastId = frame.id;
        return (tokens += 1) === 20;
      },
    });
    owner.agent.destroy();
    expect(runId).toBeDefined();
    const other = await pinnedConnection(cluster.url, owner.worker);
    expect(other.worker).not.toBe(owner.worker);
    const rest = await readSse(`${cluster.url}/api/runs/${runId}/events`, {
      headers: { 'last-event-id': lastId ?? '' },
      agent: other.agent,
    });
    other.agent.destroy();
    expect(rest.status).toBe(200);
    expect(rest.frames.at(-1)?.data.type).toBe('done');
    // Not a token lost or repeated, across the two workers.
    expect(tokenText(first.frames) + tokenText(rest.frames)).toBe(upstream.fullText(scenario));
    upstream.setScenario({ tokenCount: 5, seed: 2 });
  });

  it('sums both workers on /metrics: the runs started equal the answers made on either', async () => {
    upstream.setScenario({ tokenCount: 5, seed: 3 });
    const before = counterSum(await getText(`${cluster.url}/metrics`), 'rivulet_runs_started_total');
    const zero = await pinnedConnection(cluster.url, 1);
    const one = await pinnedConnection(cluster.url, 0);
    for (const [index, pinned] of [zero, one].entries()) {
      for (const round of [1, 2]) {
        const frames = await answer(pinned.agent, `question ${round} on connection ${index}`);
        expect(frames.at(-1)?.data.type).toBe('done');
      }
    }
    // Asked of either worker, the figure is the same: both workers' answers.
    for (const pinned of [zero, one]) {
      const body = await getText(`${cluster.url}/metrics`, pinned.agent);
      expect(counterSum(body, 'rivulet_runs_started_total')).toBe(before + 4);
      expect(counterSum(body, 'rivulet_workers')).toBe(2);
      pinned.agent.destroy();
    }
  });

  it('replaces a worker killed mid-answer, and keeps answering', async () => {
    upstream.setScenario({ tokenCount: 400, interTokenMs: 10, seed: 9 });
    const victim = await pinnedConnection(cluster.url);
    const pid = workerPids(cluster.primary.pid ?? 0).get(victim.worker);
    expect(pid).toBeDefined();
    let tokens = 0;
    const reading = readSse(`${cluster.url}/api/chat/stream`, {
      body: { message: 'an answer whose worker dies' },
      agent: victim.agent,
      onFrame: (frame) => {
        if (frame.data.type === 'token' && (tokens += 1) === 10) process.kill(pid ?? 0, 'SIGKILL');
      },
    }).catch((error: unknown) => error);
    await reading;
    victim.agent.destroy();
    expect(tokens).toBeGreaterThanOrEqual(10);
    await waitFor('a new worker in place of the killed one', async () => {
      const now = workerPids(cluster.primary.pid ?? 0);
      return (
        now.size === 2 && now.get(victim.worker) !== pid && (await workersSeen(cluster.url, 4)).size === 2
      );
    });
    expect(cluster.primary.exitCode).toBeNull();
    expect(cluster.output()).toMatch(/worker \d exited unexpectedly \(signal SIGKILL\): starting a new one/);
    upstream.setScenario({ tokenCount: 5, seed: 4 });
    for (const not of [0, 1]) {
      const pinned = await pinnedConnection(cluster.url, not);
      const frames = await answer(pinned.agent, `after the crash ${not}`);
      pinned.agent.destroy();
      expect(tokenText(frames)).toBe(upstream.fullText({ tokenCount: 5, seed: 4 }));
    }
  });

  it('on SIGTERM lets a running answer finish, then every process exits 0', async () => {
    const scenario: FakeScenario = { tokenCount: 100, interTokenMs: 20, seed: 5 };
    upstream.setScenario(scenario);
    const pids = [...workerPids(cluster.primary.pid ?? 0).values()];
    expect(pids).toHaveLength(2);
    const pinned = await pinnedConnection(cluster.url);
    let tokens = 0;
    const result = await readSse(`${cluster.url}/api/chat/stream`, {
      body: { message: 'an answer that outlives the signal' },
      agent: pinned.agent,
      onFrame: (frame) => {
        if (frame.data.type === 'token' && (tokens += 1) === 5) cluster.primary.kill('SIGTERM');
      },
    });
    pinned.agent.destroy();
    expect(result.frames.at(-1)?.data.type).toBe('done');
    expect(tokenText(result.frames)).toBe(upstream.fullText(scenario));
    expect(await cluster.exited).toBe(0);
    // The primary exits after its workers: none is left.
    for (const pid of pids) expect(() => process.kill(pid, 0)).toThrow();
  });
});

describe('rivulet serve --workers 2 without REDIS_URL', () => {
  it('refuses to start, in one line that says why, with exit code 1', async () => {
    const port = await freePort();
    const server = spawnServer(
      ['--workers', '2'],
      serverEnv(port, { LLM_BASE_URL: 'http://127.0.0.1:9/v1' }),
    );
    expect(await server.exited).toBe(1);
    const lines = server.output().trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /^--workers 2 needs REDIS_URL: .*a resume or a stop that lands on another worker/,
    );
  });
});
