// Child processes for the benchmark: spawning, readiness, CPU and RSS from /proc, and killing them on any exit.

import { execSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { ReadyMessage, ScenarioSetMessage, SetScenarioMessage } from './messages.ts';

/** The repository's root, where the benchmarks start their child processes. */
export const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** `rivulet serve` as the benchmarks run it (node --experimental-strip-types src/cli/main.ts). */
export const RIVULET_SCRIPT = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));
/** An answer's own work through Rivulet's stores and retrieval, without the rest (bench:answers' floor). */
export const FLOOR_RELAY_SCRIPT = fileURLToPath(new URL('./floor-relay.ts', import.meta.url));
/** The raw Node pipe relay every figure is compared with. */
export const RAW_PIPE_SCRIPT = fileURLToPath(new URL('./raw-pipe-relay.ts', import.meta.url));

/** How many lines of a child's output are kept for error reports. */
const OUTPUT_LINES_KEPT = 40;
const STOP_GRACE_MS = 5_000;

export interface BenchChild {
  readonly name: string;
  readonly process: ChildProcess;
  readonly pid: number;
  /** performance.now() when it was spawned (profiles from --cpu-prof count from about then). */
  readonly spawnedAt: number;
  /** The last lines the child wrote to stdout or stderr. */
  readonly recentOutput: string[];
  /** Lines written in total (a busy log at LOG_LEVEL=warn means something went wrong). */
  outputLineCount: number;
}

export interface SpawnOptions {
  name: string;
  script: string;
  args?: string[];
  /** Extra flags for node itself (e.g. --cpu-prof), placed before the script. */
  nodeFlags?: string[];
  env: Record<string, string>;
  cwd: string;
  /** Opens an IPC channel (for the bench's own children, which report their port over it). */
  ipc: boolean;
}

const children = new Set<BenchChild>();

function isRunning(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

/** Synchronous, so it also works from process.on('exit'). */
export function killAllChildrenNow(): void {
  for (const child of children) {
    if (isRunning(child.process)) child.process.kill('SIGKILL');
  }
}

process.on('exit', killAllChildrenNow);

/**
 * Runs a benchmark's main function: its result is the exit code; an interrupt, a termination or a crash stops every
 * child process first.
 */
export function runBench(main: () => Promise<number>): void {
  process.once('SIGINT', () => {
    console.log('\ninterrupted: stopping the child processes');
    killAllChildrenNow();
    process.exit(130);
  });
  process.once('SIGTERM', () => {
    killAllChildrenNow();
    process.exit(143);
  });
  main().then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      console.error(error);
      killAllChildrenNow();
      process.exit(1);
    },
  );
}

function keepLines(child: BenchChild, stream: NodeJS.ReadableStream | null): void {
  if (stream === null) return;
  let carry = '';
  stream.setEncoding('utf8');
  stream.on('data', (text: string) => {
    const lines = (carry + text).split('\n');
    carry = lines.pop() ?? '';
    for (const line of lines) {
      child.outputLineCount += 1;
      child.recentOutput.push(line);
      if (child.recentOutput.length > OUTPUT_LINES_KEPT) child.recentOutput.shift();
    }
  });
}

/**
 * BENCH_NODE_FLAGS: Node flags for every process a bench starts (children get a clean environment, so NODE_OPTIONS
 * does not reach them), e.g. `--perf-basic-prof` to read JIT frames in `perf record -e cpu-clock -p <relay pid>`.
 */
const EXTRA_NODE_FLAGS = (process.env.BENCH_NODE_FLAGS ?? '').split(' ').filter((flag) => flag.length > 0);

export function spawnChild(options: SpawnOptions): BenchChild {
  const spawnedAt = performance.now();
  const spawned = spawn(
    process.execPath,
    [...EXTRA_NODE_FLAGS, ...(options.nodeFlags ?? []), options.script, ...(options.args ?? [])],
    {
      cwd: options.cwd,
      env: { PATH: process.env.PATH ?? '', NODE_NO_WARNINGS: '1', ...options.env },
      stdio: options.ipc ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'],
    },
  );
  if (spawned.pid === undefined) throw new Error(`could not start ${options.name}`);
  const child: BenchChild = {
    name: options.name,
    process: spawned,
    pid: spawned.pid,
    spawnedAt,
    recentOutput: [],
    outputLineCount: 0,
  };
  children.add(child);
  spawned.once('exit', () => children.delete(child));
  keepLines(child, spawned.stdout);
  keepLines(child, spawned.stderr);
  return child;
}

function describeExit(child: BenchChild): string {
  const { exitCode, signalCode } = child.process;
  const how = signalCode === null ? `code ${String(exitCode)}` : `signal ${signalCode}`;
  return `${child.name} exited early (${how}); last output:\n${child.recentOutput.join('\n')}`;
}

/** Resolves with the first IPC message of the given type, rejects on exit or timeout. */
export function waitForMessage<T extends { type: string }>(
  child: BenchChild,
  type: T['type'],
  timeoutMs: number,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: unknown): void => {
      if (typeof message !== 'object' || message === null) return;
      if ((message as { type?: unknown }).type !== type) return;
      cleanup();
      resolve(message as T);
    };
    const onExit = (): void => {
      cleanup();
      reject(new Error(describeExit(child)));
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`${child.name} did not send "${type}" within ${timeoutMs} ms`));
    }, timeoutMs);
    const cleanup = (): void => {
      clearTimeout(timer);
      child.process.off('message', onMessage);
      child.process.off('exit', onExit);
    };
    child.process.on('message', onMessage);
    child.process.once('exit', onExit);
  });
}

