// A worker's side of /metrics under `rivulet serve --workers N`: it hands its own figures to the primary when the
// primary gathers, and GET /metrics on any worker serves every worker's figures together, asked of the primary.

import type { Registry } from 'prom-client';
import { RivuletError } from '../core/errors.ts';
import {
  isMetricsGather,
  isMetricsReply,
  type MetricsPart,
  type MetricsReply,
  type MetricsRequest,
} from './messages.ts';

/**
 * How long a worker waits for the primary's answer: above the primary's own wait for each worker (GATHER_TIMEOUT_MS
 * in cluster-metrics.ts), so a worker that does not answer the primary shows as the primary's error.
 */
export const METRICS_REPLY_TIMEOUT_MS = 7_000;

export interface MetricsSource {
  readonly contentType: string;
  render(): Promise<string>;
}

/** Sends over the IPC channel; a closed channel (the primary is gone) is the callback's error, not the process's. */
function sendToPrimary(message: MetricsRequest | MetricsPart, onError: (error: Error) => void): void {
  if (process.send === undefined) {
    onError(new Error('not a cluster worker'));
    return;
  }
  process.send(message, undefined, undefined, (error: Error | null) => {
    if (error !== null) onError(error);
  });
}

/** Answers the primary's gathering with `registry`'s figures, for as long as the process lives. */
function reportTo(registry: Registry): void {
  process.on('message', (message: unknown) => {
    if (!isMetricsGather(message)) return;
    const { id } = message;
    registry.getMetricsAsJSON().then(
      (metrics) => sendToPrimary({ type: 'rivulet:metrics-part', id, metrics }, () => undefined),
      (error: unknown) =>
        sendToPrimary({ type: 'rivulet:metrics-part', id, error: String(error) }, () => undefined),
    );
  });
}

/** Reports `registry` when the primary gathers, and renders the whole cluster's figures through the primary. */
export function clusterMetricsSource(
  registry: Registry,
  timeoutMs = METRICS_REPLY_TIMEOUT_MS,
): MetricsSource {
  reportTo(registry);
  let nextId = 0;
  return {
    contentType: registry.contentType,
    render() {
      const id = (nextId += 1);
      return new Promise<string>((resolve, reject) => {
        const fail = (detail: string): void => {
          cleanup();
          reject(new RivuletError('METRICS_UNAVAILABLE', { detail }));
        };
        const onMessage = (message: unknown): void => {
          if (!isMetricsReply(message) || message.id !== id) return;
          const reply: MetricsReply = message;
          if ('body' in reply) {
            cleanup();
            resolve(reply.body);
          } else {
            fail(reply.error);
          }
        };
        const timer = setTimeout(() => fail(`the primary did not answer within ${timeoutMs} ms`), timeoutMs);
        const cleanup = (): void => {
          clearTimeout(timer);
          process.off('message', onMessage);
        };
        process.on('message', onMessage);
        sendToPrimary({ type: 'rivulet:metrics-request', id }, (error) => fail(error.message));
      });
    },
  };
}
