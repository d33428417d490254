// Rivulet instances as real processes (`rivulet serve`, as a user runs it), sharing one PostgreSQL database and one
// Redis (each reached through a cutting proxy, so a test can stop and restart "the database" or "Redis" under them),
// for the multi-instance tests.

import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startCuttingProxy, type CuttingProxy } from './cutting-proxy.ts';
import { freePort } from './ports.ts';
import { createTestDatabase, type TestDatabase } from './postgres.ts';
import { deleteKeys, REDIS_URL, testKeyPrefix } from './redis.ts';

const CLI = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const START_TIMEOUT_MS = 30_000;

export interface Instance {
  name: string;
  /** http://127.0.0.1:port */
  url: string;
  child: ChildProcess;
  /** What the process wrote to stderr so far. */
  stderr(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface Cluster {
  instances: Instance[];
  /** In front of PostgreSQL: refuse() is the database going away, accept() its return. */
  database: CuttingProxy;
  /** In front of Redis, likewise. */
  redis: CuttingProxy;
  /** Starts one more instance with the cluster's settings (and `env` on top). */
  start(name: string, env?: Record<string, string>): Promise<Instance>;
  close(): Promise<void>;
}

/** A proxied URL: `url` with its host and port replaced by the proxy's. */
function through(url: string, proxy: CuttingProxy): string {
  const proxied = new URL(url);
  proxied.host = new URL(proxy.url).host;
  return proxied.toString();
}

/**
 * Starts `count` instances on a fresh database and a key prefix of their own, with `env` (upstream, timings) on
 * top of quiet defaults.
 */
export async function startCluster(count: number, env: Record<string, string>): Promise<Cluster> {
  const database: TestDatabase = await createTestDatabase('instances');
  const postgresUrl = new URL(database.url);
  const databaseProxy = await startCuttingProxy(
    `http://${postgresUrl.hostname}:${postgresUrl.port || '5432'}`,
  );
  const redisUrl = new URL(REDIS_URL!);
  const redisProxy = await startCuttingProxy(`http://${redisUrl.hostname}:${redisUrl.port || '6379'}`);
  const prefix = testKeyPrefix('instances');
  const shared = {
    DATABASE_URL: through(database.url, databaseProxy),
    REDIS_URL: through(REDIS_URL!, redisProxy),
    REDIS_KEY_PREFIX: prefix,
    ...env,
  };
  const instances: Instance[] = [];
  const cluster: Cluster = {
    instances,
    database: databaseProxy,
    redis: redisProxy,
    async start(name, more = {}) {
      const instance = await startInstance(name, { ...shared, ...more });
      instances.push(instance);
      return instance;
    },
    async close() {
      await Promise.all(
        instances.map(async (instance) => {
          if (instance.child.exitCode === null && instance.child.signalCode === null)
            instance.child.kill('SIGKILL');
          await instance.exited;
        }),
      );
      await databaseProxy.close();
      await redisProxy.close();
      await deleteKeys(prefix);
      await database.drop();
    },
  };
  // One at a time: the first migrates and creates the default chatbot (the others would wait on its locks anyway).
  for (let index = 0; index < count; index += 1) await cluster.start(String.fromCharCode(65 + index));
  return cluster;
}

async function startInstance(name: string, env: Record<string, string>): Promise<Instance> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(process.execPath, ['--experimental-strip-types', CLI, 'serve'], {
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      HOST: '127.0.0.1',
      PORT: String(port),
      SAMPLE_CORPUS: 'false',
      LLM_PROVIDER: 'openai-compatible',
      LLM_MODEL: 'fake-model',
      EMBEDDING_PROVIDER: 'none',
      LOG_LEVEL: 'warn',
      ...env,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (data: string) => (stderr += data));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`instance ${name} exited at start: ${stderr}`);
    try {
      if ((await fetch(`${url}/readyz`)).status === 200) break;
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`instance ${name} did not become ready: ${stderr}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { name, url, child, stderr: () => stderr, exited };
}
