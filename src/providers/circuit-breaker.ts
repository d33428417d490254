// Skips a provider that keeps failing: open after N consecutive failures, one trial call after a cool-down.

export interface CircuitBreakerOptions {
  /** Consecutive failures that open the circuit. */
  failureThreshold: number;
  /** How long an open circuit refuses calls before letting one trial through. */
  cooldownMs: number;
  now?: () => number;
}

interface CircuitState {
  failures: number;
  openedAt: number | null;
  trialInFlight: boolean;
}

export class CircuitBreaker {
  private readonly options: CircuitBreakerOptions;
  private readonly states = new Map<string, CircuitState>();
  private readonly now: () => number;

  constructor(options: CircuitBreakerOptions) {
    this.options = options;
    this.now = options.now ?? Date.now;
  }

  /** Whether a call may go to this provider now (an open circuit lets one trial through after the cool-down). */
  allows(key: string): boolean {
    const state = this.states.get(key);
    if (state?.openedAt === null || state === undefined) return true;
    if (this.now() - state.openedAt < this.options.cooldownMs || state.trialInFlight) return false;
    state.trialInFlight = true;
    return true;
  }

  recordSuccess(key: string): void {
    this.states.delete(key);
  }

  recordFailure(key: string): void {
    const state = this.states.get(key) ?? { failures: 0, openedAt: null, trialInFlight: false };
    state.failures += 1;
    state.trialInFlight = false;
    if (state.openedAt !== null || state.failures >= this.options.failureThreshold)
      state.openedAt = this.now();
    this.states.set(key, state);
  }

  isOpen(key: string): boolean {
    const openedAt = this.states.get(key)?.openedAt;
    return openedAt !== undefined && openedAt !== null && this.now() - openedAt < this.options.cooldownMs;
  }
}
