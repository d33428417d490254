// Pools the trials of each target and prints the per-level tables, the target ratios and a summary.

import type { LoadResult } from './load-client.ts';
import { describeLevel, type LevelProfile } from './levels.ts';
import { totalCpuMicroseconds, type ProcessCpu } from './processes.ts';
import { formatNumber, markdownTable, percentile } from './stats.ts';

export const TARGET_CPU_RATIO = 1.3;
export const TARGET_ADDED_TTFT_MS = 2;

export type TargetName = 'direct' | 'raw-pipe' | 'rivulet';

/** One trial of one target at one level. */
export interface TrialMeasurement {
  result: LoadResult;
  /** Relay CPU over the trial; undefined for direct. */
  relayCpu: ProcessCpu | undefined;
  upstreamCpu: ProcessCpu;
  /** The bench process itself (the load client), from process.cpuUsage(). */
  clientCpu: ProcessCpu;
  /** Milliseconds after the relay process started, to cut a --cpu-prof profile to this trial. */
  profileWindow: { fromMs: number; toMs: number } | undefined;
  idleRssBytes: number | undefined;
  midpointRssBytes: number | undefined;
  /** Streams receiving tokens when the RSS was sampled. */
  openAtMidpoint: number | undefined;
  /** SYNs dropped on full accept queues during the trial (any listener on the machine). */
  listenDrops: number;
}

export interface LevelReport {
  profile: LevelProfile;
  trials: Map<TargetName, TrialMeasurement[]>;
  upstreamRequests: number;
  upstreamCompleted: number;
}

interface Pooled {
  started: number;
  completed: number;
  framesReceived: number;
  tokensDelivered: number;
  streamsWithOtherFrameCount: number;
  failures: Map<string, number>;
  ttftMs: number[];
  gapMs: number[];
  relayCpuMicroseconds: number | undefined;
  relayUserMicroseconds: number | undefined;
  relaySystemMicroseconds: number | undefined;
  upstreamCpuMicroseconds: number;
  clientCpuMicroseconds: number;
  wallMs: number;
  listenDrops: number;
  idleRssBytes: number | undefined;
  /** Median over trials of (RSS with all streams open - idle RSS) / streams open then. */
  memoryPerStreamBytes: number | undefined;
  minOpenAtMidpoint: number | undefined;
}

function median(values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined;
  return percentile(values, 50);
}

function sumOrUndefined(values: readonly (number | undefined)[]): number | undefined {
  let total = 0;
  for (const value of values) {
    if (value === undefined) return undefined;
    total += value;
  }
  return total;
}

function pool(trials: readonly TrialMeasurement[], concurrency: number): Pooled {
  const failures = new Map<string, number>();
  const ttftMs: number[] = [];
  const gapMs: number[] = [];
  const memory: number[] = [];
  const pooled: Pooled = {
    started: 0,
    completed: 0,
    framesReceived: 0,
    tokensDelivered: 0,
    streamsWithOtherFrameCount: 0,
    failures,
    ttftMs,
    gapMs,
    relayCpuMicroseconds: sumOrUndefined(
      trials.map((trial) =>
        trial.relayCpu === undefined ? undefined : totalCpuMicroseconds(trial.relayCpu),
      ),
    ),
    relayUserMicroseconds: sumOrUndefined(trials.map((trial) => trial.relayCpu?.userMicroseconds)),
    relaySystemMicroseconds: sumOrUndefined(trials.map((trial) => trial.relayCpu?.systemMicroseconds)),
    upstreamCpuMicroseconds: 0,
    clientCpuMicroseconds: 0,
    wallMs: 0,
    listenDrops: 0,
    idleRssBytes: trials[0]?.idleRssBytes,
    memoryPerStreamBytes: undefined,
    minOpenAtMidpoint: undefined,
  };
  for (const trial of trials) {
    const { result } = trial;
    pooled.started += result.started;
    pooled.completed += result.completed;
    pooled.framesReceived += result.framesReceived;
    pooled.tokensDelivered += result.tokensDelivered;
    pooled.streamsWithOtherFrameCount += result.streamsWithOtherFrameCount;
    for (const [reason, count] of result.failures) failures.set(reason, (failures.get(reason) ?? 0) + count);
    for (const value of result.ttftMs) ttftMs.push(value);
    for (const value of result.gapMs) gapMs.push(value);
    pooled.upstreamCpuMicroseconds += totalCpuMicroseconds(trial.upstreamCpu);
    pooled.clientCpuMicroseconds += totalCpuMicroseconds(trial.clientCpu);
    pooled.wallMs += result.elapsedMs;
    pooled.listenDrops += trial.listenDrops;
    if (trial.idleRssBytes !== undefined && trial.midpointRssBytes !== undefined) {
      // Divided by the streams the relay was carrying at that moment (normally all of them).
      const carried = trial.openAtMidpoint ?? concurrency;
      if (carried > 0) memory.push((trial.midpointRssBytes - trial.idleRssBytes) / carried);
    }
    if (trial.openAtMidpoint !== undefined) {
      pooled.minOpenAtMidpoint = Math.min(
        pooled.minOpenAtMidpoint ?? trial.openAtMidpoint,
        trial.openAtMidpoint,
      );
    }
  }
  pooled.memoryPerStreamBytes = median(memory);
  return pooled;
}

