// The messages a worker of `rivulet serve --workers N` and its primary exchange over the cluster's IPC channel.

import type { MetricObjectWithValues, MetricValue } from 'prom-client';

/** A worker asks the primary for every worker's metrics (it got GET /metrics). */
export interface MetricsRequest {
  type: 'rivulet:metrics-request';
  id: number;
}

/** The primary's answer: the Prometheus text of all workers together, or why it could not gather it. */
export type MetricsReply =
  | { type: 'rivulet:metrics-reply'; id: number; body: string }
  | { type: 'rivulet:metrics-reply'; id: number; error: string };

/** The primary asks one worker for its own figures. */
export interface MetricsGather {
  type: 'rivulet:metrics-gather';
  id: number;
}

/** A worker's own figures (prom-client's JSON form, which AggregatorRegistry.aggregate merges). */
export type WorkerMetrics = MetricObjectWithValues<MetricValue<string>>[];

export type MetricsPart =
  | { type: 'rivulet:metrics-part'; id: number; metrics: WorkerMetrics }
  | { type: 'rivulet:metrics-part'; id: number; error: string };

function isMessage(message: unknown, type: string): message is { type: string; id: number } {
  return (
    typeof message === 'object' &&
    message !== null &&
    (message as { type?: unknown }).type === type &&
    typeof (message as { id?: unknown }).id === 'number'
  );
}

export const isMetricsRequest = (message: unknown): message is MetricsRequest =>
  isMessage(message, 'rivulet:metrics-request');
export const isMetricsReply = (message: unknown): message is MetricsReply =>
  isMessage(message, 'rivulet:metrics-reply');
export const isMetricsGather = (message: unknown): message is MetricsGather =>
  isMessage(message, 'rivulet:metrics-gather');
export const isMetricsPart = (message: unknown): message is MetricsPart =>
  isMessage(message, 'rivulet:metrics-part');

/** The environment variable the primary gives each worker its index in (0 to N-1; a replacement keeps it). */
export const WORKER_INDEX_VARIABLE = 'RIVULET_WORKER_INDEX';
