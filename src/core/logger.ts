// The logging surface the core needs; pino satisfies it.

import { AsyncLocalStorage } from 'node:async_hooks';

export interface Logger {
  /**
   * What an operator debugging a slow or failed answer needs (LOG_LEVEL=debug): provider calls and their timings,
   * retries, failovers, circuit breaker changes, resumes, answer cache decisions. Never secrets or prompts.
   * Optional so that a minimal logger (a test's) need not have it.
   */
  debug?(fields: Record<string, unknown>, message: string): void;
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
  error(fields: Record<string, unknown>, message: string): void;
  /** Whether lines of `level` are written (pino's); a logger without it writes every level it has. */
  isLevelEnabled?(level: string): boolean;
}

/** Whether a line of `level` would be written: one that would not is not worth building (per answer, at least). */
export function writesLevel(logger: Logger, level: 'debug' | 'info'): boolean {
  if (level === 'debug' && logger.debug === undefined) return false;
  return logger.isLevelEnabled?.(level) ?? true;
}

const logContext = new AsyncLocalStorage<Readonly<Record<string, unknown>>>();

/**
 * Names the work that follows in this async flow (an answer's run id) for log lines written by code that is not told
 * (a provider call deep in a fallback chain). Call it after the first `await` of the flow it names, so that the
 * caller's own flow is left as it was.
 */
export function enterLogContext(fields: Readonly<Record<string, unknown>>): void {
  logContext.enterWith(fields);
}

/** The fields named by enterLogContext for this async flow; empty outside one. */
export function logContextFields(): Readonly<Record<string, unknown>> {
  return logContext.getStore() ?? {};
}