function cpuPerToken(cpuMicroseconds: number | undefined, tokens: number): number | undefined {
  if (cpuMicroseconds === undefined || tokens === 0) return undefined;
  return cpuMicroseconds / tokens;
}

function trialCpuPerToken(trial: TrialMeasurement | undefined): number | undefined {
  if (trial?.relayCpu === undefined) return undefined;
  return cpuPerToken(totalCpuMicroseconds(trial.relayCpu), trial.result.tokensDelivered);
}

export interface LevelFigures {
  title: string;
  cpuRatio: number | undefined;
  cpuRatioPerTrial: (number | undefined)[];
  addedTtftOverRawPipeMs: number;
  addedTtftOverDirectMs: number;
  rawPipeTtftP99Ms: number;
  rivuletTtftP99Ms: number;
  rawPipeMemoryPerStreamBytes: number | undefined;
  rivuletMemoryPerStreamBytes: number | undefined;
  failedStreams: number;
}

export function levelFigures(report: LevelReport): LevelFigures {
  const pooledOf = (name: TargetName): Pooled =>
    pool(report.trials.get(name) ?? [], report.profile.concurrency);
  const direct = pooledOf('direct');
  const rawPipe = pooledOf('raw-pipe');
  const rivulet = pooledOf('rivulet');
  const rivuletCpu = cpuPerToken(rivulet.relayCpuMicroseconds, rivulet.tokensDelivered);
  const rawPipeCpu = cpuPerToken(rawPipe.relayCpuMicroseconds, rawPipe.tokensDelivered);
  const rawPipeTrials = report.trials.get('raw-pipe') ?? [];
  const rivuletTrials = report.trials.get('rivulet') ?? [];
  const cpuRatioPerTrial = rivuletTrials.map((trial, index) => {
    const rivuletTrial = trialCpuPerToken(trial);
    const rawPipeTrial = trialCpuPerToken(rawPipeTrials[index]);
    return rivuletTrial === undefined || rawPipeTrial === undefined || rawPipeTrial === 0
      ? undefined
      : rivuletTrial / rawPipeTrial;
  });
  const rivuletTtft = percentile(rivulet.ttftMs, 50);
  return {
    title: report.profile.title,
    cpuRatio:
      rivuletCpu === undefined || rawPipeCpu === undefined || rawPipeCpu === 0
        ? undefined
        : rivuletCpu / rawPipeCpu,
    cpuRatioPerTrial,
    addedTtftOverRawPipeMs: rivuletTtft - percentile(rawPipe.ttftMs, 50),
    addedTtftOverDirectMs: rivuletTtft - percentile(direct.ttftMs, 50),
    rawPipeTtftP99Ms: percentile(rawPipe.ttftMs, 99),
    rivuletTtftP99Ms: percentile(rivulet.ttftMs, 99),
    rawPipeMemoryPerStreamBytes: rawPipe.memoryPerStreamBytes,
    rivuletMemoryPerStreamBytes: rivulet.memoryPerStreamBytes,
    failedStreams: [direct, rawPipe, rivulet].reduce(
      (total, entry) => total + entry.started - entry.completed,
      0,
    ),
  };
}

