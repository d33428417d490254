// `npm run bench`: TTFT, token gaps, CPU per token and memory per stream for direct, raw-pipe and Rivulet.

import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import type { FakeScenario } from '../test/fakes/openai-upstream.ts';
import {
  integerFlag,
  parseLevels,
  parseScenarios,
  planFor,
  profileFor,
  QUICK_WARMUP_ANSWERS,
  WARMUP_ANSWERS,
  scenarioProfile,
  SCENARIO_NAMES,
  SEED,
  withOverrides,
  type LevelProfile,
} from './levels.ts';
import { runCompressionBench } from './compression-bench.ts';
import { noteIgnoredFlags, othersFlagsNote, parseBenchArgs } from './flags.ts';
import { BENCH_MODEL, startRivulet } from './rivulet-child.ts';
import { runLoad, type LoadPlan, type Target, type WireFormat } from './load-client.ts';
import type { ReadyMessage, ScenarioSetMessage, SetScenarioMessage } from './messages.ts';
import {
  assertRunning,
  cpuDelta,
  cpuResolutionMicroseconds,
  runBench,
  startFakeUpstreamChild,
  listenDrops,
  openFilesLimit,
  processCpu,
  processRssBytes,
  spawnChild,
  stopChild,
  waitForMessage,
  type BenchChild,
  ROOT,
  RAW_PIPE_SCRIPT,
} from './processes.ts';
import {
  levelFigures,
  printLevel,
  printProfileWindows,
  printSummary,
  type LevelReport,
  type TargetName,
  type TrialMeasurement,
} from './report.ts';

const START_TIMEOUT_MS = 20_000;
const IPC_TIMEOUT_MS = 5_000;
/** Lets keep-alive sockets close and timers settle between targets. */
const PAUSE_BETWEEN_TARGETS_MS = 500;
const PROMPT = 'Benchmark prompt: tell me about rivers and streams.';
const DEFAULT_LEVELS = [1, 64, 1000];
/** --compression: enough streams for CPU figures well above the clock tick, few enough for a shared machine. */
const COMPRESSION_LEVELS = [64];
const QUICK_LEVELS = [1, 64];

interface BenchTarget {
  name: TargetName;
  target: Target;
  /** The relay process whose CPU and memory are measured; undefined for direct. */
  relay: BenchChild | undefined;
}

const USAGE = `Usage: npm run bench -- [--concurrency 1,64,1000] [--scenarios paced,held] [--quick] [--cpu-prof <dir>]

  --concurrency        comma-separated concurrency levels (default ${DEFAULT_LEVELS.join(',')}; quick: ${QUICK_LEVELS.join(',')}; none: skip them)
  --scenarios          named loads against a Rivulet with the sample corpus and retrieval on (${SCENARIO_NAMES.join(', ')};
                       default both, quick: none; none: skip them): paced = 200 streams at 50 tokens/s, held = 5,000
                       streams at 1 token/s opened at 1,000/s for 5 s (needs ulimit -n >= 20,000)
  --quick              smoke run: fewer tokens and rounds, one trial
  --tokens <n>         tokens per stream at every level (overrides the level's default)
  --inter-token-ms <n> gap between the fake upstream's tokens at every level
  --trials <n>         how many times each target runs per level (default 3, quick 1)
  --warmup <n>         short answers every target serves first, 8 at a time (default ${WARMUP_ANSWERS}, quick
                       ${QUICK_WARMUP_ANSWERS}): the figures are a warmed-up server's (bench/levels.ts says why)
  --ramp-ms <n>        spread the first streams of every level over this long (default 0 ms at c=1, 200 up to 256, 1000 above)
  --redis-url <url>    run Rivulet with the Redis run hub (REDIS_URL, a key prefix of its own), to compare with the
                       in-memory hub: same-instance readers are served from memory, events are mirrored to Redis
  --compression        instead of the levels and scenarios: identity vs gzip vs brotli streams (STREAM_COMPRESSION=auto),
                       Rivulet and the raw pipe compressing alike, wire bytes and relay CPU per token (default
                       --concurrency ${COMPRESSION_LEVELS.join(',')}); bench/compression-bench.ts
  --cpu-prof <dir>     run both relays (raw-pipe, Rivulet) with node --cpu-prof, profiles written into <dir>
                       at the end; summarise one with bench/summarize-cpu-profile.ts and the printed window

${othersFlagsNote('stream')}`;