function getStatus(port: number, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = request({ host: '127.0.0.1', port, path, method: 'GET', agent: false }, (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    });
    probe.setTimeout(1_000, () => probe.destroy(new Error('probe timed out')));
    probe.on('error', reject);
    probe.end();
  });
}

/** Polls GET path until it answers 200; for servers that say nothing when they are ready. */
export async function waitForHttpOk(
  child: BenchChild,
  port: number,
  path: string,
  timeoutMs: number,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (!isRunning(child.process)) throw new Error(describeExit(child));
    try {
      if ((await getStatus(port, path)) === 200) return;
    } catch {
      // Not listening yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`${child.name} did not answer GET ${path} within ${timeoutMs} ms`);
}

/** SIGTERM (so --cpu-prof can write its profile), then SIGKILL if it lingers. */
export async function stopChild(child: BenchChild): Promise<void> {
  if (!isRunning(child.process)) return;
  const exited = new Promise<void>((resolve) => child.process.once('exit', () => resolve()));
  child.process.kill('SIGTERM');
  const timer = setTimeout(() => {
    if (isRunning(child.process)) child.process.kill('SIGKILL');
  }, STOP_GRACE_MS);
  await exited;
  clearTimeout(timer);
}

/** Throws if the child has died, with its last output. */
export function assertRunning(child: BenchChild): void {
  if (!isRunning(child.process)) throw new Error(describeExit(child));
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen({ port: 0, host: '127.0.0.1' }, () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

let clockTicksPerSecond: number | undefined;

function ticksPerSecond(): number {
  clockTicksPerSecond ??= Number(execSync('getconf CLK_TCK', { encoding: 'utf8' }).trim()) || 100;
  return clockTicksPerSecond;
}

export interface ProcessCpu {
  userMicroseconds: number;
  systemMicroseconds: number;
}

/** utime and stime of the whole process (all threads), in microseconds; resolution is one clock tick. */
export function processCpu(pid: number): ProcessCpu {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name may hold spaces and parentheses; the fields after the last ')' start at field 3.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const microsecondsPerTick = 1_000_000 / ticksPerSecond();
  return {
    userMicroseconds: Number(fields[14 - 3]) * microsecondsPerTick,
    systemMicroseconds: Number(fields[15 - 3]) * microsecondsPerTick,
  };
}

export function cpuDelta(before: ProcessCpu, after: ProcessCpu): ProcessCpu {
  return {
    userMicroseconds: after.userMicroseconds - before.userMicroseconds,
    systemMicroseconds: after.systemMicroseconds - before.systemMicroseconds,
  };
}

export function totalCpuMicroseconds(cpu: ProcessCpu): number {
  return cpu.userMicroseconds + cpu.systemMicroseconds;
}

/** Microseconds of CPU one clock tick stands for: the resolution of processCpuMicroseconds. */
export function cpuResolutionMicroseconds(): number {
  return 1_000_000 / ticksPerSecond();
}

/** Resident set size in bytes, from /proc/<pid>/status. */
export function processRssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
  if (match?.[1] === undefined) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(match[1]) * 1024;
}

/** The soft limit on open files of this process (children inherit it). */
export function openFilesLimit(): number {
  const limits = readFileSync('/proc/self/limits', 'utf8');
  const match = /^Max open files\s+(\S+)/m.exec(limits);
  const value = match?.[1];
  if (value === undefined) return Number.POSITIVE_INFINITY;
  return value === 'unlimited' ? Number.POSITIVE_INFINITY : Number(value);
}

/**
 * TcpExt ListenDrops of this network namespace: SYNs dropped because a listening socket's accept queue was full.
 * Each one costs the client a SYN retransmit (1 s, then 3 s), so any increase means the accept queue was measured.
 */
export function listenDrops(): number {
  const lines = readFileSync('/proc/net/netstat', 'utf8').split('\n');
  for (let index = 0; index + 1 < lines.length; index += 2) {
    const names = lines[index]?.split(' ') ?? [];
    if (names[0] !== 'TcpExt:') continue;
    const values = lines[index + 1]?.split(' ') ?? [];
    const column = names.indexOf('ListenDrops');
    return column === -1 ? 0 : Number(values[column] ?? 0);
  }
  return 0;
}

const FAKE_UPSTREAM_SCRIPT = fileURLToPath(new URL('./fake-upstream-process.ts', import.meta.url));

/** The wire-level fake upstream in its own process; resolves with the child, its port and OpenAI-style base URL. */
export async function startFakeUpstreamChild(
  cwd: string,
  timeoutMs: number,
): Promise<{ child: BenchChild; port: number; url: string }> {
  const child = spawnChild({ name: 'fake upstream', script: FAKE_UPSTREAM_SCRIPT, env: {}, cwd, ipc: true });
  const { port } = await waitForMessage<ReadyMessage>(child, 'ready', timeoutMs);
  return { child, port, url: `http://127.0.0.1:${port}/v1` };
}

/** Sets the fake upstream's scenario for the next requests; the reply counts the requests of the previous one. */
export function setFakeScenario(
  fake: BenchChild,
  scenario: SetScenarioMessage['scenario'],
  timeoutMs = 5_000,
): Promise<ScenarioSetMessage> {
  const reply = waitForMessage<ScenarioSetMessage>(fake, 'scenario-set', timeoutMs);
  const message: SetScenarioMessage = { type: 'set-scenario', scenario };
  fake.process.send(message);
  return reply;
}
