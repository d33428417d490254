// Starts Rivulet in its own process as the streaming benchmarks run it (stream-bench, held-heap-bench).

import { freePort, RIVULET_SCRIPT, ROOT, spawnChild, waitForHttpOk, type BenchChild } from './processes.ts';

const START_TIMEOUT_MS = 20_000;
export const BENCH_MODEL = 'bench';

export interface RivuletStart {
  name: string;
  upstreamUrl: string;
  nodeFlags: string[];
  redisUrl: string | undefined;
  /** The sample corpus in a SQLite file of its own, searched on every answer; else an empty in-memory store. */
  sampleCorpusDir: string | undefined;
}

export async function startRivulet(options: RivuletStart): Promise<{ child: BenchChild; port: number }> {
  const port = await freePort();
  const storage: Record<string, string> =
    options.sampleCorpusDir === undefined
      ? // An empty in-memory store: this measures streaming (retrieval has its own benchmark), and leaves ./data alone.
        { DATA_DIR: ':memory:', SAMPLE_CORPUS: 'false' }
      : // As users run it: the sample corpus searched on every answer; the cache off, so every answer is generated;
        // no embedding model to call (retrieval is BM25); readers for 5,000 held streams.
        {
          DATA_DIR: options.sampleCorpusDir,
          SAMPLE_CORPUS: 'true',
          ANSWER_CACHE: 'false',
          EMBEDDING_PROVIDER: 'none',
          MAX_READERS: '20000',
        };
  const child = spawnRivulet(options, port, {
    METRICS_ENABLED: process.env.METRICS_ENABLED ?? 'true',
    ...storage,
    ...(options.redisUrl === undefined
      ? {}
      : { REDIS_URL: options.redisUrl, REDIS_KEY_PREFIX: `rivulet-bench:${process.pid}:${port}` }),
  });
  await waitForHttpOk(child, port, '/healthz', START_TIMEOUT_MS);
  return { child, port };
}

/**
 * `rivulet serve` against the fake upstream on `port`, LOG_LEVEL=warn, with `env` on top; not waited for. `script`
 * runs another server with the same environment instead (bench/floor-relay.ts).
 */
export function spawnRivulet(
  options: { name: string; upstreamUrl: string; nodeFlags: string[]; script?: string },
  port: number,
  env: Record<string, string>,
): BenchChild {
  return spawnChild({
    name: options.name,
    script: options.script ?? RIVULET_SCRIPT,
    args: options.script === undefined ? ['serve'] : [],
    nodeFlags: options.nodeFlags,
    env: {
      LLM_PROVIDER: 'openai-compatible',
      LLM_BASE_URL: options.upstreamUrl,
      LLM_MODEL: BENCH_MODEL,
      LOG_LEVEL: 'warn',
      HOST: '127.0.0.1',
      PORT: String(port),
      ...env,
    },
    cwd: ROOT,
    ipc: false,
  });
}
