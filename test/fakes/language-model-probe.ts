// Drives a LanguageModel adapter the way the pipeline does, for the adapter tests that run against the fakes.

import { performance } from 'node:perf_hooks';
import { RivuletError } from '../../src/core/errors.ts';
import type { GenerateRequest, LanguageModel, StreamPart } from '../../src/core/provider.ts';

export const HELLO: GenerateRequest = { messages: [{ role: 'user', content: 'hi' }] };

export interface StreamOutcome {
  parts: StreamPart[];
  /** The text deltas joined. */
  text: string;
}

export function textOf(parts: readonly StreamPart[]): string {
  return parts.flatMap((part) => (part.type === 'text-delta' ? [part.text] : [])).join('');
}

export async function streamAll(
  model: LanguageModel,
  request: GenerateRequest = HELLO,
  signal: AbortSignal = new AbortController().signal,
): Promise<StreamOutcome> {
  const parts: StreamPart[] = [];
  await model.stream(request, { signal, onPart: (part) => parts.push(part) });
  return { parts, text: textOf(parts) };
}

/** The coded error a call failed with; a call that succeeds fails the test. */
export async function failureOf(call: Promise<unknown>): Promise<RivuletError> {
  const outcome = await call.then(
    () => undefined,
    (error: unknown) => error,
  );
  if (!(outcome instanceof RivuletError)) {
    throw new Error(
      `expected a RivuletError, got ${outcome instanceof Error ? outcome.message : (JSON.stringify(outcome) ?? 'success')}`,
    );
  }
  return outcome;
}

/** Streams and aborts from inside onPart once `afterParts` parts arrived; returns when the call settled. */
export async function abortMidStream(
  model: LanguageModel,
  afterParts: number,
): Promise<{ abortedAt: number; rejection: unknown }> {
  const controller = new AbortController();
  let abortedAt = 0;
  let seen = 0;
  const rejection = await model
    .stream(HELLO, {
      signal: controller.signal,
      onPart: () => {
        seen += 1;
        if (seen !== afterParts) return;
        abortedAt = performance.now();
        controller.abort(new Error('user stopped'));
      },
    })
    .then(
      () => undefined,
      (error: unknown) => error,
    );
  return { abortedAt, rejection };
}
