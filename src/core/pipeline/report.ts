// The end of a run's record: its outcome for metrics and traces, and one log line with every phase's time.

import type { PhaseName, Timings } from '../events.ts';
import { writesLevel } from '../logger.ts';
import type { PipelineContext } from './context.ts';

/** Reports the run once its answer is stored; `provider` is the one the `start` event named. */
export function reportRun(context: PipelineContext, provider: string, timings: Timings): void {
  const { run, input, deps, recorder } = context;
  const { status, finishReason, errorCode, cached, usage } = recorder;
  recorder.trace.finished({
    status,
    errorCode,
    cached,
    cache: recorder.cacheOutcome,
    ttftMs: timings.ttftMs,
    totalMs: timings.totalMs,
    outputTokens: usage?.outputTokens ?? recorder.tokenCount,
    inputTokens: usage?.inputTokens ?? 0,
    phases: timings.phases,
  });
  // One line per answer with every phase's time (seed 000: "Phase 6 completed in 2.34s"), built only when written.
  if (!writesLevel(deps.logger, 'info')) return;
  deps.logger.info(
    {
      runId: run.runId,
      conversationId: input.conversationId,
      chatbotId: input.chatbot.id,
      provider,
      status,
      finishReason,
      errorCode,
      cached,
      sources: recorder.sources.length,
      tokens: recorder.tokenCount,
      ttftMs: timings.ttftMs,
      totalMs: timings.totalMs,
      phases: timings.phases,
    },
    `answer ${status} in ${(timings.totalMs / 1000).toFixed(2)}s (${formatPhases(timings.phases)})`,
  );
}

/** "history 0.4ms, retrieve 3.1ms, generate 812.0ms" */
export function formatPhases(phases: Partial<Record<PhaseName, number>>): string {
  return Object.entries(phases)
    .map(([name, ms]) => `${name} ${ms.toFixed(1)}ms`)
    .join(', ');
}
