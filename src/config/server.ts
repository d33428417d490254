// Server, logs and observability: where Rivulet listens, how it logs, how it stops, what it reports.

import { availableParallelism } from 'node:os';
import { z } from 'zod';
import { booleanText, caseless, integer } from './fields.ts';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
/** `auto`: readable lines on a terminal, JSON lines otherwise (a file, a pipe, journald, a log shipper). */
export const LOG_FORMATS = ['auto', 'json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/** A whole number of processes, at least 1, or `auto`: one per core this process may use. */
function workerCount() {
  return z
    .string()
    .optional()
    .transform((value, context) => {
      const text = (value ?? '').trim().toLowerCase();
      if (text === '') return 1;
      if (text === 'auto') return availableParallelism();
      const count = Number(text);
      if (Number.isInteger(count) && count >= 1) return count;
      context.addIssue({ code: 'custom', message: 'expected a whole number of at least 1, or auto' });
      return z.NEVER;
    });
}

export const serverSchema = z.object({
  HOST: z.string().default('127.0.0.1'),
  PORT: integer(3000).pipe(z.number().max(65_535)),
  // Any case: seed 004 writes LOG_LEVEL=DEBUG.
  LOG_LEVEL: caseless(LOG_LEVELS, 'info'),
  LOG_FORMAT: caseless(LOG_FORMATS, 'auto'),
  SHUTDOWN_GRACE_MS: integer(25_000),
  METRICS_ENABLED: booleanText(true),
  TRACING: booleanText(false),
  WORKERS: workerCount(),
});
export type ServerValues = z.infer<typeof serverSchema>;

export interface ServerSettings {
  host: ServerValues['HOST'];
  port: ServerValues['PORT'];
  logLevel: LogLevel;
  /** How log lines are written (LOG_FORMAT); `auto` is resolved against stdout when the logger is made. */
  logFormat: LogFormat;
  /** How long a graceful shutdown lets running answers finish before cutting them. */
  shutdownGraceMs: number;
  /** Serve Prometheus metrics on GET /metrics. */
  metricsEnabled: boolean;
  /** Report OpenTelemetry spans (to the SDK the process registers). */
  tracing: boolean;
  /**
   * Processes serving on the same port (`rivulet serve --workers N`): above 1, a primary forks that many workers with
   * node:cluster (src/cluster/).
   */
  workers: number;
}

export function resolveServer(values: ServerValues): ServerSettings {
  return {
    host: values.HOST,
    port: values.PORT,
    logLevel: values.LOG_LEVEL,
    logFormat: values.LOG_FORMAT,
    shutdownGraceMs: values.SHUTDOWN_GRACE_MS,
    metricsEnabled: values.METRICS_ENABLED,
    tracing: values.TRACING,
    workers: values.WORKERS,
  };
}
