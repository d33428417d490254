// Reads a whole run into one answer for the non-streaming endpoints (POST /api/chat, POST /v1/chat/completions).

import type { ServerResponse } from 'node:http';
import { toRivuletError } from '../../core/errors.ts';
import type { RunHub, RunSink } from '../../core/run-hub.ts';
import { emptyAnswer, foldEvent, type ChatAnswer } from '../encoders/aggregate.ts';

/**
 * Folds the run's events as they come. A caller that hangs up is a disconnect like any other: its reader detaches
 * and the run's grace policy applies. A reader refused (TOO_MANY_READERS) stops the run, since nobody would read it.
 * The answer's `finishReason` stays null when the reader ended without a terminal event.
 */
export function collectAnswer(hub: RunHub, runId: string, response: ServerResponse): Promise<ChatAnswer> {
  const answer = emptyAnswer();
  return new Promise<ChatAnswer>((resolve, reject) => {
    const sink: RunSink = {
      write(entries) {
        for (const entry of entries) foldEvent(answer, entry.event);
        return true;
      },
      end: () => resolve(answer),
    };
    hub.subscribe(runId, -1, sink).then(
      (subscription) => {
        if (subscription === undefined) {
          resolve(answer);
          return;
        }
        // The request's own 'close' fires as soon as its body is read, so it is the response that tells.
        response.once('close', () => {
          if (response.writableFinished) return;
          subscription.close();
          resolve(answer);
        });
      },
      (error: unknown) => {
        void hub.stop(runId);
        reject(toRivuletError(error));
      },
    );
  });
}
