// How a run that threw ends: a stop keeps a quiet `done`, a shutdown is kept as stopped, anything else is an error.

import { RivuletError, toRivuletError } from '../errors.ts';
import type { PipelineContext } from './context.ts';
import { errorEventInput } from '../events.ts';

/** Reasons the hub gives for aborting a run that still deserve a `done` (the user or nobody wanted more). */
function isQuietAbort(reason: unknown): boolean {
  return reason instanceof RivuletError && (reason.code === 'RUN_STOPPED' || reason.code === 'RUN_ABANDONED');
}

/** Records the outcome of a run whose phases threw `caught`: its status, finish reason, error code and usage. */
export async function recordFailure(context: PipelineContext, caught: unknown): Promise<void> {
  const { run, deps, recorder } = context;
  recorder.endPhase();
  const reason: unknown = run.signal.aborted ? run.signal.reason : caught;
  if (run.signal.aborted && isQuietAbort(reason)) {
    recorder.status = 'stopped';
    recorder.finishReason = 'aborted';
    // Tokens generated before the stop were paid for: say how many.
    await recorder.settleUsage();
    recorder.holdDone();
  } else if (run.signal.aborted && reason instanceof RivuletError && reason.code === 'SHUTTING_DOWN') {
    // Cut by the shutdown deadline: the hub already told the readers (a retryable SHUTTING_DOWN error); the
    // answer is kept as stopped with its partial text, like a user's stop.
    recorder.status = 'stopped';
    recorder.finishReason = 'aborted';
    recorder.errorCode = reason.code;
    await recorder.settleUsage();
  } else {
    recorder.status = 'failed';
    recorder.finishReason = 'error';
    const error = toRivuletError(reason);
    recorder.errorCode = error.code;
    // Expected failures (upstream faults, limits) are warnings with their detail; only bugs carry a stack.
    if (error.code === 'INTERNAL') {
      deps.logger.error({ runId: run.runId, code: error.code, err: error.cause ?? error }, 'run failed');
    } else {
      deps.logger.warn({ runId: run.runId, code: error.code, detail: error.detail }, 'run failed');
    }
    // When the hub ended the run itself (timeout, caps, shutdown) its error is already the last event.
    run.append(errorEventInput(error));
    // Text that was generated was paid for, prompt included: counted (estimated where the provider did not say)
    // for the stored message and the token budgets. A failure before any text (a refused request) cost nothing.
    if (recorder.text !== '') await recorder.settleUsage();
  }
}
