// `node bench/workers-bench.ts`: streams held and tokens/s with `rivulet serve --workers 2` against `--workers 1` on
// this machine, flat out and at 50 tokens/s per stream. Both runs use the Redis run hub (REDIS_URL, which --workers 2
// requires) and a SQLite file in a fresh directory, so the only difference is the number of workers. The fake upstream
// and the load client run on the same machine and take their share of its cores: the figures say what Rivulet gets
// out of the cores left to it, not what it would do on a machine of its own.

import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { FakeScenario } from '../test/fakes/openai-upstream.ts';
import { runLoad, type LoadPlan, type LoadResult, type Target } from './load-client.ts';
import type { ScenarioSetMessage, SetScenarioMessage } from './messages.ts';
import {
  cpuDelta,
  freePort,
  processCpu,
  runBench,
  startFakeUpstreamChild,
  spawnChild,
  stopChild,
  totalCpuMicroseconds,
  waitForHttpOk,
  waitForMessage,
  type BenchChild,
  type ProcessCpu,
  ROOT,
  RIVULET_SCRIPT,
} from './processes.ts';
import { formatNumber, markdownTable, percentile } from './stats.ts';

const START_TIMEOUT_MS = 45_000;
const IPC_TIMEOUT_MS = 5_000;
const PROMPT = 'Benchmark prompt: tell me about rivers and streams.';

/** Flat out: the upstream sends as fast as it can; what counts is tokens per second through Rivulet. */
const FLAT_OUT: FakeScenario = { tokenCount: 400, interTokenMs: 0, seed: 1 };
const FLAT_OUT_CONCURRENCY = 64;
const FLAT_OUT_ROUNDS = 2;
/** 50 tokens/s per stream, 3 s per stream: how many such streams are held at that pace. */
const PACED: FakeScenario = { tokenCount: 150, interTokenMs: 20, seed: 2 };
const PACED_STREAM_MS = 150 * 20;
const PACED_LEVELS = [200, 400, 800];
/**
 * A level is held when every stream completed, 99% of them got their first token within HELD_TTFT_P99_MS and the 99th
 * percentile gap between tokens stayed under HELD_GAP_P99_MS (five times the 20 ms pace).
 */
const HELD_GAP_P99_MS = 100;
const HELD_TTFT_P99_MS = 1_000;

interface Run {
  label: string;
  result: LoadResult;
  /** CPU of the primary and its workers (or the single process) during the run. */
  serverCpuMs: number;
}

const USAGE = `Usage: node bench/workers-bench.ts [--levels 200,400,800]

Needs REDIS_URL (the run hub --workers 2 requires; both runs use it). Runs in under two minutes.`;

/** The process and, under --workers N, its workers: the pids whose CPU counts as the server's. */
function processTree(pid: number): number[] {
  const pids = [pid];
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    const children = readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim();
    if (children !== '') pids.push(...children.split(' ').map(Number));
  }
  return pids;
}

function treeCpu(pids: readonly number[]): ProcessCpu {
  return pids
    .map((pid) => processCpu(pid))
    .reduce(
      (sum, cpu) => ({
        userMicroseconds: sum.userMicroseconds + cpu.userMicroseconds,
        systemMicroseconds: sum.systemMicroseconds + cpu.systemMicroseconds,
      }),
      { userMicroseconds: 0, systemMicroseconds: 0 },
    );
}

async function setScenario(fake: BenchChild, scenario: FakeScenario): Promise<void> {
  const reply = waitForMessage<ScenarioSetMessage>(fake, 'scenario-set', IPC_TIMEOUT_MS);
  const message: SetScenarioMessage = { type: 'set-scenario', scenario };
  fake.process.send(message);
  await reply;
}

