// `node bench/stream-bench.ts --compression`: bytes on the wire and relay CPU per token for identity, gzip and brotli
// streams; Rivulet (STREAM_COMPRESSION=auto) side by side with the raw pipe compressing the same way per chunk.

import { cpus, release } from 'node:os';
import { planFor, profileFor, withOverrides, type ScenarioOverrides } from './levels.ts';
import { runLoad, type LoadResult, type Target } from './load-client.ts';
import type { ReadyMessage } from './messages.ts';
import {
  assertRunning,
  cpuDelta,
  freePort,
  processCpu,
  processRssBytes,
  RAW_PIPE_SCRIPT,
  RIVULET_SCRIPT,
  ROOT,
  setFakeScenario,
  spawnChild,
  startFakeUpstreamChild,
  stopChild,
  totalCpuMicroseconds,
  waitForHttpOk,
  waitForMessage,
  type BenchChild,
} from './processes.ts';
import { formatNumber, markdownTable, percentile } from './stats.ts';

const START_TIMEOUT_MS = 20_000;
const PAUSE_BETWEEN_TARGETS_MS = 500;
const PROMPT = 'Benchmark prompt: tell me about rivers and streams.';
const MODEL = 'bench';
const ENCODINGS = ['identity', 'gzip', 'br'] as const;
type Encoding = (typeof ENCODINGS)[number];

export interface CompressionBenchOptions {
  levels: readonly number[];
  quick: boolean;
  overrides: ScenarioOverrides;
}

interface CompressionTarget {
  relayName: 'raw-pipe' | 'rivulet';
  encoding: Encoding;
  relay: BenchChild;
  target: Target;
}

interface Sample {
  result: LoadResult;
  relayCpuMicroseconds: number;
  /** (RSS with the first round's streams open - idle RSS) / streams open then. */
  rssPerStreamBytes: number | undefined;
}

function targetsFor(rawPipe: BenchChild, rawPipePort: number, rivulet: BenchChild, rivuletPort: number) {
  const openAiBody = JSON.stringify({
    model: MODEL,
    messages: [{ role: 'user', content: PROMPT }],
    stream: true,
    stream_options: { include_usage: true },
  });
  return ENCODINGS.flatMap((encoding): CompressionTarget[] => {
    const acceptEncoding = encoding === 'identity' ? {} : { acceptEncoding: encoding };
    return [
      {
        relayName: 'raw-pipe',
        encoding,
        relay: rawPipe,
        target: {
          name: `raw-pipe ${encoding}`,
          port: rawPipePort,
          path: '/v1/chat/completions',
          body: openAiBody,
          format: 'openai',
          ...acceptEncoding,
        },
      },
      {
        relayName: 'rivulet',
        encoding,
        relay: rivulet,
        target: {
          name: `rivulet ${encoding}`,
          port: rivuletPort,
          path: '/api/chat/stream',
          body: JSON.stringify({ message: PROMPT }),
          format: 'rivulet',
          ...acceptEncoding,
        },
      },
    ];
  });
}

async function measure(
  target: CompressionTarget,
  plan: ReturnType<typeof planFor>,
  upstream: BenchChild,
): Promise<Sample> {
  const idle = processRssBytes(target.relay.pid);
  let rssPerStreamBytes: number | undefined;
  const before = processCpu(target.relay.pid);
  const result = await runLoad(target.target, {
    ...plan,
    onMidpoint: (open) => {
      if (open > 0) rssPerStreamBytes = (processRssBytes(target.relay.pid) - idle) / open;
    },
  });
  const relayCpuMicroseconds = totalCpuMicroseconds(cpuDelta(before, processCpu(target.relay.pid)));
  assertRunning(target.relay);
  assertRunning(upstream);
  return { result, relayCpuMicroseconds, rssPerStreamBytes };
}

function median(values: readonly number[]): number | undefined {
  return values.length === 0
    ? undefined
    : percentile(
        [...values].sort((a, b) => a - b),
        50,
      );
}

