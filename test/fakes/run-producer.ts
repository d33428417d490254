// A run producer for unit tests of the pipeline: collects the events appended, with an AbortController to stop it.

import type { RunEventInput } from '../../src/core/events.ts';
import type { RunProducer } from '../../src/core/run-hub.ts';

export interface FakeRunProducer extends RunProducer {
  /** What was appended, in order (appends refused after the run ended are left out). */
  readonly events: RunEventInput[];
  readonly controller: AbortController;
  /** Ends the run as the hub does on its caps or timeout: every later append returns -1. */
  end(): void;
}

export function fakeRunProducer(runId = 'run_test'): FakeRunProducer {
  const controller = new AbortController();
  const events: RunEventInput[] = [];
  let ended = false;
  return {
    runId,
    signal: controller.signal,
    controller,
    events,
    end() {
      ended = true;
    },
    append(event) {
      if (ended) return -1;
      events.push(event);
      if (event.type === 'done' || event.type === 'error') ended = true;
      return events.length - 1;
    },
  };
}
