import { describe, expect, it } from 'vitest';
import { RestartPolicy } from './restart-policy.ts';

describe('RestartPolicy', () => {
  it('replaces a lone crash at once, backs off as crashes pile up, and gives up past the cap per minute', () => {
    const policy = new RestartPolicy({ maxCrashes: 3, windowMs: 60_000 });
    expect(policy.crashed(0)).toEqual({ restart: true, delayMs: 100 });
    expect(policy.crashed(1_000)).toEqual({ restart: true, delayMs: 200 });
    expect(policy.crashed(2_000)).toEqual({ restart: true, delayMs: 400 });
    expect(policy.crashed(3_000)).toEqual({ restart: false, crashes: 4 });
  });

  it('forgets crashes older than the window', () => {
    const policy = new RestartPolicy({ maxCrashes: 2, windowMs: 60_000 });
    policy.crashed(0);
    policy.crashed(10_000);
    // The first two are over a minute old: this one is a lone crash again.
    expect(policy.crashed(75_000)).toEqual({ restart: true, delayMs: 100 });
  });

  it('never waits more than 5 s', () => {
    const policy = new RestartPolicy({ maxCrashes: 100 });
    let decision = policy.crashed(0);
    for (let crash = 1; crash < 20; crash += 1) decision = policy.crashed(crash);
    expect(decision).toEqual({ restart: true, delayMs: 5_000 });
  });
});
