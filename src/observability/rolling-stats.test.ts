import { describe, expect, it } from 'vitest';
import type { RunOutcome } from '../core/observer.ts';
import { percentile, RollingStats } from './rolling-stats.ts';

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

describe('percentile', () => {
  it('is the nearest-rank percentile, and null for no values', () => {
    expect(percentile([], 50)).toBeNull();
    expect(percentile([3, 1, 2], 50)).toBe(2);
    expect(percentile([1, 2, 3, 4], 95)).toBe(4);
  });
});
