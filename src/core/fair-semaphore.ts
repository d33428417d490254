// A counting semaphore whose waiters take turns by principal: the waiting principal served least recently goes next,
// so one principal with twenty queued calls cannot starve another's one. Optional cap on slots per principal.

/** Gives a slot back; calling it again does nothing. */
export type ReleaseSlot = () => void;

export interface FairSemaphoreOptions {
  /** Slots in all (at least 1). */
  limit: number;
  /** Slots one principal may hold at once; 0: no cap beyond `limit`. */
  perPrincipalLimit?: number;
}

interface Waiter {
  readonly principal: string;
  /** Arrival order, for ties between principals never served. */
  readonly seq: number;
  readonly onPosition: (position: number) => void;
  readonly admit: (release: ReleaseSlot) => void;
  /** Its place as last computed, and as last told to onPosition (0: not yet). */
  position: number;
  told: number;
  /** Admitted, or gone with its signal. */
  settled: boolean;
}

interface PrincipalState {
  readonly waiting: Waiter[];
  active: number;
  /** The admission count when this principal was last given a slot; -1: never (while it had calls here). */
  lastTurn: number;
}

export class FairSemaphore {
  private readonly limit: number;
  private readonly perPrincipalLimit: number;
  private readonly principals = new Map<string, PrincipalState>();
  private active = 0;
  private waitingCount = 0;
  private turns = 0;
  private arrivals = 0;

  constructor(options: FairSemaphoreOptions) {
    if (!Number.isInteger(options.limit) || options.limit < 1)
      throw new Error('a semaphore needs at least one slot');
    this.limit = options.limit;
    this.perPrincipalLimit = options.perPrincipalLimit ?? 0;
  }

  /** Calls holding a slot. */
  get inUse(): number {
    return this.active;
  }

  /** Calls waiting for a slot. */
  get waiting(): number {
    return this.waitingCount;
  }

  /**
   * Resolves with a release once `principal` holds a slot. Until then the call waits its turn and `onPosition` hears
   * its place (1: next) whenever it changes; it is not called for a call admitted at once. Aborting `signal` while
   * waiting leaves the queue at once and rejects with the signal's reason.
   */
  acquire(
    principal: string,
    signal: AbortSignal,
    onPosition: (position: number) => void = () => {},
  ): Promise<ReleaseSlot> {
    if (signal.aborted) return Promise.reject(signal.reason as Error);
    return new Promise<ReleaseSlot>((resolve, reject) => {
      const state = this.stateOf(principal);
      const onAbort = (): void => {
        const index = state.waiting.indexOf(waiter);
        if (index < 0) return;
        waiter.settled = true;
        state.waiting.splice(index, 1);
        this.waitingCount -= 1;
        this.forgetIfIdle(principal, state);
        reject(signal.reason as Error);
        // Whoever was behind moved up; a per-principal cap may also have let someone else through.
        this.dispatch();
      };
      const waiter: Waiter = {
        principal,
        seq: (this.arrivals += 1),
        onPosition,
        position: 0,
        told: 0,
        settled: false,
        admit: (release) => {
          waiter.settled = true;
          signal.removeEventListener('abort', onAbort);
          resolve(release);
        },
      };
      signal.addEventListener('abort', onAbort, { once: true });
      state.waiting.push(waiter);
      this.waitingCount += 1;
      this.dispatch();
    });
  }

  private stateOf(principal: string): PrincipalState {
    let state = this.principals.get(principal);
    if (state === undefined) {
      state = { waiting: [], active: 0, lastTurn: -1 };
      this.principals.set(principal, state);
    }
    return state;
  }

  /** A principal with nothing running and nothing waiting is forgotten (its turn history with it). */
  private forgetIfIdle(principal: string, state: PrincipalState): void {
    if (state.active === 0 && state.waiting.length === 0) this.principals.delete(principal);
  }

  private eligible(state: PrincipalState): boolean {
    return (
      state.waiting.length > 0 && (this.perPrincipalLimit === 0 || state.active < this.perPrincipalLimit)
    );
  }

  /** Who goes first: never served before served, then least recently served, then earliest arrival. */
  private static before(a: PrincipalState, b: PrincipalState): boolean {
    if (a.lastTurn !== b.lastTurn) return a.lastTurn < b.lastTurn;
    return (a.waiting[0]?.seq ?? Infinity) < (b.waiting[0]?.seq ?? Infinity);
  }

  /** Admits waiters while slots are free, then tells the rest their new places. */
  private dispatch(): void {
    while (this.active < this.limit) {
      let next: { principal: string; state: PrincipalState } | undefined;
      for (const [principal, state] of this.principals) {
        if (this.eligible(state) && (next === undefined || FairSemaphore.before(state, next.state)))
          next = { principal, state };
      }
      if (next === undefined) break;
      const waiter = next.state.waiting.shift()!;
      this.waitingCount -= 1;
      this.active += 1;
      next.state.active += 1;
      next.state.lastTurn = this.turns;
      this.turns += 1;
      waiter.admit(this.releaser(next.principal, next.state));
    }
    this.tellPositions();
  }

  private releaser(principal: string, state: PrincipalState): ReleaseSlot {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.active -= 1;
      state.active -= 1;
      this.forgetIfIdle(principal, state);
      this.dispatch();
    };
  }

  /**
   * The order the waiters would be admitted in if nothing else arrived: principals in turn order, one call each per
   * round (what dispatch does, since a principal served goes to the back). Per-principal caps are not simulated: a
   * capped principal's calls may wait longer than their place says.
   */
  private tellPositions(): void {
    if (this.waitingCount === 0) return;
    const queues = [...this.principals.values()]
      .filter((state) => state.waiting.length > 0)
      .sort((a, b) => (FairSemaphore.before(a, b) ? -1 : FairSemaphore.before(b, a) ? 1 : 0))
      .map((state) => state.waiting);
    const moved: Waiter[] = [];
    let position = 0;
    for (let round = 0; position < this.waitingCount; round += 1) {
      for (const queue of queues) {
        const waiter = queue[round];
        if (waiter === undefined) continue;
        position += 1;
        if (waiter.position !== position) {
          waiter.position = position;
          moved.push(waiter);
        }
      }
    }
    // Told after the walk, so a listener that stops its run (re-entering here) cannot disturb it; a waiter gone or
    // already told its place meanwhile is skipped.
    for (const waiter of moved) {
      if (waiter.settled || waiter.told === waiter.position) continue;
      waiter.told = waiter.position;
      waiter.onPosition(waiter.position);
    }
  }
}
