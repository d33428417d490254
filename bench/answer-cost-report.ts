// The answer-cost benchmark's figures: per-trial measurements reduced to medians, and the side-by-side table.

import { formatNumber, markdownTable, percentile } from './stats.ts';

export type ColumnName = 'direct' | 'raw-pipe' | 'floor' | 'sqlite' | 'postgres';

export const COLUMN_TITLES: Record<ColumnName, string> = {
  direct: 'direct',
  'raw-pipe': 'raw pipe',
  floor: 'floor (SQLite)',
  sqlite: 'Rivulet SQLite',
  postgres: 'Rivulet PostgreSQL',
};

/** One target, one trial. */
export interface AnswerTrial {
  started: number;
  completed: number;
  failures: Map<string, number>;
  ttftMs: number[];
  elapsedMs: number;
  /** CPU of the relay process over the trial; undefined for direct. */
  relayCpuMicroseconds: number | undefined;
  /** CPU of the PostgreSQL backends serving the relay; undefined when not read. */
  backendCpuMicroseconds: number | undefined;
  /** Backends that ended during the trial (their CPU is missing from backendCpuMicroseconds). */
  backendsLost: number;
}

export interface LevelResult {
  concurrency: number;
  /** Rivulet's answers were follow-ups in conversations of this many questions (see Target.followUps). */
  followUps?: number;
  answersPerTrial: number;
  trials: Map<ColumnName, AnswerTrial[]>;
}

/** The figures of one column at one level: medians over its trials. */
export interface ColumnFigures {
  ttftP50Ms: number;
  ttftP95Ms: number;
  /** Median over trials of (this column's percentile - direct's, same trial). */
  addedTtftP50Ms: number | undefined;
  addedTtftP95Ms: number | undefined;
  /** Wall time of a trial divided by its answers: the mean answer's duration at c=1, 1/throughput above. */
  wallMsPerAnswer: number;
  cpuMicrosecondsPerAnswer: number | undefined;
  /** Each trial's server CPU per answer, in trial order (the median above is of these): how much the runs moved. */
  cpuPerTrial: number[];
  /** The raw pipe's median in the same level, as a reference for the load (one at a time costs it more too). */
  rawPipeCpuMicrosecondsPerAnswer: number | undefined;
  cpuMinusRawPipe: number | undefined;
  /**
   * The floor's median in the same level (bench/floor-relay.ts: the answer's own work on SQLite without Rivulet's run
   * machinery), and Rivulet SQLite's CPU above it; both undefined for other columns.
   */
  floorCpuMicrosecondsPerAnswer: number | undefined;
  cpuMinusFloor: number | undefined;
  backendCpuMicrosecondsPerAnswer: number | undefined;
  failed: number;
  backendsLost: number;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[middle] ?? Number.NaN)
    : ((sorted[middle - 1] ?? Number.NaN) + (sorted[middle] ?? Number.NaN)) / 2;
}

/** The values that were measured: neither undefined nor NaN nor infinite. */
function measured(values: readonly (number | undefined)[]): number[] {
  return values.filter((value): value is number => value !== undefined && Number.isFinite(value));
}

function medianOrUndefined(values: readonly (number | undefined)[]): number | undefined {
  const defined = measured(values);
  return defined.length === 0 ? undefined : median(defined);
}

function perAnswer(trial: AnswerTrial, microseconds: number | undefined): number | undefined {
  return microseconds === undefined || trial.completed === 0 ? undefined : microseconds / trial.completed;
}

/** A column's median relay CPU per answer at this level, when it ran. */
function relayCpu(level: LevelResult, column: ColumnName): number | undefined {
  const trials = level.trials.get(column) ?? [];
  return medianOrUndefined(trials.map((trial) => perAnswer(trial, trial.relayCpuMicroseconds)));
}

export function columnFigures(level: LevelResult, column: ColumnName): ColumnFigures | undefined {
  const trials = level.trials.get(column);
  if (trials === undefined || trials.length === 0) return undefined;
  const direct = level.trials.get('direct') ?? [];
  const added = (p: number): number | undefined =>
    column === 'direct'
      ? undefined
      : medianOrUndefined(
          trials.map((trial, index) => {
            const reference = direct[index];
            return reference === undefined
              ? undefined
              : percentile(trial.ttftMs, p) - percentile(reference.ttftMs, p);
          }),
        );
  const cpuPerTrial = measured(trials.map((trial) => perAnswer(trial, trial.relayCpuMicroseconds)));
  const cpu = medianOrUndefined(cpuPerTrial);
  const rawPipeCpu = relayCpu(level, 'raw-pipe');
  const floorCpu = column === 'sqlite' ? relayCpu(level, 'floor') : undefined;
  return {
    ttftP50Ms: median(trials.map((trial) => percentile(trial.ttftMs, 50))),
    ttftP95Ms: median(trials.map((trial) => percentile(trial.ttftMs, 95))),
    addedTtftP50Ms: added(50),
    addedTtftP95Ms: added(95),
    wallMsPerAnswer: median(trials.map((trial) => trial.elapsedMs / Math.max(1, trial.completed))),
    cpuMicrosecondsPerAnswer: cpu,
    cpuPerTrial,
    rawPipeCpuMicrosecondsPerAnswer: rawPipeCpu,
    cpuMinusRawPipe:
      column === 'raw-pipe' || cpu === undefined || rawPipeCpu === undefined ? undefined : cpu - rawPipeCpu,
    floorCpuMicrosecondsPerAnswer: floorCpu,
    cpuMinusFloor: cpu === undefined || floorCpu === undefined ? undefined : cpu - floorCpu,
    backendCpuMicrosecondsPerAnswer: medianOrUndefined(
      trials.map((trial) => perAnswer(trial, trial.backendCpuMicroseconds)),
    ),
    failed: trials.reduce((sum, trial) => sum + trial.started - trial.completed, 0),
    backendsLost: trials.reduce((sum, trial) => sum + trial.backendsLost, 0),
  };
}

