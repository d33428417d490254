// The fault cases every streaming adapter must survive, run against its fake upstream by each adapter's test.

import { describe, expect, it } from 'vitest';
import type { LanguageModel } from '../../src/core/provider.ts';
import type { FakeUpstream } from './fake-upstream.ts';
import { abortMidStream, failureOf, HELLO, streamAll } from './language-model-probe.ts';

export interface FaultCaseSubject {
  upstream: FakeUpstream;
  /** The adapter under test, with a stallMs of a few hundred ms. */
  model: LanguageModel;
  /** The same adapter with another stallMs; the cases close it. */
  withStallMs(stallMs: number): LanguageModel;
}

/** Registers the shared cases; `subject` is read when each case runs, after the test file's beforeAll. */
export function describeStreamFaults(subject: () => FaultCaseSubject): void {
  describe('stream faults', () => {
    it('keeps multi-byte characters whole when they are split across TCP chunks', async () => {
      const { upstream, model } = subject();
      const tokens = [' héllo', ' 😀', ' 漢字', ' 👩‍💻', ' niño'];
      upstream.setScenario({ tokens, splitMultibyte: true });
      expect((await streamAll(model)).text).toBe(tokens.join(''));
    });

    it('closes the upstream connection within 100 ms when the signal aborts mid-stream', async () => {
      const { upstream, model } = subject();
      upstream.setScenario({ tokenCount: 1000, interTokenMs: 10 });
      const { abortedAt, rejection } = await abortMidStream(model, 5);
      expect(rejection).toEqual(new Error('user stopped'));
      const log = await upstream.waitForClose(1);
      expect(log.closedBy).toBe('client');
      expect(log.closedAt! - abortedAt).toBeLessThan(100);
    });

    it('429 carries Retry-After and stays retryable', async () => {
      const { upstream, model } = subject();
      upstream.setScenario({ errorStatus: 429, retryAfterSeconds: 5 });
      expect(await failureOf(streamAll(model))).toMatchObject({
        code: 'UPSTREAM_RATE_LIMITED',
        retryable: true,
        retryAfterMs: 5000,
      });
    });

    it('a connection dropped mid-stream is UPSTREAM_DROPPED after the tokens that did arrive', async () => {
      const { upstream, model } = subject();
      upstream.setScenario({ tokens: ['one', ' two', ' three', ' four'], dropAfter: 2 });
      const texts: string[] = [];
      const error = await failureOf(
        model.stream(HELLO, {
          signal: new AbortController().signal,
          onPart: (part) => {
            if (part.type === 'text-delta') texts.push(part.text);
          },
        }),
      );
      expect(error).toMatchObject({ code: 'UPSTREAM_DROPPED', retryable: true });
      expect(texts.join('')).toBe('one two');
    });

    it('a stream that stops sending is UPSTREAM_STALLED after stallMs', async () => {
      const current = subject();
      const { upstream } = current;
      const impatient = current.withStallMs(100);
      upstream.setScenario({ tokenCount: 10, stallAfter: 3 });
      expect(await failureOf(streamAll(impatient))).toMatchObject({
        code: 'UPSTREAM_STALLED',
        retryable: true,
      });
      expect((await upstream.waitForClose(1)).closedBy).toBe('client');
      await impatient.close?.();
    });

    it('an unparseable chunk is UPSTREAM_BAD_RESPONSE and closes the connection', async () => {
      const { upstream, model } = subject();
      upstream.setScenario({ tokenCount: 10, malformedAfter: 2, interTokenMs: 5 });
      expect((await failureOf(streamAll(model))).code).toBe('UPSTREAM_BAD_RESPONSE');
      expect((await upstream.waitForClose(1)).closedBy).toBe('client');
    });
  });
}
