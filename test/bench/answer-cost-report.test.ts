// The answer-cost benchmark's summary under the per-answer target: the median, each trial, the raw pipe (and, for
// SQLite, the floor) beside it; and the floor's row in the level's table.

import { describe, expect, it } from 'vitest';
import {
  levelTable,
  targetSummary,
  type AnswerTrial,
  type ColumnName,
  type LevelResult,
} from '../../bench/answer-cost-report.ts';

/** A trial of `answers` answers that took `cpuPerAnswer` µs each (undefined: not measured, as for direct). */
function trial(answers: number, cpuPerAnswer: number | undefined, backendPerAnswer?: number): AnswerTrial {
  return {
    started: answers,
    completed: answers,
    failures: new Map(),
    ttftMs: [1, 2, 3],
    elapsedMs: 1000,
    relayCpuMicroseconds: cpuPerAnswer === undefined ? undefined : cpuPerAnswer * answers,
    backendCpuMicroseconds: backendPerAnswer === undefined ? undefined : backendPerAnswer * answers,
    backendsLost: 0,
  };
}

function level(concurrency: number, trials: Partial<Record<ColumnName, AnswerTrial[]>>, followUps?: number) {
  const result: LevelResult = {
    concurrency,
    answersPerTrial: 400,
    trials: new Map(Object.entries(trials) as [ColumnName, AnswerTrial[]][]),
  };
  if (followUps !== undefined) result.followUps = followUps;
  return result;
}

describe('answer-cost target summary', () => {
  it('gives each level its median, its trials in order and the raw pipe, and judges the median', () => {
    const oneAtATime = level(1, {
      'raw-pipe': [trial(400, 300), trial(400, 275), trial(400, 325)],
      sqlite: [trial(400, 1725), trial(400, 1550), trial(400, 1600)],
    });
    const eight = level(8, {
      'raw-pipe': [trial(400, 225), trial(400, 200), trial(400, 250)],
      sqlite: [trial(400, 700), trial(400, 1100), trial(400, 775)],
    });
    expect(targetSummary([oneAtATime, eight], 'sqlite', 1000)).toBe(
      '- Rivulet SQLite: c=1 1600 µs (trials 1725 / 1550 / 1600; raw pipe 300): not met; ' +
        'c=8 775 µs (trials 700 / 1100 / 775; raw pipe 225): met',
    );
  });

  it('adds PostgreSQL backends, names follow-ups, and says n/a for a store that was not measured', () => {
    const followUps = level(
      1,
      {
        'raw-pipe': [trial(400, 250), trial(400, 250)],
        postgres: [trial(400, 1800, 900), trial(400, 1700, 800)],
      },
      10,
    );
    expect(targetSummary([followUps], 'postgres', 1000)).toBe(
      '- Rivulet PostgreSQL: follow-ups 1750 µs (trials 1800 / 1700; raw pipe 250; + 850 µs in PostgreSQL): not met',
    );
    expect(targetSummary([followUps], 'sqlite', 1000)).toBe('- Rivulet SQLite: follow-ups n/a µs: n/a');
  });

  it('leaves a single trial and a missing raw pipe out of the brackets', () => {
    const single = level(8, { sqlite: [trial(100, 990)] });
    expect(targetSummary([single], 'sqlite', 1000)).toBe('- Rivulet SQLite: c=8 990 µs: met');
  });

  it("puts the floor beside SQLite's figures only, and Rivulet SQLite's CPU above it in the table", () => {
    const oneAtATime = level(1, {
      'raw-pipe': [trial(400, 300), trial(400, 350)],
      floor: [trial(400, 1000), trial(400, 1100)],
      sqlite: [trial(400, 1400), trial(400, 1600)],
      postgres: [trial(400, 1800, 900), trial(400, 1900, 1000)],
    });
    expect(targetSummary([oneAtATime], 'sqlite', 1000)).toBe(
      '- Rivulet SQLite: c=1 1500 µs (trials 1400 / 1600; raw pipe 325; floor 1050): not met',
    );
    expect(targetSummary([oneAtATime], 'postgres', 1000)).toBe(
      '- Rivulet PostgreSQL: c=1 1850 µs (trials 1800 / 1900; raw pipe 325; + 950 µs in PostgreSQL): not met',
    );
    const table = levelTable(oneAtATime, ['raw-pipe', 'floor', 'sqlite', 'postgres']);
    const row = (label: string) => table.split('\n').find((line) => line.startsWith(`| ${label} `));
    expect(row('server CPU µs per answer')).toMatch(/\|\s+325 \|\s+1,?050 \|\s+1,?500 \|\s+1,?850 \|$/);
    expect(row('  minus the floor’s')).toMatch(/\|\s+- \|\s+- \|\s+450 \|\s+- \|$/);
    expect(levelTable(oneAtATime, ['raw-pipe', 'sqlite'])).not.toContain('floor');
  });
});
