// `npm run bench:answers` (also run by `npm run bench`): what one short answer costs the server, on SQLite and on
// PostgreSQL, next to a raw pipe: added TTFT over a direct connection and server CPU per answer (issue 15's target:
// <= 1 ms for everything before the first token and after the last).
//
// Every target is its own process on the same fake OpenAI upstream (also a child): direct (client -> upstream), the
// raw-pipe relay, the floor (bench/floor-relay.ts: the answer's own stores, retrieval and prompt on an on-disk SQLite
// file, without Rivulet's run machinery), Rivulet on an on-disk SQLite file and Rivulet on a scratch PostgreSQL
// database, both with the sample corpus (retrieval runs over it), the answer cache off, other settings at their
// defaults. Answers of a few tokens, no inter-token delay, each one a new conversation, one at a time and then 8 at
// once; the targets take turns, trial after trial, and the report gives medians over trials. CPU comes from
// /proc/<pid>/stat of each relay process (and of the PostgreSQL backends serving Rivulet, when the server runs on
// this machine).

import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { noteIgnoredFlags, othersFlagsNote, parseBenchArgs } from './flags.ts';
import { createParser } from 'eventsource-parser';
import {
  COLUMN_TITLES,
  columnFigures,
  failureLines,
  levelTable,
  median,
  targetSummary,
  type AnswerTrial,
  type ColumnName,
  type LevelResult,
} from './answer-cost-report.ts';
import { integerFlag, QUICK_WARMUP_ANSWERS, SEED, WARMUP_ANSWERS } from './levels.ts';
import { BENCH_MODEL, spawnRivulet } from './rivulet-child.ts';
import { runLoad, type LoadPlan, type Target } from './load-client.ts';
import type { ReadyMessage, ScenarioSetMessage, SetScenarioMessage } from './messages.ts';
import {
  assertRunning,
  cpuDelta,
  cpuResolutionMicroseconds,
  freePort,
  processCpu,
  runBench,
  spawnChild,
  startFakeUpstreamChild,
  stopChild,
  totalCpuMicroseconds,
  waitForHttpOk,
  waitForMessage,
  type BenchChild,
  ROOT,
  RAW_PIPE_SCRIPT,
  FLOOR_RELAY_SCRIPT,
} from './processes.ts';
import {
  backendCpuDelta,
  createScratchDatabase,
  DEFAULT_DATABASE_URL,
  type ScratchDatabase,
} from './scratch-postgres.ts';

const START_TIMEOUT_MS = 30_000;
const IPC_TIMEOUT_MS = 5_000;
const PAUSE_BETWEEN_TARGETS_MS = 300;
/** Answered from the sample corpus's streaming-and-resume page, so retrieval finds sources. */
const QUESTION = 'How does resuming a stream work after the connection drops?';
const TOKENS_PER_ANSWER = 3;
const CONCURRENCY_LEVELS = [1, 8];
/** The follow-up level: one at a time, each conversation asked this many questions (the first starts it). */
const FOLLOW_UPS_PER_CONVERSATION = 10;
const DEFAULT_ANSWERS = 400;
const QUICK_ANSWERS = 100;
const DEFAULT_TRIALS = 3;
const QUICK_TRIALS = 1;
const PROBE_ANSWERS = 20;
const GOAL_CPU_MICROSECONDS = 1_000;
const SCRATCH_PREFIX = 'rivulet_answer_bench';

const USAGE = `Usage: npm run bench:answers -- [--answers N] [--trials N] [--warmup N] [--quick] [--cpu-prof <dir>]

  --answers <n>    answers per target per trial at each concurrency (default ${DEFAULT_ANSWERS}; quick ${QUICK_ANSWERS})
  --warmup <n>     answers per target before the trials, 8 at a time (default ${WARMUP_ANSWERS}; quick ${QUICK_WARMUP_ANSWERS})
  --trials <n>     trials per target, interleaved (default ${DEFAULT_TRIALS}; quick ${QUICK_TRIALS})
  --quick          smoke run (about 30 s)
  --cpu-prof <dir> run the relays (raw pipe, both Rivulets) with node --cpu-prof, profiles written into <dir>

PostgreSQL: a scratch database is created and dropped on the server DATABASE_URL names (default
${DEFAULT_DATABASE_URL}); when it does not answer, the PostgreSQL column is skipped with the reason.
${othersFlagsNote('answers')}`;

