// The primary's side of /metrics under `rivulet serve --workers N`: gathers every listening worker's figures and
// merges them with prom-client's AggregatorRegistry (counters and histograms summed bucket by bucket; gauges as each
// declares: summed by default, event loop lag averaged, its min and max kept), plus the primary's own figures.

import type { Worker } from 'node:cluster';
import { AggregatorRegistry, Counter, Gauge, Registry } from 'prom-client';
import { isMetricsPart, type MetricsGather, type WorkerMetrics } from './messages.ts';

/** How long the primary waits for each worker's figures. */
export const GATHER_TIMEOUT_MS = 5_000;

export class ClusterMetrics {
  readonly #own = new Registry();
  readonly #workers: Gauge;
  readonly #restarts: Counter;
  #nextId = 0;

  constructor() {
    this.#workers = new Gauge({
      name: 'rivulet_workers',
      help: 'Workers serving (rivulet serve --workers N), as the primary counts them.',
      registers: [this.#own],
    });
    this.#restarts = new Counter({
      name: 'rivulet_worker_restarts_total',
      help: 'Workers the primary started in place of one that exited unexpectedly.',
      registers: [this.#own],
    });
  }

  setWorkers(count: number): void {
    this.#workers.set(count);
  }

  restarted(): void {
    this.#restarts.inc();
  }

  /** Every worker's figures merged, then the primary's own; rejects when a worker does not answer in time. */
  async render(workers: readonly Worker[]): Promise<string> {
    const parts = await Promise.all(workers.map((worker) => this.#gather(worker)));
    const merged = AggregatorRegistry.aggregate(parts);
    return (await merged.metrics()) + (await this.#own.metrics());
  }

  #gather(worker: Worker): Promise<WorkerMetrics> {
    const id = (this.#nextId += 1);
    return new Promise((resolve, reject) => {
      const onMessage = (message: unknown): void => {
        if (!isMetricsPart(message) || message.id !== id) return;
        cleanup();
        if ('metrics' in message) resolve(message.metrics);
        else reject(new Error(`worker ${worker.id} could not read its metrics: ${message.error}`));
      };
      const onExit = (): void => {
        cleanup();
        reject(new Error(`worker ${worker.id} exited while its metrics were gathered`));
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`worker ${worker.id} did not send its metrics within ${GATHER_TIMEOUT_MS} ms`));
      }, GATHER_TIMEOUT_MS);
      const cleanup = (): void => {
        clearTimeout(timer);
        worker.off('message', onMessage);
        worker.off('exit', onExit);
      };
      worker.on('message', onMessage);
      worker.once('exit', onExit);
      const request: MetricsGather = { type: 'rivulet:metrics-gather', id };
      worker.send(request, undefined, (error: Error | null) => {
        if (error !== null) {
          cleanup();
          reject(error);
        }
      });
    });
  }
}
