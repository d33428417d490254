import { describe, expect, it } from 'vitest';
import type { RunOutcome } from '../core/observer.ts';
import { RollingStats } from './rolling-stats.ts';

const T0 = Date.UTC(2026, 10, 24, 12, 0, 0);

function outcome(overrides: Partial<RunOutcome> = {}): RunOutcome {
  return {
    status: 'complete',
    errorCode: undefined,
    cached: false,
    cache: 'miss',
    ttftMs: 100,
    totalMs: 1000,
    outputTokens: 50,
    inputTokens: 200,
    phases: { generate: 500 },
    ...overrides,
  };
}

function clock() {
  let now = T0;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

describe('RollingStats', () => {
  it('aggregates runs per minute with TTFT percentiles, tokens/s, outcomes and error codes', () => {
    const time = clock();
    const stats = new RollingStats({ now: time.now, windowMinutes: 5 });
    const run = (labels = { chatbotId: 'support', provider: 'openai' }, result = outcome()) =>
      stats.runStarted(labels).finished(result);
    for (let ttft = 10; ttft <= 1000; ttft += 10) run(undefined, outcome({ ttftMs: ttft }));
    run(undefined, outcome({ status: 'failed', errorCode: 'UPSTREAM_TIMEOUT', ttftMs: null }));
    run(undefined, outcome({ status: 'stopped' }));
    run({ chatbotId: 'sales', provider: 'ollama' }, outcome({ cached: true, cache: 'hit', ttftMs: 1 }));
    stats.sampleActiveStreams(7);
    stats.sampleActiveStreams(3);

    const snapshot = stats.snapshot();
    expect(snapshot.minutes).toHaveLength(5);
    const current = snapshot.minutes.at(-1)!;
    expect(current).toMatchObject({
      start: T0,
      runs: 103,
      complete: 101,
      stopped: 1,
      failed: 1,
      cached: 1,
      errors: { UPSTREAM_TIMEOUT: 1 },
      activeStreamsMax: 7,
    });
    expect(current.tokensPerSecondP50).toBe(100);
    expect(snapshot.chatbots).toEqual(['sales', 'support']);
    expect(snapshot.providers).toEqual(['ollama', 'openai']);

    const support = stats.snapshot({ chatbotId: 'support' }).minutes.at(-1)!;
    expect(support.runs).toBe(102);
    expect(support.ttftP50Ms).toBe(500);
    expect(support.ttftP95Ms).toBe(950);
    expect(stats.snapshot({ provider: 'ollama' }).minutes.at(-1)).toMatchObject({
      runs: 1,
      cached: 1,
      ttftP50Ms: 1,
    });
  });

  it('limits a view to some chatbots: their runs, ids, providers, errors and streams only', () => {
    const time = clock();
    const stats = new RollingStats({ now: time.now, windowMinutes: 2 });
    const own = stats.runStarted({ chatbotId: 'acme-bot', provider: 'openai' });
    const theirs = [1, 2, 3].map(() => stats.runStarted({ chatbotId: 'globex-bot', provider: 'anthropic' }));
    stats.sampleActiveStreams(4);
    expect(stats.activeStreams()).toBe(4);
    expect(stats.activeStreams(new Set(['acme-bot']))).toBe(1);
    own.finished(outcome());
    for (const trace of theirs) trace.finished(outcome({ status: 'failed', errorCode: 'UPSTREAM_TIMEOUT' }));
    expect(stats.activeStreams()).toBe(0);

    const view = stats.snapshot({ chatbotIds: new Set(['acme-bot']) });
    expect(view.chatbots).toEqual(['acme-bot']);
    expect(view.providers).toEqual(['openai']);
    expect(view.minutes.at(-1)).toMatchObject({ runs: 1, failed: 0, errors: {}, activeStreamsMax: 1 });
    // A chatbot outside the view shows nothing, even when asked for by id.
    const outside = stats.snapshot({ chatbotIds: new Set(['acme-bot']), chatbotId: 'globex-bot' });
    expect(outside.minutes.at(-1)).toMatchObject({ runs: 0, activeStreamsMax: 0 });
    expect(stats.snapshot().minutes.at(-1)).toMatchObject({ runs: 4, activeStreamsMax: 4 });
    expect(stats.snapshot({ chatbotId: 'globex-bot' }).minutes.at(-1)).toMatchObject({ activeStreamsMax: 3 });

    // A run still streaming in the next minute counts there, for its chatbot, once sampled.
    const long = stats.runStarted({ chatbotId: 'acme-bot', provider: 'openai' });
    time.advance(60_000);
    stats.sampleActiveStreams(1);
    expect(stats.snapshot({ chatbotIds: new Set(['acme-bot']) }).minutes.at(-1)?.activeStreamsMax).toBe(1);
    long.finished(outcome());
  });

  it('keeps a regular axis of the last hour and forgets older minutes', () => {
    const time = clock();
    const stats = new RollingStats({ now: time.now, windowMinutes: 3 });
    stats.runStarted({ chatbotId: 'a', provider: 'p' }).finished(outcome());
    time.advance(60_000);
    const second = stats.snapshot();
    expect(second.minutes.map((minute) => minute.start)).toEqual([T0 - 60_000, T0, T0 + 60_000]);
    expect(second.minutes.map((minute) => minute.runs)).toEqual([0, 1, 0]);
    time.advance(3 * 60_000);
    expect(stats.snapshot().minutes.every((minute) => minute.runs === 0)).toBe(true);
  });

  it('gives the last 5 minutes’ TTFT percentiles from their samples merged, not from per-minute means', () => {
    // The issue-18 case: 21 answers near 305 ms over four minutes, then a minute of 5 answers at 8 s. A mean of the
    // minutes' p50s, weighted by runs (what the dashboard showed), reads 1.8 s.
    const time = clock();
    const stats = new RollingStats({ now: time.now, windowMinutes: 60 });
    const run = (ttftMs: number): void =>
      stats.runStarted({ chatbotId: 'a', provider: 'p' }).finished(outcome({ ttftMs }));
    for (const count of [5, 5, 5, 6]) {
      for (let index = 0; index < count; index += 1) run(300 + index * 2);
      time.advance(60_000);
    }
    for (const ttft of [8000, 8050, 8100, 8150, 8200]) run(ttft);
    const snapshot = stats.snapshot();
    const perMinute = snapshot.minutes.slice(-5).map((minute) => minute.ttftP50Ms);
    expect(perMinute).toEqual([304, 304, 304, 304, 8100]);
    expect(snapshot.recent).toMatchObject({ minutes: 5, runs: 26, failed: 0 });
    expect(snapshot.recent.ttftP50Ms).toBe(306);
    expect(snapshot.recent.ttftP95Ms).toBe(8150);
    // Minutes older than the last five are not in the summary.
    time.advance(5 * 60_000);
    expect(stats.snapshot().recent).toMatchObject({ runs: 0, ttftP50Ms: null, ttftP95Ms: null });
  });

  it('weighs a full reservoir by the values it stands for when merging minutes', () => {
    // Minute 1: 2,048 slow answers (512 kept, each standing for 4). Minute 2: 1,000 fast ones (all kept). The slow
    // ones are two thirds of the answers, so the p50 is slow; unweighted, 1,000 of 1,512 kept values are fast.
    const time = clock();
    const stats = new RollingStats({ now: time.now, random: () => 0.999 });
    const run = (ttftMs: number): void =>
      stats.runStarted({ chatbotId: 'a', provider: 'p' }).finished(outcome({ ttftMs }));
    for (let index = 0; index < 2048; index += 1) run(5000);
    time.advance(60_000);
    for (let index = 0; index < 1000; index += 1) run(200);
    expect(stats.snapshot().recent.ttftP50Ms).toBe(5000);
  });

  it('bounds the samples it keeps per minute', () => {
    const stats = new RollingStats({ now: () => T0, random: () => 0.999 });
    const trace = () => stats.runStarted({ chatbotId: 'a', provider: 'p' });
    for (let index = 0; index < 10_000; index += 1) trace().finished(outcome({ ttftMs: index }));
    const minute = stats.snapshot().minutes.at(-1)!;
    expect(minute.runs).toBe(10_000);
    // The reservoir keeps 512 values; with this random source they are the first ones.
    expect(minute.ttftP95Ms).toBeLessThan(512);
  });
});
