import { describe, expect, it } from 'vitest';
import { FairSemaphore, type ReleaseSlot } from './fair-semaphore.ts';

const never = new AbortController().signal;

/** Queues calls and records who was admitted, in order, with their releases and the places each was told. */
function harness(limit: number, perPrincipalLimit = 0) {
  const semaphore = new FairSemaphore({ limit, perPrincipalLimit });
  const admitted: string[] = [];
  const releases = new Map<string, ReleaseSlot>();
  const places = new Map<string, number[]>();
  const settled: Promise<unknown>[] = [];
  const ask = (principal: string, name: string, signal: AbortSignal = never): Promise<ReleaseSlot> => {
    places.set(name, []);
    const acquired = semaphore.acquire(principal, signal, (position) => places.get(name)!.push(position));
    settled.push(
      acquired.then(
        (release) => {
          admitted.push(name);
          releases.set(name, release);
        },
        () => {},
      ),
    );
    return acquired;
  };
  /** Lets admissions made so far reach their awaiting callers. */
  const flush = async (): Promise<void> => {
    await Promise.all(settled);
  };
  const release = async (name: string): Promise<void> => {
    releases.get(name)!();
    // The next admission resolves its promise; give it a turn to land in `admitted`.
    await new Promise((resolve) => setImmediate(resolve));
  };
  return { semaphore, admitted, places, ask, flush, release };
}

describe('FairSemaphore', () => {
  it('admits at once while slots are free and never holds more than its limit', async () => {
    const { semaphore, admitted, ask, release } = harness(2);
    await ask('alice', 'a1');
    await ask('alice', 'a2');
    void ask('alice', 'a3');
    await new Promise((resolve) => setImmediate(resolve));
    expect(admitted).toEqual(['a1', 'a2']);
    expect(semaphore.inUse).toBe(2);
    expect(semaphore.waiting).toBe(1);
    await release('a1');
    expect(admitted).toEqual(['a1', 'a2', 'a3']);
    expect(semaphore.inUse).toBe(2);
    expect(semaphore.waiting).toBe(0);
  });

  it('takes turns by principal: one with many waiting calls cannot starve another with one', async () => {
    const { admitted, ask, release } = harness(1);
    await ask('alice', 'a1');
    for (const name of ['a2', 'a3', 'a4', 'a5']) void ask('alice', name);
    void ask('bob', 'b1');
    void ask('bob', 'b2');
    void ask('carol', 'c1');
    // Each release admits the next in turn: never-served principals first (in arrival order), then round-robin.
    for (let index = 0; index < 7; index += 1) await release(admitted.at(-1)!);
    expect(admitted).toEqual(['a1', 'b1', 'c1', 'a2', 'b2', 'a3', 'a4', 'a5']);
  });

  it('puts a principal served least recently first, and keeps its turn history while it has calls running', async () => {
    const { admitted, ask, release } = harness(2);
    await ask('alice', 'a1');
    await ask('bob', 'b1');
    // Both served; alice longer ago, so alice's next call goes before bob's even though bob queued first.
    void ask('bob', 'b2');
    void ask('alice', 'a2');
    await release('b1');
    expect(admitted).toEqual(['a1', 'b1', 'a2']);
    await release('a1');
    expect(admitted).toEqual(['a1', 'b1', 'a2', 'b2']);
  });

  it('tells each waiting call its place, which falls as the queue moves', async () => {
    const { places, ask, release, admitted } = harness(1);
    await ask('alice', 'a1');
    void ask('alice', 'a2');
    void ask('alice', 'a3');
    void ask('bob', 'b1');
    await new Promise((resolve) => setImmediate(resolve));
    // bob was never served: he goes next, pushing alice's waiting calls back one place.
    expect(places.get('b1')).toEqual([1]);
    expect(places.get('a2')).toEqual([1, 2]);
    expect(places.get('a3')).toEqual([2, 3]);
    await release('a1');
    await release('b1');
    expect(admitted).toEqual(['a1', 'b1', 'a2']);
    expect(places.get('a3')).toEqual([2, 3, 2, 1]);
    // Admitted at once: never told a place.
    expect(places.get('a1')).toEqual([]);
  });

  it('a call aborted while waiting leaves at once with the abort reason, and those behind it move up', async () => {
    const { semaphore, ask, places, release, admitted } = harness(1);
    await ask('alice', 'a1');
    const stop = new AbortController();
    const stopped = ask('bob', 'b1', stop.signal);
    void ask('carol', 'c1');
    await new Promise((resolve) => setImmediate(resolve));
    expect(places.get('c1')).toEqual([2]);
    const reason = new Error('stopped by the user');
    stop.abort(reason);
    await expect(stopped).rejects.toBe(reason);
    expect(semaphore.waiting).toBe(1);
    expect(places.get('c1')).toEqual([2, 1]);
    await release('a1');
    expect(admitted).toEqual(['a1', 'c1']);
  });

  it('refuses at once a call whose signal is already aborted', async () => {
    const { semaphore } = harness(1);
    const gone = new AbortController();
    gone.abort(new Error('gone'));
    await expect(semaphore.acquire('alice', gone.signal)).rejects.toThrow('gone');
    expect(semaphore.inUse).toBe(0);
  });

  it('with a per-principal cap, lets another principal use a free slot the capped one may not take', async () => {
    const { admitted, ask, release, semaphore } = harness(3, 1);
    await ask('alice', 'a1');
    void ask('alice', 'a2');
    await new Promise((resolve) => setImmediate(resolve));
    // A slot is free, but alice holds her one.
    expect(admitted).toEqual(['a1']);
    expect(semaphore.inUse).toBe(1);
    await ask('bob', 'b1');
    expect(admitted).toEqual(['a1', 'b1']);
    await release('a1');
    expect(admitted).toEqual(['a1', 'b1', 'a2']);
  });

  it('gives a slot back once however often its release is called', async () => {
    const { semaphore, ask } = harness(1);
    const release = await ask('alice', 'a1');
    release();
    release();
    expect(semaphore.inUse).toBe(0);
    await ask('bob', 'b1');
    void ask('carol', 'c1');
    // A second release that counted would have let carol in beside bob.
    expect(semaphore.inUse).toBe(1);
    expect(semaphore.waiting).toBe(1);
  });
});
