// The primary process of `rivulet serve --workers N`: migrates the database once, forks N workers that each run the
// whole server on the one port (node:cluster shares the listening socket), replaces a worker that exits unexpectedly,
// passes SIGTERM/SIGINT on so each worker drains, and gathers every worker's metrics for /metrics. It serves no HTTP.

import cluster, { type Worker } from 'node:cluster';
import type { Config } from '../config.ts';
import type { Logger } from '../core/logger.ts';
import { migrateStores } from '../stores/open-stores.ts';
import { ClusterMetrics } from './cluster-metrics.ts';
import { isMetricsRequest, WORKER_INDEX_VARIABLE, type MetricsReply } from './messages.ts';
import { RestartPolicy } from './restart-policy.ts';

export interface Primary {
  /** Resolves with the URL once every worker listens; rejects when one exits before it does. */
  readonly ready: Promise<string>;
  /** Resolves with the exit code once every worker has exited (after stop, a failed start or too many crashes). */
  readonly exited: Promise<number>;
  /** Graceful stop: `signal` goes to every worker, each drains as a single server does; no worker is replaced. */
  stop(signal: NodeJS.Signals): void;
  /** A second signal: passed on too, so each worker cuts its running answers at once. */
  cut(signal: NodeJS.Signals): void;
}

type Phase = 'starting' | 'serving' | 'stopping';

export async function startPrimary(config: Config, logger: Logger): Promise<Primary> {
  // Once, here: workers start on a migrated database instead of racing to migrate it.
  const schema = await migrateStores(config, true);
  if (schema.to !== schema.from) {
    logger.info({ location: schema.location, from: schema.from, to: schema.to }, 'database migrated');
  }

  const count = config.workers;
  const metrics = new ClusterMetrics();
  const policy = new RestartPolicy();
  /** Live workers by cluster id, with their index. */
  const live = new Map<number, { worker: Worker; index: number; listening: boolean }>();
  const pendingRestarts = new Set<NodeJS.Timeout>();
  let phase: Phase = 'starting';
  let exitCode = 0;
  let url = '';

  let resolveReady: (url: string) => void = () => undefined;
  let rejectReady: (error: Error) => void = () => undefined;
  const ready = new Promise<string>((resolve, reject) => {
    resolveReady = resolve;
    rejectReady = reject;
  });
  // A failed start is reported through `ready`; `exited` still says when the others are gone.
  ready.catch(() => undefined);
  let resolveExited: (code: number) => void = () => undefined;
  const exited = new Promise<number>((resolve) => (resolveExited = resolve));

  const listening = (): Worker[] =>
    [...live.values()].filter((entry) => entry.listening).map((e) => e.worker);

  const answerMetrics = (worker: Worker, id: number): void => {
    metrics.render(listening()).then(
      (body) => reply(worker, { type: 'rivulet:metrics-reply', id, body }),
      (error: unknown) => {
        logger.warn({ err: error }, 'gathering the workers’ metrics failed');
        reply(worker, { type: 'rivulet:metrics-reply', id, error: String(error) });
      },
    );
  };
  const reply = (worker: Worker, message: MetricsReply): void => {
    if (worker.isConnected()) worker.send(message, undefined, () => undefined);
  };

  const fork = (index: number): void => {
    const worker = cluster.fork({ [WORKER_INDEX_VARIABLE]: String(index) });
    live.set(worker.id, { worker, index, listening: false });
    worker.on('message', (message: unknown) => {
      if (isMetricsRequest(message)) answerMetrics(worker, message.id);
    });
  };

  const stop = (signal: NodeJS.Signals): void => {
    if (phase === 'stopping') return;
    phase = 'stopping';
    for (const timer of pendingRestarts) clearTimeout(timer);
    pendingRestarts.clear();
    logger.info({ signal, workers: live.size }, 'stopping: every worker finishes its running answers');
    for (const { worker } of live.values()) worker.process.kill(signal);
    if (live.size === 0) resolveExited(exitCode);
  };

  cluster.on('listening', (worker, address) => {
    const entry = live.get(worker.id);
    if (entry === undefined) return;
    entry.listening = true;
    metrics.setWorkers(listening().length);
    logger.info({ worker: entry.index, pid: worker.process.pid }, `worker ${entry.index} listening`);
    if (phase !== 'starting') return;
    // Worker 0 alone first: it does what a first start does once (the default chatbot, the sample guide), which
    // the SQLite file has no lock for. The others start once it listens.
    if (entry.index === 0) {
      const host = address.address.includes(':') ? `[${address.address}]` : address.address;
      url = `http://${host}:${address.port}`;
      for (let index = 1; index < count; index += 1) fork(index);
    }
    if (listening().length === count) {
      phase = 'serving';
      resolveReady(url);
    }
  });

  cluster.on('exit', (worker, code, signal) => {
    const entry = live.get(worker.id);
    if (entry === undefined) return;
    live.delete(worker.id);
    metrics.setWorkers(listening().length);
    const how = signal === null ? `code ${code}` : `signal ${signal}`;
    switch (phase) {
      case 'stopping':
        if (code !== 0 && signal === null) {
          exitCode = 1;
          logger.error(
            { worker: entry.index, code },
            `worker ${entry.index} exited with ${how} while stopping`,
          );
        }
        if (live.size === 0) resolveExited(exitCode);
        return;
      case 'starting':
        exitCode = 1;
        rejectReady(new Error(`worker ${entry.index} exited (${how}) before it listened`));
        stop('SIGTERM');
        return;
      case 'serving': {
        const decision = policy.crashed(performance.now());
        if (!decision.restart) {
          exitCode = 1;
          logger.error(
            { worker: entry.index, crashes: decision.crashes },
            `workers exited unexpectedly ${decision.crashes} times within a minute: stopping instead of restarting them`,
          );
          stop('SIGTERM');
          return;
        }
        logger.warn(
          { worker: entry.index, code, signal, restartInMs: decision.delayMs },
          `worker ${entry.index} exited unexpectedly (${how}): starting a new one`,
        );
        const timer = setTimeout(() => {
          pendingRestarts.delete(timer);
          metrics.restarted();
          fork(entry.index);
        }, decision.delayMs);
        pendingRestarts.add(timer);
        return;
      }
      default: {
        const unreachable: never = phase;
        throw new Error(`unknown phase ${String(unreachable)}`);
      }
    }
  });

  fork(0);
  return {
    ready,
    exited,
    stop,
    cut(signal) {
      logger.warn({ signal }, 'second signal: every worker cuts its running answers now');
      for (const { worker } of live.values()) worker.process.kill(signal);
    },
  };
}