const milliseconds = (micros: number | undefined): string =>
  formatNumber(micros === undefined ? undefined : micros / 1000, 0);

export function printLevel(report: LevelReport, cpuResolutionMs: number): void {
  const { profile } = report;
  console.log(`\n### ${profile.title}\n`);
  console.log(describeLevel(profile));
  console.log(
    `fake upstream served ${report.upstreamRequests} requests, ${report.upstreamCompleted} to the end ([DONE])\n`,
  );

  const pooledByTarget = [...report.trials.entries()].map(
    ([name, trials]) => [name, pool(trials, profile.concurrency)] as const,
  );
  const header = [
    'target',
    'streams ok',
    'tokens',
    'TTFT p50 ms',
    'TTFT p99 ms',
    'gap p50 ms',
    'gap p99 ms',
    'CPU us/token',
    'idle RSS MB',
    'mem/stream KB',
  ];
  const rows = pooledByTarget.map(([name, pooled]) => [
    name,
    `${pooled.completed}/${pooled.started}`,
    String(pooled.framesReceived),
    formatNumber(percentile(pooled.ttftMs, 50), 2),
    formatNumber(percentile(pooled.ttftMs, 99), 2),
    formatNumber(percentile(pooled.gapMs, 50), 2),
    formatNumber(percentile(pooled.gapMs, 99), 2),
    formatNumber(cpuPerToken(pooled.relayCpuMicroseconds, pooled.tokensDelivered), 1),
    formatNumber(pooled.idleRssBytes === undefined ? undefined : pooled.idleRssBytes / 2 ** 20, 1),
    formatNumber(
      pooled.memoryPerStreamBytes === undefined ? undefined : pooled.memoryPerStreamBytes / 1024,
      1,
    ),
  ]);
  console.log(markdownTable(header, rows));
  console.log(
    `\nCPU us/token = relay process CPU (/proc/<pid>/stat utime+stime, ${cpuResolutionMs} ms ticks) / content tokens delivered. ` +
      'mem/stream = (relay VmRSS with every stream open - idle VmRSS) / streams open, median of the trials' +
      (profile.concurrency < 100 ? '; at this concurrency that is mostly GC and allocator noise.' : '.'),
  );

  console.log('\nwhere the CPU went, all trials together (ms; four processes share the machine)\n');
  console.log(
    markdownTable(
      [
        'target',
        'relay user',
        'relay sys',
        'relay total',
        'fake upstream',
        'load client',
        'wall',
        'SYN drops',
      ],
      pooledByTarget.map(([name, pooled]) => [
        name,
        milliseconds(pooled.relayUserMicroseconds),
        milliseconds(pooled.relaySystemMicroseconds),
        milliseconds(pooled.relayCpuMicroseconds),
        milliseconds(pooled.upstreamCpuMicroseconds),
        milliseconds(pooled.clientCpuMicroseconds),
        formatNumber(pooled.wallMs, 0),
        String(pooled.listenDrops),
      ]),
    ),
  );

  for (const [name, pooled] of pooledByTarget) {
    if (pooled.listenDrops > 0) {
      console.log(
        `note: ${name}: ${pooled.listenDrops} SYN(s) dropped on a full accept queue (TcpExt ListenDrops); each such stream waited >= 1 s for a SYN retransmit, which shows in TTFT p99`,
      );
    }
    if (pooled.minOpenAtMidpoint !== undefined && pooled.minOpenAtMidpoint !== profile.concurrency) {
      console.log(
        `note: ${name} was carrying as few as ${pooled.minOpenAtMidpoint}/${profile.concurrency} streams when RSS was sampled (mem/stream divides by that number)`,
      );
    }
    if (pooled.streamsWithOtherFrameCount > 0) {
      console.log(
        `note: ${name}: ${pooled.streamsWithOtherFrameCount} completed streams had a token frame count other than ${profile.scenario.tokenCount} (merged frames)`,
      );
    }
    for (const [reason, count] of pooled.failures) {
      console.log(`FAILED: ${name}: ${count} stream(s): ${reason}`);
    }
  }

  const figures = levelFigures(report);
  const perTrial = figures.cpuRatioPerTrial.map((ratio) => formatNumber(ratio, 2)).join(', ');
  console.log('');
  console.log(
    `rivulet CPU/token ÷ raw-pipe CPU/token = ${formatNumber(figures.cpuRatio, 2)}x pooled (per trial: ${perTrial}); target <= ${TARGET_CPU_RATIO}x` +
      (figures.cpuRatio === undefined ? '' : figures.cpuRatio <= TARGET_CPU_RATIO ? ': met' : ': MISSED'),
  );
  console.log(
    `rivulet TTFT p50 added: ${formatNumber(figures.addedTtftOverRawPipeMs, 2)} ms over raw-pipe, ` +
      `${formatNumber(figures.addedTtftOverDirectMs, 2)} ms over direct; target <= ${TARGET_ADDED_TTFT_MS} ms` +
      (Number.isFinite(figures.addedTtftOverRawPipeMs)
        ? figures.addedTtftOverRawPipeMs <= TARGET_ADDED_TTFT_MS
          ? ': met'
          : ': MISSED'
        : ''),
  );
}

