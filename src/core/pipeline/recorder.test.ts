import { describe, expect, it } from 'vitest';
import { recordingLogger } from '../../../test/fakes/pipeline-context.ts';
import { fakeRunProducer } from '../../../test/fakes/run-producer.ts';
import { noopObserver, type RunTrace } from '../observer.ts';
import { RunRecorder } from './recorder.ts';

function recorderWith(options: Partial<ConstructorParameters<typeof RunRecorder>[0]> = {}) {
  const run = fakeRunProducer();
  const logger = recordingLogger();
  const recorder = new RunRecorder({
    run,
    trace: noopObserver.runStarted({ chatbotId: 'docs', provider: 'fake' }),
    logger,
    ...options,
  });
  return { run, logger, recorder };
}

describe('RunRecorder', () => {
  it('frames each phase with start and end events and keeps its duration', () => {
    const ended: string[] = [];
    const trace: RunTrace = { tokenGap() {}, finished() {}, phaseEnded: (name) => ended.push(name) };
    const { run, recorder } = recorderWith({ trace });
    recorder.beginPhase('history');
    recorder.endPhase();
    recorder.endPhase();
    expect(run.events).toEqual([
      { type: 'phase', name: 'history', state: 'start' },
      { type: 'phase', name: 'history', state: 'end', durationMs: expect.any(Number) as number },
    ]);
    expect(Object.keys(recorder.phases)).toEqual(['history']);
    expect(ended).toEqual(['history']);
  });

  it('sends tokens, skipping empty ones, and stops recording text once the hub ended the run', () => {
    const { run, recorder } = recorderWith();
    recorder.emitToken('Hel');
    recorder.emitToken('');
    recorder.emitToken('lo');
    run.end();
    recorder.emitToken(' lost');
    expect(run.events).toEqual([
      { type: 'token', text: 'Hel' },
      { type: 'token', text: 'lo' },
    ]);
    expect(recorder.text).toBe('Hello');
    expect(recorder.tokenCount).toBe(2);
    expect(recorder.ttftMs).not.toBeNull();
  });

  it('reads the end timings once: the stored answer gets the figures its held done gave, read later or not', async () => {
    const { recorder } = recorderWith({ startedAt: performance.now() - 100 });
    recorder.holdDone();
    const sent = recorder.ending?.timings;
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(recorder.timings()).toEqual(sent);
    expect(recorder.timings().totalMs).toBeGreaterThanOrEqual(100);
  });

  it('holds a done ending with what was recorded', () => {
    const { run, recorder } = recorderWith();
    recorder.sendSources([], { quality: 'none', topScore: 0, matchedTerms: 0, queryTerms: 1 });
    recorder.emitToken('Hi');
    recorder.usage = { inputTokens: 3, outputTokens: 1 };
    recorder.holdDone();
    expect(run.events.map((event) => event.type)).toEqual(['sources', 'token']);
    expect(recorder.ending).toMatchObject({
      type: 'done',
      finishReason: 'stop',
      text: 'Hi',
      usage: { inputTokens: 3, outputTokens: 1 },
      cached: false,
    });
  });

  it('estimates the usage when the provider gave none or only its part of a failover, never without a prompt', async () => {
    const estimated = { inputTokens: 10, outputTokens: 2 };
    const { recorder } = recorderWith({ estimateUsage: () => Promise.resolve(estimated) });
    await recorder.settleUsage();
    expect(recorder.usage).toBeNull();
    recorder.prompt = [{ role: 'user', content: 'q' }];
    recorder.usage = { inputTokens: 1, outputTokens: 1 };
    await recorder.settleUsage();
    expect(recorder.usage).toEqual({ inputTokens: 1, outputTokens: 1 });
    recorder.failedOver = true;
    await recorder.settleUsage();
    expect(recorder.usage).toEqual(estimated);
  });

  it('keeps the usage it has and warns when the estimate fails', async () => {
    const { recorder, logger } = recorderWith({
      estimateUsage: () => Promise.reject(new Error('no tokenizer')),
    });
    recorder.prompt = [{ role: 'user', content: 'q' }];
    await recorder.settleUsage();
    expect(recorder.usage).toBeNull();
    expect(logger.lines.map((line) => line.message)).toEqual(['usage estimate failed']);
  });
});
