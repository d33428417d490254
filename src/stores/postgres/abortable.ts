// Runs a query that a waiting answer may give up on: the caller stops waiting as soon as the signal aborts, with the
// signal's reason (as from fetch), and the driver cancels the query on the server as far as it can. A query whose
// signal has already aborted is never sent.

interface CancellableQuery<T> extends PromiseLike<T> {
  signal(signal: AbortSignal | null | undefined): PromiseLike<T>;
}

export function abortable<T>(query: CancellableQuery<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return Promise.resolve(query);
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  // The driver's own cancellation is not enough to stop waiting: it leaves a query it is still describing (parsing
  // waits for locks too) to finish that first, and a cancel request can take seconds to land.
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    query.signal(signal).then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(signal.aborted ? (signal.reason as Error) : (error as Error));
      },
    );
  });
}