function openAiBody(): string {
  // What Rivulet itself sends upstream, so all three targets make the fake stream the same bytes.
  return JSON.stringify({
    model: BENCH_MODEL,
    messages: [{ role: 'user', content: PROMPT }],
    stream: true,
    stream_options: { include_usage: true },
  });
}

function makeTarget(name: TargetName, port: number, relay: BenchChild | undefined): BenchTarget {
  const format: WireFormat = name === 'rivulet' ? 'rivulet' : 'openai';
  const target: Target =
    name === 'rivulet'
      ? { name, port, path: '/api/chat/stream', body: JSON.stringify({ message: PROMPT }), format }
      : { name, port, path: '/v1/chat/completions', body: openAiBody(), format };
  return { name, target, relay };
}

async function setScenario(fake: BenchChild, scenario: FakeScenario): Promise<ScenarioSetMessage> {
  const reply = waitForMessage<ScenarioSetMessage>(fake, 'scenario-set', IPC_TIMEOUT_MS);
  const message: SetScenarioMessage = { type: 'set-scenario', scenario };
  fake.process.send(message);
  return reply;
}

async function measureTrial(
  benchTarget: BenchTarget,
  plan: LoadPlan,
  upstream: BenchChild,
): Promise<TrialMeasurement> {
  const relay = benchTarget.relay;
  let midpointRssBytes: number | undefined;
  let openAtMidpoint: number | undefined;
  const idleRssBytes = relay === undefined ? undefined : processRssBytes(relay.pid);
  const relayBefore = relay === undefined ? undefined : processCpu(relay.pid);
  const upstreamBefore = processCpu(upstream.pid);
  const clientBefore = process.cpuUsage();
  const dropsBefore = listenDrops();
  const startedAt = performance.now();
  const result = await runLoad(benchTarget.target, {
    ...plan,
    onMidpoint: (openStreams) => {
      openAtMidpoint = openStreams;
      if (relay !== undefined) midpointRssBytes = processRssBytes(relay.pid);
    },
  });
  const endedAt = performance.now();
  const drops = listenDrops() - dropsBefore;
  const client = process.cpuUsage(clientBefore);
  const relayCpu =
    relay === undefined || relayBefore === undefined
      ? undefined
      : cpuDelta(relayBefore, processCpu(relay.pid));
  const upstreamCpu = cpuDelta(upstreamBefore, processCpu(upstream.pid));
  if (relay !== undefined) assertRunning(relay);
  assertRunning(upstream);
  return {
    result,
    relayCpu,
    upstreamCpu,
    clientCpu: { userMicroseconds: client.user, systemMicroseconds: client.system },
    profileWindow:
      relay === undefined
        ? undefined
        : { fromMs: startedAt - relay.spawnedAt, toMs: endedAt - relay.spawnedAt },
    idleRssBytes,
    midpointRssBytes,
    openAtMidpoint,
    listenDrops: drops,
  };
}

async function runLevel(
  profile: LevelProfile,
  targets: readonly BenchTarget[],
  fake: BenchChild,
): Promise<LevelReport> {
  await setScenario(fake, profile.scenario);
  const plan = planFor(profile);
  const trials = new Map<TargetName, TrialMeasurement[]>(targets.map((target) => [target.name, []]));
  for (let trial = 0; trial < profile.trials; trial += 1) {
    for (const benchTarget of targets) {
      await delay(PAUSE_BETWEEN_TARGETS_MS);
      trials.get(benchTarget.name)?.push(await measureTrial(benchTarget, plan, fake));
    }
  }
  await delay(PAUSE_BETWEEN_TARGETS_MS);
  // Setting the scenario again clears the fake's log and returns the request counts of this level.
  const counts = await setScenario(fake, profile.scenario);
  return {
    profile,
    trials,
    upstreamRequests: counts.previousRequests,
    upstreamCompleted: counts.previousCompleted,
  };
}

/**
 * Every target answers `answers` short questions (see WARMUP_ANSWERS), then streams a longer scenario 64 at a time, so
 * JIT and connection pools are ready; returns failures.
 */
