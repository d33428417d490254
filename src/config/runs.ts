// Runs and streaming: how long an answer may run and be resumed, what it may hold, where runs are shared between
// instances (Redis), and how SSE and WebSocket keep their connections alive.

import { z } from 'zod';
import type { DisconnectPolicy } from '../core/run-hub.ts';
import { caseless, integer, optionalText } from './fields.ts';

const DISCONNECT_POLICIES = ['abort', 'finish'] as const satisfies readonly DisconnectPolicy[];

/**
 * Compression of streamed answers (SSE, NDJSON, OpenAI chunks, the AI SDK UI stream): `off`, only `gzip`, only `br`
 * (brotli), or `auto` (whichever of the two the client prefers; gzip on a tie).
 */
export const STREAM_COMPRESSION_SETTINGS = ['off', 'gzip', 'br', 'auto'] as const;
export type StreamCompressionSetting = (typeof STREAM_COMPRESSION_SETTINGS)[number];

export const runsSchema = z.object({
  RUN_GRACE_MS: integer(30_000),
  RUN_DISCONNECT_POLICY: z.enum(DISCONNECT_POLICIES).default('abort'),
  RUN_RETENTION_MS: integer(300_000),
  RUN_MAX_DURATION_MS: integer(300_000, 1),
  RUN_MAX_EVENTS: integer(100_000, 16),
  RUN_MAX_BYTES: integer(16 * 1024 * 1024, 4096),
  RUN_RETAINED_MAX_BYTES: integer(256 * 1024 * 1024, 4096),
  RUN_CHECKPOINT_MS: integer(1000),
  RUN_MAX_READERS: integer(64, 1),
  MAX_READERS: integer(2048, 1),
  REDIS_URL: optionalText.pipe(
    z
      .string()
      .refine((value) => /^rediss?:\/\//i.test(value), { message: 'expected a redis:// or rediss:// URL' })
      .optional(),
  ),
  REDIS_KEY_PREFIX: z
    .string()
    .trim()
    .regex(/^[A-Za-z0-9_.:-]+$/, 'letters, digits and _ . : - only')
    .default('rivulet'),
  SSE_PING_MS: integer(15_000, 10),
  SSE_RETRY_MS: integer(2_000),
  SSE_DRAIN_TIMEOUT_MS: integer(30_000, 100),
  STREAM_COMPRESSION: caseless(STREAM_COMPRESSION_SETTINGS, 'off'),
  STREAM_WRITE_INTERVAL_MS: integer(30).pipe(z.number().max(1000)),
  WS_PING_MS: integer(30_000, 10),
});
export type RunsValues = z.infer<typeof runsSchema>;

export interface RunSettings {
  run: {
    graceMs: number;
    disconnectPolicy: DisconnectPolicy;
    retentionMs: number;
    maxDurationMs: number;
    maxEvents: number;
    maxBytes: number;
    retainedMaxBytes: number;
    /**
     * How often a streaming answer's text so far is saved, so a crash (SIGKILL, OOM kill, power loss) keeps it as an
     * interrupted answer; 0: only when the answer ends.
     */
    checkpointMs: number;
    /** Readers one run may have at once (TOO_MANY_READERS beyond); applies in every auth mode. */
    maxReadersPerRun: number;
    /** Readers of all runs in this process (TOO_MANY_READERS beyond); applies in every auth mode. */
    maxReaders: number;
    /** Redis for the run hub: when set, any instance can resume, follow and stop any run (src/stores/redis/). */
    redisUrl: string | undefined;
    /** Prefix of every Redis key (runs and shared limits): instances that share them share it. */
    redisKeyPrefix: string;
  };
  /**
   * After an answer's first token, each of its streams is written at most this often: the events in between leave
   * together, each still its own frame (0: at the end of every event-loop turn). See MemoryRunHubOptions.
   */
  writeIntervalMs: number;
  sse: { pingMs: number; retryMs: number; drainTimeoutMs: number };
  /**
   * Which compressions streamed answers may use when the client accepts them (STREAM_COMPRESSION); off by default
   * because a proxy in front may buffer or compress again unless it is configured for it (docs/deploy.md).
   */
  streamCompression: StreamCompressionSetting;
  ws: { pingMs: number };
}

export function resolveRuns(values: RunsValues): RunSettings {
  return {
    run: {
      graceMs: values.RUN_GRACE_MS,
      disconnectPolicy: values.RUN_DISCONNECT_POLICY,
      retentionMs: values.RUN_RETENTION_MS,
      maxDurationMs: values.RUN_MAX_DURATION_MS,
      maxEvents: values.RUN_MAX_EVENTS,
      maxBytes: values.RUN_MAX_BYTES,
      retainedMaxBytes: values.RUN_RETAINED_MAX_BYTES,
      checkpointMs: values.RUN_CHECKPOINT_MS,
      maxReadersPerRun: values.RUN_MAX_READERS,
      maxReaders: values.MAX_READERS,
      redisUrl: values.REDIS_URL,
      redisKeyPrefix: values.REDIS_KEY_PREFIX,
    },
    writeIntervalMs: values.STREAM_WRITE_INTERVAL_MS,
    sse: {
      pingMs: values.SSE_PING_MS,
      retryMs: values.SSE_RETRY_MS,
      drainTimeoutMs: values.SSE_DRAIN_TIMEOUT_MS,
    },
    streamCompression: values.STREAM_COMPRESSION,
    ws: { pingMs: values.WS_PING_MS },
  };
}
