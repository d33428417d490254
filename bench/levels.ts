// The load at each concurrency level: the fake upstream's scenario, rounds, ramp, trials and hard timeout.

import type { FakeScenario } from '../test/fakes/openai-upstream.ts';
import type { LoadPlan } from './load-client.ts';

export const SEED = 1;

/**
 * Short answers every target serves before anything is measured (`--warmup`), 8 at a time: the figures are a server's
 * that has been up a while. V8 compiles a function with its optimising compiler only after many calls, and
 * per-answer code runs once per answer: after 200 answers Rivulet was still compiling and running some of it
 * unoptimised (SQLite, `npm run bench:answers`, 2 trials each, alternating: 1,725-2,238 µs per answer one at a time
 * and 1,088-1,263 µs 8 at once after 200 warm-up answers, 1,413-1,425 and 838-850 µs after 3,000). Every target gets
 * the same warm-up; the raw pipe's figures do not move with it.
 */
export const WARMUP_ANSWERS = 3_000;
export const QUICK_WARMUP_ANSWERS = 200;

export interface LevelProfile {
  /** What the report calls it: "concurrency 64", or a named scenario's description. */
  title: string;
  concurrency: number;
  /** Streams each concurrent slot opens one after another. */
  rounds: number;
  rampMs: number;
  /** The targets run in turn this many times (direct, raw-pipe, rivulet, direct, ...); results are pooled. */
  trials: number;
  scenario: Required<Pick<FakeScenario, 'tokenCount' | 'interTokenMs' | 'ttftMs' | 'seed'>>;
}

/**
 * Long enough for CPU figures well above the 10 ms clock tick, short enough that the default run (1, 64, 1000)
 * takes about three minutes on two cores.
 */
export function profileFor(concurrency: number, quick: boolean): LevelProfile {
  const trials = quick ? 1 : 3;
  const title = `concurrency ${concurrency}`;
  if (concurrency <= 1) {
    return {
      title,
      concurrency,
      rounds: quick ? 3 : 4,
      rampMs: 0,
      trials,
      scenario: { tokenCount: quick ? 50 : 200, interTokenMs: 5, ttftMs: 0, seed: SEED },
    };
  }
  if (concurrency <= 256) {
    return {
      title,
      concurrency,
      rounds: quick ? 1 : 2,
      rampMs: 200,
      trials,
      scenario: { tokenCount: quick ? 50 : 200, interTokenMs: 10, ttftMs: 0, seed: SEED },
    };
  }
  return {
    title,
    concurrency,
    rounds: 1,
    rampMs: 1_000,
    trials,
    scenario: { tokenCount: quick ? 30 : 100, interTokenMs: 50, ttftMs: 0, seed: SEED },
  };
}

/** The named loads of issue 15, run against a Rivulet with the sample corpus and retrieval on. */
export const SCENARIO_NAMES = ['paced', 'held'] as const;
export type ScenarioName = (typeof SCENARIO_NAMES)[number];

/**
 * paced: 200 streams at 50 tokens/s each (CPU per token, TTFT p99 and memory per stream at a realistic pace).
 * held: 5,000 streams at 1 token/s, opened at 1,000 per second for 5 s (memory per held stream, TTFT p99 while
 * answers start faster than one core can start them). A held stream lasts 14 s: all 5,000 are open when the RSS is
 * sampled, half a stream after the last one was opened.
 */
export function scenarioProfile(name: ScenarioName, quick: boolean): LevelProfile {
  switch (name) {
    case 'paced':
      return {
        title: 'scenario paced: 200 streams at 50 tokens/s',
        concurrency: 200,
        rounds: 1,
        rampMs: 1_000,
        trials: quick ? 1 : 2,
        scenario: { tokenCount: quick ? 100 : 250, interTokenMs: 20, ttftMs: 0, seed: SEED },
      };
    case 'held':
      return {
        title: 'scenario held: 5,000 streams at 1 token/s, opened at 1,000/s for 5 s',
        concurrency: 5_000,
        rounds: 1,
        rampMs: 5_000,
        trials: 1,
        scenario: { tokenCount: 15, interTokenMs: 1_000, ttftMs: 0, seed: SEED },
      };
  }
}

export function parseScenarios(raw: string): ScenarioName[] {
  if (raw.trim() === 'none') return [];
  const names = raw.split(',').map((part) => part.trim());
  const known: readonly string[] = SCENARIO_NAMES;
  for (const name of names) {
    if (!known.includes(name)) {
      throw new Error(
        `--scenarios takes none or a list of ${SCENARIO_NAMES.join(', ')}, got ${JSON.stringify(raw)}`,
      );
    }
  }
  return names as ScenarioName[];
}

export interface ScenarioOverrides {
  tokenCount?: number | undefined;
  interTokenMs?: number | undefined;
  trials?: number | undefined;
  rampMs?: number | undefined;
}

/** Applies --tokens, --inter-token-ms, --trials and --ramp-ms to a level's default load. */
export function withOverrides(profile: LevelProfile, overrides: ScenarioOverrides): LevelProfile {
  return {
    ...profile,
    trials: overrides.trials ?? profile.trials,
    rampMs: overrides.rampMs ?? profile.rampMs,
    scenario: {
      ...profile.scenario,
      tokenCount: overrides.tokenCount ?? profile.scenario.tokenCount,
      interTokenMs: overrides.interTokenMs ?? profile.scenario.interTokenMs,
    },
  };
}

/** A non-negative integer flag value, or undefined when the flag was not given. */
export function integerFlag(
  name: string,
  raw: string | undefined,
  min: number,
  max: number,
): number | undefined {
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new Error(`--${name} takes an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`);
  }
  return value;
}

export function streamDurationMs(profile: LevelProfile): number {
  const { scenario } = profile;
  return scenario.ttftMs + scenario.interTokenMs * Math.max(0, scenario.tokenCount - 1);
}

/** One trial of one target. */
export function planFor(profile: LevelProfile): LoadPlan {
  const durationMs = streamDurationMs(profile);
  const expectedMs = profile.rampMs + profile.rounds * durationMs;
  return {
    concurrency: profile.concurrency,
    rounds: profile.rounds,
    rampMs: profile.rampMs,
    tokensPerStream: profile.scenario.tokenCount,
    streamDurationMs: durationMs,
    // Timers overshoot under load; three times the ideal plus slack is generous yet bounded.
    timeoutMs: expectedMs * 3 + 20_000,
  };
}

export function describeLevel(profile: LevelProfile): string {
  const { scenario } = profile;
  const streams = profile.concurrency * profile.rounds;
  return (
    `${profile.concurrency} concurrent x ${profile.rounds} round(s) = ${streams} streams per target per trial, ` +
    `${profile.trials} trial(s) interleaved (direct, raw-pipe, rivulet, direct, ...), pooled; ` +
    `${scenario.tokenCount} tokens/stream, interTokenMs ${scenario.interTokenMs}, ttftMs ${scenario.ttftMs}, ` +
    `seed ${scenario.seed}; ramp ${profile.rampMs} ms; hard timeout ${Math.round(planFor(profile).timeoutMs / 1000)} s per trial`
  );
}

export function parseLevels(raw: string): number[] {
  if (raw.trim() === 'none') return [];
  const levels = raw.split(',').map((part) => Number(part.trim()));
  for (const level of levels) {
    if (!Number.isInteger(level) || level < 1 || level > 10_000) {
      throw new Error(`--concurrency takes integers from 1 to 10000, got ${JSON.stringify(raw)}`);
    }
  }
  return levels;
}