async function warmUp(targets: readonly BenchTarget[], fake: BenchChild, answers: number): Promise<number> {
  const shortScenario = { tokenCount: 3, interTokenMs: 0, ttftMs: 0, seed: SEED };
  const shortPlan: LoadPlan = {
    concurrency: 8,
    rounds: Math.ceil(answers / 8),
    rampMs: 0,
    tokensPerStream: shortScenario.tokenCount,
    streamDurationMs: 1,
    timeoutMs: 120_000,
  };
  const streamScenario = { tokenCount: 50, interTokenMs: 1, ttftMs: 0, seed: SEED };
  const streamPlan: LoadPlan = {
    concurrency: 32,
    rounds: 2,
    rampMs: 0,
    tokensPerStream: streamScenario.tokenCount,
    streamDurationMs: 50,
    timeoutMs: 30_000,
  };
  let failedStreams = 0;
  for (const [scenario, plan] of [
    [shortScenario, shortPlan],
    [streamScenario, streamPlan],
  ] as const) {
    await setScenario(fake, scenario);
    for (const benchTarget of targets) {
      const result = await runLoad(benchTarget.target, plan);
      const failed = result.started - result.completed;
      if (failed > 0) {
        failedStreams += failed;
        for (const [reason, count] of result.failures) {
          console.log(`FAILED during warm-up: ${benchTarget.name}: ${count} stream(s): ${reason}`);
        }
      }
    }
  }
  console.log(
    `warm-up: ${shortPlan.rounds * 8} answers of ${shortScenario.tokenCount} tokens, 8 at a time, then 64 streams x ${streamScenario.tokenCount} tokens per target`,
  );
  return failedStreams;
}

