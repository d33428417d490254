// Keeps the calling callback running for a while, so the event loop counts that wall time as busy (what a server
// under load looks like to performance.eventLoopUtilization), without timers or I/O.

/** Runs for `ms` of wall time and returns. */
export function keepLoopBusy(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // busy
  }
}