async function startRivulet(
  workers: number,
  fakeUrl: string,
  redisUrl: string,
  dataDir: string,
): Promise<{ child: BenchChild; port: number }> {
  const port = await freePort();
  const child = spawnChild({
    name: `rivulet --workers ${workers}`,
    script: RIVULET_SCRIPT,
    args: ['serve', '--workers', String(workers)],
    env: {
      LLM_PROVIDER: 'openai-compatible',
      LLM_BASE_URL: fakeUrl,
      LLM_MODEL: 'bench',
      LOG_LEVEL: 'warn',
      HOST: '127.0.0.1',
      PORT: String(port),
      DATA_DIR: dataDir,
      SAMPLE_CORPUS: 'false',
      ANSWER_CACHE: 'false',
      REDIS_URL: redisUrl,
      REDIS_KEY_PREFIX: `rivulet-bench-workers-${process.pid}-${workers}`,
    },
    cwd: ROOT,
    ipc: false,
  });
  await waitForHttpOk(child, port, '/readyz', START_TIMEOUT_MS);
  // Under --workers N the first worker listens before the others start: wait until the last one answers too.
  if (workers > 1) {
    const deadline = performance.now() + START_TIMEOUT_MS;
    while (processTree(child.pid).length < workers + 1 && performance.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await new Promise((resolve) => setTimeout(resolve, 3_000));
  }
  return { child, port };
}

async function measure(label: string, target: Target, plan: LoadPlan, serverPid: number): Promise<Run> {
  const pids = processTree(serverPid);
  const before = treeCpu(pids);
  const result = await runLoad(target, plan);
  const serverCpuMs = totalCpuMicroseconds(cpuDelta(before, treeCpu(pids))) / 1000;
  return { label, result, serverCpuMs };
}

function tokensPerSecond(result: LoadResult): number {
  return result.tokensDelivered / (result.elapsedMs / 1000);
}

function held(result: LoadResult): boolean {
  return (
    result.completed === result.started &&
    !result.timedOut &&
    percentile(result.ttftMs, 99) < HELD_TTFT_P99_MS &&
    percentile(result.gapMs, 99) < HELD_GAP_P99_MS
  );
}

function row(workers: number, run: Run): string[] {
  const { result } = run;
  return [
    String(workers),
    run.label,
    `${result.completed}/${result.started}`,
    formatNumber(tokensPerSecond(result), 0),
    formatNumber(percentile(result.ttftMs, 50), 1),
    formatNumber(percentile(result.ttftMs, 99), 1),
    formatNumber(percentile(result.gapMs, 99), 1),
    formatNumber(run.serverCpuMs / 1000, 1),
    run.label.startsWith('50 tok/s') ? (held(result) ? 'yes' : 'no') : '',
  ];
}

async function main(): Promise<number> {
  const startedAt = performance.now();
  const { values } = parseArgs({
    options: { levels: { type: 'string' }, help: { type: 'boolean', short: 'h', default: false } },
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const redisUrl = process.env.REDIS_URL;
  if (redisUrl === undefined || redisUrl === '') {
    console.log(`REDIS_URL is not set: --workers 2 needs the shared run hub.\n\n${USAGE}`);
    return 2;
  }
  const levels = values.levels === undefined ? PACED_LEVELS : values.levels.split(',').map(Number);
  const cpuList = cpus();
  console.log('## Rivulet workers benchmark: --workers 2 against --workers 1\n');
  console.log(
    `machine: ${cpuList.length} CPU(s) (${cpuList[0]?.model.trim() ?? 'unknown'}), ${Math.round(totalmem() / 2 ** 30)} GiB RAM, Linux ${release()}, Node ${process.version}`,
  );
  console.log(
    'the fake upstream and the load client share these cores with Rivulet; Redis run hub, SQLite file, answer cache off',
  );
  console.log(
    `load average at start: ${loadavg()
      .map((value) => value.toFixed(1))
      .join(' ')} (other work on the machine)`,
  );

  const { child: fake, url: fakeUrl } = await startFakeUpstreamChild(ROOT, START_TIMEOUT_MS);
  const rows: string[][] = [];
  let failed = 0;
  for (const workers of [1, 2]) {
    const dataDir = mkdtempSync(join(tmpdir(), 'rivulet-workers-bench-'));
    try {
      const { child, port } = await startRivulet(workers, fakeUrl, redisUrl, dataDir);
      const target: Target = {
        name: 'rivulet',
        port,
        path: '/api/chat/stream',
        body: JSON.stringify({ message: PROMPT }),
        format: 'rivulet',
      };
      // Warm-up: JIT, connection pools and the Redis connections of every worker.
      await setScenario(fake, { tokenCount: 50, interTokenMs: 1, seed: 3 });
      await runLoad(target, {
        concurrency: 32,
        rounds: 2,
        rampMs: 0,
        tokensPerStream: 50,
        streamDurationMs: 50,
        timeoutMs: 30_000,
      });

      await setScenario(fake, FLAT_OUT);
      const flat = await measure(
        `flat out, ${FLAT_OUT_CONCURRENCY} streams x ${FLAT_OUT_ROUNDS}`,
        target,
        {
          concurrency: FLAT_OUT_CONCURRENCY,
          rounds: FLAT_OUT_ROUNDS,
          rampMs: 200,
          tokensPerStream: FLAT_OUT.tokenCount ?? 0,
          streamDurationMs: 1_000,
          timeoutMs: 30_000,
        },
        child.pid,
      );
      rows.push(row(workers, flat));
      failed += flat.result.started - flat.result.completed;

      await setScenario(fake, PACED);
      for (const concurrency of levels) {
        const paced = await measure(
          `50 tok/s, ${concurrency} streams`,
          target,
          {
            concurrency,
            rounds: 1,
            rampMs: 1_000,
            tokensPerStream: PACED.tokenCount ?? 0,
            streamDurationMs: PACED_STREAM_MS,
            timeoutMs: 30_000,
          },
          child.pid,
        );
        rows.push(row(workers, paced));
        failed += paced.result.started - paced.result.completed;
      }
      if (child.outputLineCount > 0) {
        console.log(
          `\n${child.name} wrote ${child.outputLineCount} log line(s) at LOG_LEVEL=warn; the last ones:`,
        );
        console.log(child.recentOutput.slice(-5).join('\n'));
      }
      await stopChild(child);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }
  await stopChild(fake);

  console.log(
    `\n${markdownTable(
      [
        'workers',
        'load',
        'completed',
        'tokens/s',
        'TTFT p50 ms',
        'TTFT p99 ms',
        'gap p99 ms',
        'server CPU s',
        `held (TTFT p99 < ${HELD_TTFT_P99_MS} ms, gap p99 < ${HELD_GAP_P99_MS} ms)`,
      ],
      rows,
    )}`,
  );
  console.log(
    `\nbench took ${Math.round((performance.now() - startedAt) / 1000)} s; load average now ${loadavg()
      .map((value) => value.toFixed(1))
      .join(' ')}`,
  );
  if (failed > 0) {
    console.log(`\n${failed} stream(s) failed to complete`);
    return 1;
  }
  return 0;
}

runBench(main);