function printRivuletOutput(rivulet: BenchChild): void {
  if (rivulet.outputLineCount === 0) return;
  console.log(
    `\n${rivulet.name} wrote ${rivulet.outputLineCount} log line(s) at LOG_LEVEL=warn; the last ones:`,
  );
  console.log(rivulet.recentOutput.slice(-10).join('\n'));
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function main(): Promise<number> {
  const benchStartedAt = performance.now();
  const { values, ignored } = parseBenchArgs('stream');
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const quick = values.quick;
  const warmupAnswers =
    integerFlag('warmup', values.warmup, 8, 100_000) ?? (quick ? QUICK_WARMUP_ANSWERS : WARMUP_ANSWERS);
  const levels =
    values.concurrency === undefined
      ? quick
        ? QUICK_LEVELS
        : DEFAULT_LEVELS
      : parseLevels(values.concurrency);
  const overrides = {
    tokenCount: integerFlag('tokens', values.tokens, 1, 100_000),
    interTokenMs: integerFlag('inter-token-ms', values['inter-token-ms'], 0, 10_000),
    trials: integerFlag('trials', values.trials, 1, 20),
    rampMs: integerFlag('ramp-ms', values['ramp-ms'], 0, 60_000),
  };
  if (values.compression) {
    return runCompressionBench({
      levels: values.concurrency === undefined ? COMPRESSION_LEVELS : levels,
      quick,
      overrides,
    });
  }
  const profiles = levels.map((level) => withOverrides(profileFor(level, quick), overrides));
  const scenarios =
    values.scenarios === undefined ? (quick ? [] : [...SCENARIO_NAMES]) : parseScenarios(values.scenarios);
  const scenarioProfiles = scenarios.map((name) => scenarioProfile(name, quick));

  const maxConcurrency = Math.max(0, ...levels, ...scenarioProfiles.map((profile) => profile.concurrency));
  const fileLimit = openFilesLimit();
  // Rivulet holds one client and one upstream socket per stream; the client process one per stream.
  const filesNeeded = maxConcurrency * 2 + 256;
  if (fileLimit < filesNeeded) {
    console.log(
      `warning: ulimit -n is ${fileLimit}; ${maxConcurrency} streams need about ${filesNeeded}. Raise it (ulimit -n ${filesNeeded * 2}).`,
    );
  }

  const cpuList = cpus();
  console.log('## Rivulet streaming benchmark\n');
  console.log(
    `machine: ${cpuList.length} CPU(s) (${cpuList[0]?.model.trim() ?? 'unknown'}), ${Math.round(totalmem() / 2 ** 30)} GiB RAM, Linux ${release()}, Node ${process.version}, ulimit -n ${fileLimit}`,
  );
  noteIgnoredFlags(ignored);
  console.log(
    'each server (fake upstream, raw-pipe relay, Rivulet) runs in its own process; the load client runs in the bench process; all on 127.0.0.1',
  );
  console.log(
    `rivulet env: LLM_PROVIDER=openai-compatible LLM_MODEL=bench LOG_LEVEL=warn METRICS_ENABLED=${process.env.METRICS_ENABLED ?? 'true'}${values['redis-url'] === undefined ? '' : ' REDIS_URL=<--redis-url> (the Redis run hub)'} (other settings at their defaults); ` +
      'concurrency levels: DATA_DIR=:memory: SAMPLE_CORPUS=false; scenarios: a second Rivulet, DATA_DIR=<temp dir> SAMPLE_CORPUS=true ANSWER_CACHE=false EMBEDDING_PROVIDER=none MAX_READERS=20000',
  );

  const { child: fake, port: fakePort, url: fakeUrl } = await startFakeUpstreamChild(ROOT, START_TIMEOUT_MS);

  const profileDir = values['cpu-prof'];
  const profileFlags = profileDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${profileDir}`];
  const rawPipe = spawnChild({
    name: 'raw-pipe relay',
    script: RAW_PIPE_SCRIPT,
    nodeFlags: profileFlags,
    env: { RAW_PIPE_UPSTREAM_URL: fakeUrl },
    cwd: ROOT,
    ipc: true,
  });
  const rawPipePort = (await waitForMessage<ReadyMessage>(rawPipe, 'ready', START_TIMEOUT_MS)).port;

  const rivuletStart = {
    upstreamUrl: fakeUrl,
    nodeFlags: profileFlags,
    redisUrl: values['redis-url'],
  };
  const rivuletChildren: BenchChild[] = [];
  let sampleCorpusDir: string | undefined;
  let failedStreams = 0;
  const reports: LevelReport[] = [];
  try {
    if (profiles.length > 0) {
      const { child: rivulet, port: rivuletPort } = await startRivulet({
        ...rivuletStart,
        name: 'rivulet',
        sampleCorpusDir: undefined,
      });
      rivuletChildren.push(rivulet);
      const targets: BenchTarget[] = [
        makeTarget('direct', fakePort, undefined),
        makeTarget('raw-pipe', rawPipePort, rawPipe),
        makeTarget('rivulet', rivuletPort, rivulet),
      ];
      failedStreams += await warmUp(targets, fake, warmupAnswers);
      for (const profile of profiles) {
        const report = await runLevel(profile, targets, fake);
        failedStreams += levelFigures(report).failedStreams;
        reports.push(report);
        printLevel(report, cpuResolutionMicroseconds() / 1000);
        if (profileDir !== undefined) printProfileWindows(report);
      }
    }
    if (scenarioProfiles.length > 0) {
      sampleCorpusDir = mkdtempSync(join(tmpdir(), 'rivulet-stream-bench-'));
      const { child: rivulet, port: rivuletPort } = await startRivulet({
        ...rivuletStart,
        name: 'rivulet (sample corpus)',
        sampleCorpusDir,
      });
      rivuletChildren.push(rivulet);
      console.log(
        `\nscenarios: rivulet pid ${rivulet.pid} with the sample corpus (SQLite in ${sampleCorpusDir}), retrieval on every answer`,
      );
      const targets: BenchTarget[] = [
        makeTarget('direct', fakePort, undefined),
        makeTarget('raw-pipe', rawPipePort, rawPipe),
        makeTarget('rivulet', rivuletPort, rivulet),
      ];
      failedStreams += await warmUp(targets, fake, warmupAnswers);
      for (const profile of scenarioProfiles) {
        const report = await runLevel(profile, targets, fake);
        failedStreams += levelFigures(report).failedStreams;
        reports.push(report);
        printLevel(report, cpuResolutionMicroseconds() / 1000);
        if (profileDir !== undefined) printProfileWindows(report);
      }
    }
    printSummary(reports);
    console.log(`\nbench took ${Math.round((performance.now() - benchStartedAt) / 1000)} s`);
    for (const rivulet of rivuletChildren) printRivuletOutput(rivulet);
  } finally {
    await Promise.all([...rivuletChildren.map(stopChild), stopChild(rawPipe), stopChild(fake)]);
    if (sampleCorpusDir !== undefined) rmSync(sampleCorpusDir, { recursive: true, force: true });
  }
  if (profileDir !== undefined) {
    console.log(
      `\nCPU profiles written to ${profileDir} (raw-pipe pid ${rawPipe.pid}, rivulet pid(s) ${rivuletChildren.map((child) => child.pid).join(', ')}; the pid is in the file name)`,
    );
  }
  if (failedStreams > 0) {
    console.log(`\n${failedStreams} stream(s) failed to complete (see FAILED lines above)`);
    return 1;
  }
  return 0;
}

runBench(main);