interface AnswerTarget {
  column: ColumnName;
  target: Target;
  /** The process whose CPU is measured; undefined for direct. */
  relay: BenchChild | undefined;
  /** The scratch database behind Rivulet on PostgreSQL, when its backends' CPU can be read. */
  backends: ScratchDatabase | undefined;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function openAiTarget(column: ColumnName, port: number): Target {
  // The body a client would send the model itself; Rivulet's own request adds the retrieved passages.
  const body = JSON.stringify({
    model: BENCH_MODEL,
    messages: [{ role: 'user', content: QUESTION }],
    stream: true,
    stream_options: { include_usage: true },
  });
  return { name: column, port, path: '/v1/chat/completions', body, format: 'openai' };
}

function rivuletTarget(column: ColumnName, port: number): Target {
  // No conversationId: every answer starts a new conversation.
  return {
    name: column,
    port,
    path: '/api/chat/stream',
    body: JSON.stringify({ message: QUESTION }),
    format: 'rivulet',
  };
}

async function setScenario(fake: BenchChild): Promise<void> {
  const reply = waitForMessage<ScenarioSetMessage>(fake, 'scenario-set', IPC_TIMEOUT_MS);
  const scenario = { tokenCount: TOKENS_PER_ANSWER, interTokenMs: 0, ttftMs: 0, seed: SEED };
  fake.process.send({ type: 'set-scenario', scenario } satisfies SetScenarioMessage);
  await reply;
}

interface RivuletStart {
  name: string;
  upstreamUrl: string;
  storage: Record<string, string>;
  nodeFlags: string[];
  /** Another server to start with Rivulet's environment: the floor relay. */
  script?: string;
}

async function startRivulet(options: RivuletStart): Promise<{ child: BenchChild; port: number }> {
  const port = await freePort();
  const child = spawnRivulet(options, port, {
    // As users run it: the sample corpus searched on every answer; the cache off, so every answer is generated.
    SAMPLE_CORPUS: 'true',
    ANSWER_CACHE: 'false',
    // No embedding model to call (and no probe for a local Ollama): retrieval is BM25.
    EMBEDDING_PROVIDER: 'none',
    // A follow-up is searched as asked: condensing it with the conversation is a model call of its own.
    QUERY_ENHANCE: 'false',
    ...options.storage,
  });
  try {
    await waitForHttpOk(child, port, '/healthz', START_TIMEOUT_MS);
  } catch (error) {
    await stopChild(child);
    throw error;
  }
  return { child, port };
}

interface ProbeSummary {
  sources: number;
  phases: Map<string, number>;
  serverTtftMs: number;
  serverTotalMs: number;
}

/**
 * A few answers read whole, outside the measurement: proves retrieval finds sources, and gives the server's own
 * phase timings (wall time) from each done event.
 */
async function probeRivulet(target: Target): Promise<ProbeSummary> {
  const sources: number[] = [];
  const phases = new Map<string, number[]>();
  const serverTtft: number[] = [];
  const serverTotal: number[] = [];
  for (let index = 0; index < PROBE_ANSWERS; index += 1) {
    const response = await fetch(`http://127.0.0.1:${target.port}${target.path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
      body: target.body,
    });
    if (response.status !== 200)
      throw new Error(`${target.name}: HTTP ${response.status}: ${await response.text()}`);
    const parser = createParser({
      onEvent: (event) => {
        if (event.event === 'sources') {
          sources.push((JSON.parse(event.data) as { sources: unknown[] }).sources.length);
        } else if (event.event === 'done') {
          const done = JSON.parse(event.data) as {
            timings: { ttftMs: number | null; totalMs: number; phases: Record<string, number> };
          };
          if (done.timings.ttftMs !== null) serverTtft.push(done.timings.ttftMs);
          serverTotal.push(done.timings.totalMs);
          for (const [name, ms] of Object.entries(done.timings.phases)) {
            phases.set(name, [...(phases.get(name) ?? []), ms]);
          }
        } else if (event.event === 'error') {
          throw new Error(`${target.name}: error event: ${event.data}`);
        }
      },
    });
    parser.feed(await response.text());
  }
  return {
    sources: median(sources),
    phases: new Map([...phases].map(([name, values]) => [name, median(values)])),
    serverTtftMs: median(serverTtft),
    serverTotalMs: median(serverTotal),
  };
}

async function measureTrial(answerTarget: AnswerTarget, plan: LoadPlan): Promise<AnswerTrial> {
  const { relay, backends } = answerTarget;
  const relayBefore = relay === undefined ? undefined : processCpu(relay.pid);
  const backendsBefore = backends === undefined ? undefined : await backends.backendCpu();
  const result = await runLoad(answerTarget.target, plan);
  const relayCpuMicroseconds =
    relay === undefined || relayBefore === undefined
      ? undefined
      : totalCpuMicroseconds(cpuDelta(relayBefore, processCpu(relay.pid)));
  const backendDelta =
    backends === undefined || backendsBefore === undefined
      ? undefined
      : backendCpuDelta(backendsBefore, await backends.backendCpu());
  if (relay !== undefined) assertRunning(relay);
  return {
    started: result.started,
    completed: result.completed,
    failures: result.failures,
    ttftMs: result.ttftMs,
    elapsedMs: result.elapsedMs,
    relayCpuMicroseconds,
    backendCpuMicroseconds: backendDelta?.microseconds,
    backendsLost: backendDelta?.lost ?? 0,
  };
}

async function runLevel(
  concurrency: number,
  answers: number,
  trials: number,
  targets: readonly AnswerTarget[],
  followUps?: number,
): Promise<LevelResult> {
  // Rivulet's answers as follow-ups: the direct and raw-pipe requests have no conversation and stay as they are.
  if (followUps !== undefined) {
    targets = targets.map((each) =>
      each.target.format === 'rivulet' ? { ...each, target: { ...each.target, followUps } } : each,
    );
  }
  const rounds = Math.max(1, Math.round(answers / concurrency));
  const plan: LoadPlan = {
    concurrency,
    rounds,
    rampMs: 0,
    tokensPerStream: TOKENS_PER_ANSWER,
    streamDurationMs: 1,
    timeoutMs: rounds * 1_000 + 30_000,
  };
  const level: LevelResult = {
    concurrency,
    answersPerTrial: rounds * concurrency,
    ...(followUps === undefined ? {} : { followUps }),
    trials: new Map(targets.map((each) => [each.column, []])),
  };
  for (let trial = 0; trial < trials; trial += 1) {
    // Each trial starts with another target, so none is always the one measured right after a pause.
    const order = targets.map((_target, index) => targets[(index + trial) % targets.length] as AnswerTarget);
    for (const answerTarget of order) {
      await delay(PAUSE_BETWEEN_TARGETS_MS);
      level.trials.get(answerTarget.column)?.push(await measureTrial(answerTarget, plan));
    }
  }
  return level;
}

/** Starts Rivulet on a scratch PostgreSQL database, or says why the column is skipped. */
async function startPostgresTarget(
  upstreamUrl: string,
  nodeFlags: string[],
): Promise<{ target: AnswerTarget; child: BenchChild; database: ScratchDatabase } | { skipped: string }> {
  const fromEnvironment = process.env.DATABASE_URL;
  const adminUrl =
    fromEnvironment === undefined || fromEnvironment === '' ? DEFAULT_DATABASE_URL : fromEnvironment;
  let database: ScratchDatabase;
  try {
    database = await createScratchDatabase(adminUrl, SCRATCH_PREFIX);
  } catch (error) {
    return { skipped: `PostgreSQL at ${redactUrl(adminUrl)} does not answer (${(error as Error).message})` };
  }
  try {
    const { child, port } = await startRivulet({
      name: 'rivulet-postgres',
      upstreamUrl,
      storage: { DATABASE_URL: database.url, DATA_DIR: ':memory:' },
      nodeFlags,
    });
    if (database.backendCpuSkipReason !== undefined) {
      console.log(`PostgreSQL backends' CPU is not read: ${database.backendCpuSkipReason}`);
    }
    const target: AnswerTarget = {
      column: 'postgres',
      target: rivuletTarget('postgres', port),
      relay: child,
      backends: database.backendCpuSkipReason === undefined ? database : undefined,
    };
    return { target, child, database };
  } catch (error) {
    await database.drop().catch(() => {});
    const message = (error as Error).message.split('\n').slice(0, 12).join('\n  ');
    return { skipped: `Rivulet did not start on PostgreSQL:\n  ${message}` };
  }
}

/** The 1-minute load average against the CPU count: above it, the targets queued behind other processes. */
function describeLoad(): string {
  return `${(loadavg()[0] ?? 0).toFixed(2)} (1 min) on ${cpus().length} CPU(s)`;
}

function redactUrl(url: string): string {
  if (!URL.canParse(url)) return 'DATABASE_URL (not a URL)';
  const parsed = new URL(url);
  if (parsed.password !== '') parsed.password = '***';
  return parsed.toString();
}

function describeProbe(column: ColumnName, probe: ProbeSummary): string {
  const phases = [...probe.phases].map(([name, ms]) => `${name} ${ms.toFixed(2)}`).join(', ');
  return `${COLUMN_TITLES[column]}: ${probe.sources} sources per answer; server timings (median of ${PROBE_ANSWERS}, wall ms): ${phases}; ttft ${probe.serverTtftMs.toFixed(2)}, total ${probe.serverTotalMs.toFixed(2)}`;
}

async function main(): Promise<number> {
  const benchStartedAt = performance.now();
  const { values, ignored } = parseBenchArgs('answers');
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const quick = values.quick;
  const answers =
    integerFlag('answers', values.answers, 8, 100_000) ?? (quick ? QUICK_ANSWERS : DEFAULT_ANSWERS);
  const trials = integerFlag('trials', values.trials, 1, 20) ?? (quick ? QUICK_TRIALS : DEFAULT_TRIALS);
  const warmupAnswers =
    integerFlag('warmup', values.warmup, 8, 100_000) ?? (quick ? QUICK_WARMUP_ANSWERS : WARMUP_ANSWERS);

  const cpuList = cpus();
  console.log('\n## Rivulet answer-cost benchmark (per-answer CPU and added TTFT, SQLite and PostgreSQL)\n');
  console.log(
    `machine: ${cpuList.length} CPU(s) (${cpuList[0]?.model.trim() ?? 'unknown'}), ${Math.round(totalmem() / 2 ** 30)} GiB RAM, Linux ${release()}, Node ${process.version}`,
  );
  console.log(`load average at start: ${describeLoad()}`);
  noteIgnoredFlags(ignored);
  console.log(
    `load: answers of ${TOKENS_PER_ANSWER} tokens, no inter-token delay, each a new conversation, asking "${QUESTION}"; ` +
      `${answers} answers per target per trial at concurrency ${CONCURRENCY_LEVELS.join(' and ')}, then one at a time as ` +
      `follow-ups (conversations of ${FOLLOW_UPS_PER_CONVERSATION} questions); ${trials} trial(s), targets interleaved; medians over trials`,
  );
  console.log(
    'rivulet env: LLM_PROVIDER=openai-compatible LOG_LEVEL=warn SAMPLE_CORPUS=true ANSWER_CACHE=false EMBEDDING_PROVIDER=none QUERY_ENHANCE=false, ' +
      'SQLite: DATA_DIR=<temp dir> (on disk), PostgreSQL: DATABASE_URL=<scratch database>; other settings at their defaults',
  );

  const dataDir = mkdtempSync(join(tmpdir(), 'rivulet-answer-bench-'));
  const children: BenchChild[] = [];
  let database: ScratchDatabase | undefined;
  try {
    const {
      child: fake,
      port: fakePort,
      url: fakeUrl,
    } = await startFakeUpstreamChild(ROOT, START_TIMEOUT_MS);
    children.push(fake);
    await setScenario(fake);

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
    children.push(rawPipe);
    const rawPipePort = (await waitForMessage<ReadyMessage>(rawPipe, 'ready', START_TIMEOUT_MS)).port;

    const sqlite = await startRivulet({
      name: 'rivulet-sqlite',
      upstreamUrl: fakeUrl,
      storage: { DATA_DIR: join(dataDir, 'rivulet') },
      nodeFlags: profileFlags,
    });
    children.push(sqlite.child);
    // The same answer's own work on a SQLite file of its own, without Rivulet's run machinery.
    const floor = await startRivulet({
      name: 'floor relay',
      upstreamUrl: fakeUrl,
      storage: { DATA_DIR: join(dataDir, 'floor'), METRICS_ENABLED: 'false' },
      nodeFlags: profileFlags,
      script: FLOOR_RELAY_SCRIPT,
    });
    children.push(floor.child);

    const targets: AnswerTarget[] = [
      { column: 'direct', target: openAiTarget('direct', fakePort), relay: undefined, backends: undefined },
      {
        column: 'raw-pipe',
        target: openAiTarget('raw-pipe', rawPipePort),
        relay: rawPipe,
        backends: undefined,
      },
      {
        column: 'floor',
        target: rivuletTarget('floor', floor.port),
        relay: floor.child,
        backends: undefined,
      },
      {
        column: 'sqlite',
        target: rivuletTarget('sqlite', sqlite.port),
        relay: sqlite.child,
        backends: undefined,
      },
    ];
    const postgres = await startPostgresTarget(fakeUrl, profileFlags);
    if ('skipped' in postgres) {
      console.log(`\nPostgreSQL column skipped: ${postgres.skipped}`);
    } else {
      children.push(postgres.child);
      database = postgres.database;
      targets.push(postgres.target);
    }

    // Outside the measurement: retrieval finds sources, and the server's own phase timings.
    console.log('');
    for (const answerTarget of targets) {
      if (answerTarget.target.format !== 'rivulet') continue;
      console.log(describeProbe(answerTarget.column, await probeRivulet(answerTarget.target)));
    }

    // Warm-up: JIT, connection pools and statement caches of every target (see WARMUP_ANSWERS).
    const warmup: LoadPlan = {
      concurrency: 8,
      rounds: Math.ceil(warmupAnswers / 8),
      rampMs: 0,
      tokensPerStream: TOKENS_PER_ANSWER,
      streamDurationMs: 1,
      timeoutMs: 60_000,
    };
    let failed = 0;
    for (const answerTarget of targets) {
      const result = await runLoad(answerTarget.target, warmup);
      failed += result.started - result.completed;
      for (const [reason, count] of result.failures) {
        console.log(
          `FAILED during warm-up: ${COLUMN_TITLES[answerTarget.column]}: ${count} answer(s): ${reason}`,
        );
      }
    }
    console.log(`warm-up: ${warmup.concurrency * warmup.rounds} answers per target, 8 at a time`);
    console.log(
      `CPU clock tick: ${cpuResolutionMicroseconds() / 1000} ms (the resolution of each trial's CPU reading)`,
    );

    const columns = targets.map((each) => each.column);
    const levels: LevelResult[] = [];
    const plans = [
      ...CONCURRENCY_LEVELS.map((concurrency) => ({ concurrency, followUps: undefined })),
      { concurrency: 1, followUps: FOLLOW_UPS_PER_CONVERSATION },
    ];
    for (const { concurrency, followUps } of plans) {
      const level = await runLevel(concurrency, answers, trials, targets, followUps);
      levels.push(level);
      const title =
        followUps !== undefined
          ? `follow-ups, one at a time: Rivulet's conversations of ${followUps} questions (the first starts one, ` +
            `${followUps - 1} follow it, each with the conversation so far as history); direct and raw pipe as above`
          : concurrency === 1
            ? 'one answer at a time'
            : `${concurrency} answers at once (each slot asks again when answered)`;
      console.log(
        `\n### ${title}: ${level.answersPerTrial} answers per target per trial, ${trials} trial(s)\n`,
      );
      console.log(levelTable(level, columns));
      for (const line of failureLines(level)) console.log(line);
      failed += [...level.trials.values()]
        .flat()
        .reduce((sum, trial) => sum + trial.started - trial.completed, 0);
      const lost = columnFigures(level, 'postgres')?.backendsLost ?? 0;
      if (lost > 0)
        console.log(`note: ${lost} PostgreSQL backend(s) ended mid-trial; their CPU is not counted`);
    }

    console.log(
      `\nload average at the end: ${describeLoad()}; work of other processes shows in the wall-clock figures (TTFT) first`,
    );
    console.log(`issue 15 target: server CPU per answer <= ${GOAL_CPU_MICROSECONDS} µs`);
    for (const column of columns) {
      if (column !== 'sqlite' && column !== 'postgres') continue;
      console.log(targetSummary(levels, column, GOAL_CPU_MICROSECONDS));
    }
    if (database === undefined) {
      console.log('- Rivulet PostgreSQL: skipped (see above)');
    }

    for (const child of children) {
      if (child !== fake && child !== rawPipe && child.outputLineCount > 0) {
        console.log(
          `\n${child.name} wrote ${child.outputLineCount} log line(s) at LOG_LEVEL=warn; the last ones:`,
        );
        console.log(child.recentOutput.slice(-10).join('\n'));
      }
    }
    if (profileDir !== undefined) {
      const pids = children
        .filter((child) => child !== fake)
        .map((child) => `${child.name} pid ${child.pid}`)
        .join(', ');
      console.log(`\nCPU profiles are written to ${profileDir} when the relays stop (${pids})`);
    }
    if (failed > 0) {
      console.log(`\n${failed} answer(s) failed (see FAILED lines above)`);
      return 1;
    }
    return 0;
  } finally {
    await Promise.all(children.map((child) => stopChild(child)));
    if (database !== undefined) {
      // DROP DATABASE makes the server checkpoint first: seconds when other work on it has dirtied many pages.
      const dropStartedAt = performance.now();
      await database.drop().then(
        () =>
          console.log(
            `scratch database dropped in ${((performance.now() - dropStartedAt) / 1000).toFixed(1)} s`,
          ),
        (error: unknown) =>
          console.log(
            `could not drop the scratch database ${database?.name ?? ''}: ${(error as Error).message}`,
          ),
      );
    }
    rmSync(dataDir, { recursive: true, force: true });
    console.log(`bench took ${Math.round((performance.now() - benchStartedAt) / 1000)} s`);
  }
}

runBench(main);