/** For --cpu-prof: which slice of each relay's profile belongs to which trial. */
export function printProfileWindows(report: LevelReport): void {
  for (const [name, trials] of report.trials) {
    for (const [index, trial] of trials.entries()) {
      if (trial.profileWindow === undefined) continue;
      console.log(
        `profile window ${report.profile.title} ${name} trial ${index + 1}: --from-ms ${Math.round(trial.profileWindow.fromMs)} --to-ms ${Math.round(trial.profileWindow.toMs)}`,
      );
    }
  }
}

export function printSummary(reports: readonly LevelReport[]): void {
  console.log('\n### summary against the targets\n');
  const rows = reports.map((report) => {
    const figures = levelFigures(report);
    const kilobytes = (bytes: number | undefined): string =>
      formatNumber(bytes === undefined ? undefined : bytes / 1024, 0);
    return [
      figures.title,
      formatNumber(figures.cpuRatio, 2),
      figures.cpuRatioPerTrial.map((ratio) => formatNumber(ratio, 2)).join(' / '),
      formatNumber(figures.addedTtftOverRawPipeMs, 2),
      formatNumber(figures.addedTtftOverDirectMs, 2),
      `${formatNumber(figures.rivuletTtftP99Ms, 0)} / ${formatNumber(figures.rawPipeTtftP99Ms, 0)}`,
      `${kilobytes(figures.rivuletMemoryPerStreamBytes)} / ${kilobytes(figures.rawPipeMemoryPerStreamBytes)}`,
    ];
  });
  console.log(
    markdownTable(
      [
        'load',
        `CPU/token rivulet÷raw-pipe (<= ${TARGET_CPU_RATIO}x)`,
        'per trial',
        `TTFT p50 added vs raw-pipe ms (<= ${TARGET_ADDED_TTFT_MS})`,
        'TTFT p50 added vs direct ms',
        'TTFT p99 ms rivulet / raw-pipe',
        'mem/stream KB rivulet / raw-pipe',
      ],
      rows,
    ),
  );
  console.log(
    '\nissue 15 targets for the scenarios: paced (200 at 50 tokens/s) TTFT p99 <= 50 ms and <= 150 KB per active stream; ' +
      'held (opened at 1,000/s) TTFT p99 <= 1 s and <= 45 KB per held stream; CPU/token <= 1.3x raw-pipe everywhere.',
  );
}
