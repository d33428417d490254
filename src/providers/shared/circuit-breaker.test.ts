import { describe, expect, it } from 'vitest';
import { CircuitBreaker } from './circuit-breaker.ts';

describe('CircuitBreaker', () => {
  it('opens after consecutive failures, lets one trial through after the cool-down, closes on success', () => {
    let now = 0;
    const breaker = new CircuitBreaker({ failureThreshold: 3, cooldownMs: 1000, now: () => now });
    breaker.recordFailure('a');
    breaker.recordFailure('a');
    expect(breaker.allows('a')).toBe(true);
    breaker.recordFailure('a');
    expect(breaker.isOpen('a')).toBe(true);
    expect(breaker.allows('a')).toBe(false);
    expect(breaker.allows('b')).toBe(true);
    now = 1001;
    expect(breaker.allows('a')).toBe(true);
    // Only one trial at a time while half-open.
    expect(breaker.allows('a')).toBe(false);
    breaker.recordSuccess('a');
    expect(breaker.isOpen('a')).toBe(false);
    expect(breaker.allows('a')).toBe(true);
  });

  it('reopens at once when the trial call fails', () => {
    let now = 0;
    const breaker = new CircuitBreaker({ failureThreshold: 1, cooldownMs: 100, now: () => now });
    breaker.recordFailure('a');
    now = 150;
    expect(breaker.allows('a')).toBe(true);
    breaker.recordFailure('a');
    expect(breaker.allows('a')).toBe(false);
  });

  it('a trial that never reports back does not block the provider for good', () => {
    let now = 0;
    const breaker = new CircuitBreaker({ failureThreshold: 1, cooldownMs: 100, now: () => now });
    breaker.recordFailure('a');
    now = 150;
    expect(breaker.allows('a')).toBe(true);
    // The trial was aborted: neither success nor failure is recorded. After another cool-down, a new trial.
    now = 260;
    expect(breaker.allows('a')).toBe(true);
  });

  it('a success resets the count of consecutive failures', () => {
    const breaker = new CircuitBreaker({ failureThreshold: 2, cooldownMs: 100 });
    breaker.recordFailure('a');
    breaker.recordSuccess('a');
    breaker.recordFailure('a');
    expect(breaker.isOpen('a')).toBe(false);
  });
});
