// The answer-cost benchmark's summary under the per-answer target: the median, each trial, the raw pipe beside it.

import { describe, expect, it } from 'vitest';
import {
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
});
