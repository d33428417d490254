// SIGTERM and SIGINT as a server reads them: the first asks for a graceful stop, a second one cuts at once.

/** A repeat of the first shutdown signal within this long is ignored (see onShutdownSignals). */
const REPEAT_SIGNAL_MS = 1000;

export interface ShutdownHandlers {
  /** The first SIGTERM or SIGINT: stop gracefully. */
  first(signal: NodeJS.Signals): void;
  /** Another one while stopping: stop waiting for running answers. */
  again(signal: NodeJS.Signals): void;
}

export function onShutdownSignals(handlers: ShutdownHandlers): void {
  let firstSignal: { signal: NodeJS.Signals; at: number } | undefined;
  const received = (signal: NodeJS.Signals): void => {
    if (firstSignal === undefined) {
      firstSignal = { signal, at: performance.now() };
      handlers.first(signal);
      return;
    }
    // One Ctrl-C under `npm start` can arrive twice (from the terminal's process group and from npm), and a worker
    // of `--workers N` gets the terminal's and the one its primary passes on: a repeat of the same signal within a
    // second is that echo, not a second request.
    if (signal === firstSignal.signal && performance.now() - firstSignal.at < REPEAT_SIGNAL_MS) return;
    handlers.again(signal);
  };
  process.on('SIGINT', () => received('SIGINT'));
  process.on('SIGTERM', () => received('SIGTERM'));
}
