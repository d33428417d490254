import { describe, expect, it } from 'vitest';
import { RivuletError } from './errors.ts';
import { ProviderQueue, type QueuePlace } from './provider-queue.ts';

const never = new AbortController().signal;

/** A queue on a clock the test moves, recording what it reports for metrics. */
function queueWith(options: { maxConcurrent: number; timeoutMs?: number }) {
  let clock = 0;
  const waits: { provider: string; ms: number; outcome: string }[] = [];
  const lengths: { provider: string; waiting: number; inFlight: number }[] = [];
  const queue = new ProviderQueue({
    maxConcurrent: options.maxConcurrent,
    maxConcurrentPerPrincipal: 0,
    timeoutMs: options.timeoutMs ?? 0,
    now: () => clock,
    observer: {
      providerQueue: (provider, waiting, inFlight) => lengths.push({ provider, waiting, inFlight }),
      providerQueueWait: (provider, ms, outcome) => waits.push({ provider, ms, outcome }),
    },
  });
  return {
    queue,
    waits,
    lengths,
    advance: (ms: number) => (clock += ms),
  };
}

describe('ProviderQueue', () => {
  it('tells a waiting call its place with an estimate from recent call durations, then 0 when admitted', async () => {
    const { queue, advance } = queueWith({ maxConcurrent: 2 });
    const none = (): void => {};
    // Two calls of 400 and 600 ms finish: the mean is 500 ms, and two run side by side.
    const first = await queue.acquire('openai:m', 'alice', never, none);
    const second = await queue.acquire('openai:m', 'alice', never, none);
    advance(400);
    first();
    advance(200);
    second();

    const places: QueuePlace[] = [];
    const held = [
      await queue.acquire('openai:m', 'alice', never, none),
      await queue.acquire('openai:m', 'alice', never, none),
    ];
    void queue.acquire('openai:m', 'alice', never, none);
    const bobs = queue.acquire('openai:m', 'bob', never, (place) => places.push(place));
    // bob, never served, is next: one call must finish first, 500 ms over 2 slots.
    expect(places).toEqual([{ position: 1, estimatedWaitMs: 250 }]);
    held[0]!();
    await bobs;
    expect(places.at(-1)).toEqual({ position: 0, estimatedWaitMs: 0 });
  });

  it('has no estimate before any call on that provider finished', async () => {
    const { queue } = queueWith({ maxConcurrent: 1 });
    const places: QueuePlace[] = [];
    const release = await queue.acquire('ollama:llama', 'alice', never, () => {});
    const waiting = queue.acquire('ollama:llama', 'bob', never, (place) => places.push(place));
    expect(places).toEqual([{ position: 1, estimatedWaitMs: null }]);
    release();
    await waiting;
  });

  it('keeps a separate limit per provider', async () => {
    const { queue } = queueWith({ maxConcurrent: 1 });
    await queue.acquire('openai:a', 'alice', never, () => {});
    // Another chain entry is not held up by the first one's slot.
    await queue.acquire('anthropic:b', 'alice', never, () => {});
  });

  it('ends a wait past the timeout with PROVIDER_QUEUE_TIMEOUT (503, retryable) and reports it', async () => {
    const { queue, waits, lengths } = queueWith({ maxConcurrent: 1, timeoutMs: 5 });
    await queue.acquire('openai:m', 'alice', never, () => {});
    const error = await queue.acquire('openai:m', 'bob', never, () => {}).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(RivuletError);
    expect(error).toMatchObject({ code: 'PROVIDER_QUEUE_TIMEOUT', status: 503, retryable: true });
    expect(waits.map((wait) => wait.outcome)).toEqual(['admitted', 'timeout']);
    // The timed-out call left the queue: one in flight, none waiting.
    expect(lengths.at(-1)).toEqual({ provider: 'openai:m', waiting: 0, inFlight: 1 });
  });

  it('a stopped run leaves the queue with its own reason, reported as left', async () => {
    const { queue, waits } = queueWith({ maxConcurrent: 1 });
    await queue.acquire('openai:m', 'alice', never, () => {});
    const stop = new AbortController();
    const waiting = queue.acquire('openai:m', 'bob', stop.signal, () => {});
    const reason = new RivuletError('RUN_STOPPED');
    stop.abort(reason);
    await expect(waiting).rejects.toBe(reason);
    expect(waits.at(-1)?.outcome).toBe('left');
  });
});