function printLevel(
  concurrency: number,
  describe: string,
  targets: readonly CompressionTarget[],
  samples: Map<CompressionTarget, Sample[]>,
): number {
  let failed = 0;
  const perToken = new Map<CompressionTarget, { bytes: number; cpu: number }>();
  const rows = targets.map((target) => {
    const runs = samples.get(target) ?? [];
    const tokens = runs.reduce((sum, run) => sum + run.result.tokensDelivered, 0);
    const bytes = runs.reduce((sum, run) => sum + run.result.wireBytes, 0) / tokens;
    const cpu = runs.reduce((sum, run) => sum + run.relayCpuMicroseconds, 0) / tokens;
    perToken.set(target, { bytes, cpu });
    const streamsFailed = runs.reduce((sum, run) => sum + run.result.started - run.result.completed, 0);
    failed += streamsFailed;
    const identity = targets.find(
      (other) => other.relayName === target.relayName && other.encoding === 'identity',
    );
    const base = identity === undefined ? undefined : perToken.get(identity);
    const ttft = runs.flatMap((run) => run.result.ttftMs).sort((a, b) => a - b);
    const rss = median(
      runs.flatMap((run) => (run.rssPerStreamBytes === undefined ? [] : [run.rssPerStreamBytes])),
    );
    return [
      target.relayName,
      target.encoding,
      formatNumber(bytes, 1),
      base === undefined ? 'n/a' : `${formatNumber((100 * bytes) / base.bytes, 0)}%`,
      formatNumber(cpu, 1),
      base === undefined || target.encoding === 'identity' ? '' : formatNumber(cpu - base.cpu, 1),
      formatNumber(percentile(ttft, 50), 1),
      formatNumber(percentile(ttft, 99), 1),
      rss === undefined ? 'n/a' : formatNumber(rss / 1024, 0),
      String(streamsFailed),
    ];
  });
  console.log(`\n### ${concurrency} concurrent streams\n\n${describe}\n`);
  console.log(
    markdownTable(
      [
        'relay',
        'encoding',
        'wire bytes/token',
        'of identity',
        'relay CPU µs/token',
        'added µs/token',
        'TTFT p50 ms',
        'TTFT p99 ms',
        'RSS/stream KB',
        'failed',
      ],
      rows,
    ),
  );
  return failed;
}

export async function runCompressionBench(options: CompressionBenchOptions): Promise<number> {
  const cpuList = cpus();
  console.log('## Compressed streams: identity vs gzip vs brotli\n');
  console.log(
    `machine: ${cpuList.length} CPU(s) (${cpuList[0]?.model.trim() ?? 'unknown'}), Linux ${release()}, Node ${process.version}`,
  );
  console.log(
    "relay CPU is the relay process's user + system CPU time from /proc over each trial, divided by the tokens it " +
      'delivered: on a machine shared with other work, CPU time holds up where wall time does not. Wire bytes are the ' +
      'response body as received (chunked framing aside). raw-pipe relays OpenAI chunks, Rivulet its own SSE; both ' +
      'compress with the same per-write-flushed gzip (level 6, 8 KB window) and brotli (quality 5, 64 KB window).',
  );

  const { child: fake, url: fakeUrl } = await startFakeUpstreamChild(ROOT, START_TIMEOUT_MS);
  const rawPipe = spawnChild({
    name: 'raw-pipe relay',
    script: RAW_PIPE_SCRIPT,
    env: { RAW_PIPE_UPSTREAM_URL: fakeUrl, RAW_PIPE_COMPRESSION: 'auto' },
    cwd: ROOT,
    ipc: true,
  });
  const rawPipePort = (await waitForMessage<ReadyMessage>(rawPipe, 'ready', START_TIMEOUT_MS)).port;
  const rivuletPort = await freePort();
  const rivulet = spawnChild({
    name: 'rivulet',
    script: RIVULET_SCRIPT,
    args: ['serve'],
    env: {
      LLM_PROVIDER: 'openai-compatible',
      LLM_BASE_URL: fakeUrl,
      LLM_MODEL: MODEL,
      LOG_LEVEL: 'warn',
      HOST: '127.0.0.1',
      PORT: String(rivuletPort),
      DATA_DIR: ':memory:',
      SAMPLE_CORPUS: 'false',
      STREAM_COMPRESSION: 'auto',
    },
    cwd: ROOT,
    ipc: false,
  });
  await waitForHttpOk(rivulet, rivuletPort, '/healthz', START_TIMEOUT_MS);
  const targets = targetsFor(rawPipe, rawPipePort, rivulet, rivuletPort);

  // Warm-up: JIT, connection pools and zlib's first allocations.
  await setFakeScenario(fake, { tokenCount: 50, interTokenMs: 1, ttftMs: 0, seed: 1 });
  for (const target of targets) {
    await runLoad(target.target, {
      concurrency: 16,
      rounds: 2,
      rampMs: 0,
      tokensPerStream: 50,
      streamDurationMs: 50,
      timeoutMs: 30_000,
    });
  }

  let failed = 0;
  for (const level of options.levels) {
    const profile = withOverrides(profileFor(level, options.quick), options.overrides);
    await setFakeScenario(fake, profile.scenario);
    const plan = planFor(profile);
    const samples = new Map<CompressionTarget, Sample[]>(targets.map((target) => [target, []]));
    for (let trial = 0; trial < profile.trials; trial += 1) {
      for (const target of targets) {
        await new Promise((resolve) => setTimeout(resolve, PAUSE_BETWEEN_TARGETS_MS));
        samples.get(target)?.push(await measure(target, plan, fake));
      }
    }
    const { scenario } = profile;
    failed += printLevel(
      level,
      `${level} concurrent x ${profile.rounds} round(s), ${profile.trials} trial(s) interleaved, pooled; ` +
        `${scenario.tokenCount} tokens/stream, interTokenMs ${scenario.interTokenMs}`,
      targets,
      samples,
    );
  }

  await Promise.all([stopChild(rivulet), stopChild(rawPipe), stopChild(fake)]);
  if (failed > 0) console.log(`\n${failed} stream(s) failed to complete`);
  return failed > 0 ? 1 : 0;
}