const dash = (value: number | undefined, decimals: number): string =>
  value === undefined ? '-' : formatNumber(value, decimals);

/** Rows = figures, columns = targets, for one concurrency level. */
export function levelTable(level: LevelResult, columns: readonly ColumnName[]): string {
  const figures = columns.map((column) => columnFigures(level, column));
  const row = (label: string, cell: (figures: ColumnFigures) => string): string[] => [
    label,
    ...figures.map((each) => (each === undefined ? '-' : cell(each))),
  ];
  const rows = [
    row('TTFT p50 ms', (each) => formatNumber(each.ttftP50Ms, 2)),
    row('TTFT p95 ms', (each) => formatNumber(each.ttftP95Ms, 2)),
    row('added TTFT p50 ms (over direct)', (each) => dash(each.addedTtftP50Ms, 2)),
    row('added TTFT p95 ms (over direct)', (each) => dash(each.addedTtftP95Ms, 2)),
    row(
      level.concurrency === 1 ? 'wall ms per answer (mean answer)' : 'wall ms per answer (1 / throughput)',
      (each) => formatNumber(each.wallMsPerAnswer, 2),
    ),
    row('server CPU µs per answer', (each) => dash(each.cpuMicrosecondsPerAnswer, 0)),
    row('  minus the raw pipe’s', (each) => dash(each.cpuMinusRawPipe, 0)),
  ];
  if (columns.includes('floor')) rows.push(row('  minus the floor’s', (each) => dash(each.cpuMinusFloor, 0)));
  if (columns.includes('postgres')) {
    rows.push(
      row('PostgreSQL backends CPU µs per answer', (each) => dash(each.backendCpuMicrosecondsPerAnswer, 0)),
    );
  }
  rows.push(row('failed answers', (each) => String(each.failed)));
  return markdownTable(['figure', ...columns.map((column) => COLUMN_TITLES[column])], rows);
}

/** Failure reasons of every column at one level, one line each. */
export function failureLines(level: LevelResult): string[] {
  const lines: string[] = [];
  for (const [column, trials] of level.trials) {
    const reasons = new Map<string, number>();
    for (const trial of trials) {
      for (const [reason, count] of trial.failures) reasons.set(reason, (reasons.get(reason) ?? 0) + count);
    }
    for (const [reason, count] of reasons) {
      const load = level.followUps === undefined ? `c=${level.concurrency}` : 'follow-ups';
      lines.push(`FAILED: ${COLUMN_TITLES[column]} at ${load}: ${count} answer(s): ${reason}`);
    }
  }
  return lines;
}

/**
 * One store's line under the per-answer target: each level's median server CPU per answer, its trials, the
 * raw pipe's figure beside it (and the floor's, for SQLite), and whether the median is within `goalMicroseconds`.
 * Example: `c=1 1600 µs (trials 1550 / 1600 / 1725; raw pipe 300; floor 1100): not met`.
 */
export function targetSummary(
  levels: readonly LevelResult[],
  column: ColumnName,
  goalMicroseconds: number,
): string {
  const parts = levels.map((level) => {
    const figures = columnFigures(level, column);
    const cpu = figures?.cpuMicrosecondsPerAnswer;
    const verdict = cpu === undefined ? 'n/a' : cpu <= goalMicroseconds ? 'met' : 'not met';
    const load = level.followUps === undefined ? `c=${level.concurrency}` : 'follow-ups';
    const context: string[] = [];
    if (figures !== undefined && figures.cpuPerTrial.length > 1) {
      context.push(`trials ${figures.cpuPerTrial.map((value) => value.toFixed(0)).join(' / ')}`);
    }
    const rawPipe = figures?.rawPipeCpuMicrosecondsPerAnswer;
    if (rawPipe !== undefined) context.push(`raw pipe ${rawPipe.toFixed(0)}`);
    const floor = figures?.floorCpuMicrosecondsPerAnswer;
    if (floor !== undefined) context.push(`floor ${floor.toFixed(0)}`);
    const backend = figures?.backendCpuMicrosecondsPerAnswer;
    if (backend !== undefined) context.push(`+ ${backend.toFixed(0)} µs in PostgreSQL`);
    const note = context.length === 0 ? '' : ` (${context.join('; ')})`;
    return `${load} ${cpu?.toFixed(0) ?? 'n/a'} µs${note}: ${verdict}`;
  });
  return `- ${COLUMN_TITLES[column]}: ${parts.join('; ')}`;
}
