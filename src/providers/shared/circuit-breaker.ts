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
  /** When the circuit opened, or when the last trial call was let through. */
  openedAt: number | null;
}

export class CircuitBreaker {
  private readonly options: CircuitBreakerOptions;
  private readonly states = new Map<string, CircuitState>();
  private readonly now: () => number;

  constructor(options: CircuitBreakerOptions) {
    this.options = options;
    this.now = options.now ?? Date.now;
  }

  /**
   * Whether a call may go to this provider now. After the cool-down an open circuit lets one trial through and
   * re-arms the cool-down, so a trial that never reports back (aborted by the user, say) cannot block it forever.
   */
  allows(key: string): boolean {
    const state = this.states.get(key);
    if (state === undefined || state.openedAt === null) return true;
    if (this.now() - state.openedAt < this.options.cooldownMs) return false;
    state.openedAt = this.now();
    return true;
  }

  recordSuccess(key: string): void {
    this.states.delete(key);
  }

  recordFailure(key: string): void {
    const state = this.states.get(key) ?? { failures: 0, openedAt: null };
    state.failures += 1;
    if (state.openedAt !== null || state.failures >= this.options.failureThreshold)
      state.openedAt = this.now();
    this.states.set(key, state);
  }

  /** For logs: closed (calls go through), open (refused until the cool-down ends), half-open (a trial may go). */
  state(key: string): 'closed' | 'open' | 'half-open' {
    const openedAt = this.states.get(key)?.openedAt;
    if (openedAt === undefined || openedAt === null) return 'closed';
    return this.now() - openedAt < this.options.cooldownMs ? 'open' : 'half-open';
  }

  isOpen(key: string): boolean {
    return this.state(key) === 'open';
  }
}
