// Streams a run to an HTTP response as SSE or NDJSON, honouring socket backpressure and client disconnects.

import type { ServerResponse } from 'node:http';
import { finished } from 'node:stream/promises';
import { RivuletError, toRivuletError } from '../../core/errors.ts';
import { encodeEvent, type RunEvent } from '../../core/events.ts';
import type { LogEntry, RunHub, RunSink, RunSubscription } from '../../core/run-hub.ts';
import { encodeNdjsonBatch } from '../encoders/ndjson.ts';
import { createSseEncoder, formatSseComment, formatSseFrame, formatSseRetry } from '../encoders/sse.ts';

/** First TCP keep-alive probe after this much silence from the peer. */
const KEEPALIVE_PROBE_MS = 15_000;

export type StreamFormat = 'sse' | 'ndjson';

export interface StreamResponseOptions {
  hub: RunHub;
  runId: string;
  afterSeq: number;
  format: StreamFormat;
  /** Keep-alive interval, reconnect hint, and how long a reader's socket may stay full before it is dropped. */
  timing: { pingMs: number; retryMs: number; drainTimeoutMs: number };
  /** Headers already set on the Fastify reply (CORS and the like) and extras such as X-Run-Id. */
  headers: Record<string, string | number | string[] | undefined>;
}

const CONTENT_TYPES: Record<StreamFormat, string> = {
  sse: 'text/event-stream; charset=utf-8',
  ndjson: 'application/x-ndjson; charset=utf-8',
};

/** Picks NDJSON only when the client asks for it; SSE is the default. */
export function negotiateFormat(accept: string | undefined): StreamFormat {
  return accept !== undefined && accept.includes('application/x-ndjson') ? 'ndjson' : 'sse';
}

/**
 * Attaches a reader, then writes the headers at once (so the client sees the stream open before the first token)
 * and pipes the run. A run that cannot be read (gone since it was looked up, or refused with TOO_MANY_READERS) gets
 * a plain coded HTTP error instead of a stream. Resolves when the response is finished or the client went away,
 * with false when the run was never streamed; never leaves a timer or a reader behind.
 */
export async function streamRunToResponse(
  response: ServerResponse,
  options: StreamResponseOptions,
): Promise<boolean> {
  const { format, runId } = options;
  // Registered first: `finished` also settles for a response that is already closed.
  const closed = finished(response).catch(() => undefined);
  let opened = false;
  const open = (): void => {
    if (opened || response.destroyed) return;
    opened = true;
    response.writeHead(200, {
      ...options.headers,
      'content-type': CONTENT_TYPES[format],
      'cache-control': 'no-cache, no-transform',
      'x-accel-buffering': 'no',
    });
    // Stream frames go out as they are written; Nagle would hold small token frames back. Keep-alive probes let
    // the kernel notice a peer that vanished without closing (a phone that lost its network).
    response.socket?.setNoDelay(true);
    response.socket?.setKeepAlive(true, KEEPALIVE_PROBE_MS);
    if (format === 'sse') response.write(formatSseRetry(options.timing.retryMs));
    else response.flushHeaders();
  };

  const encode = format === 'sse' ? createSseEncoder(runId) : encodeNdjsonBatch;
  let subscription: RunSubscription | undefined;
  let drainTimer: NodeJS.Timeout | undefined;
  const onDrain = (): void => {
    clearTimeout(drainTimer);
    drainTimer = undefined;
    subscription?.resume();
  };

  const sink: RunSink = {
    write(entries) {
      if (response.destroyed) return false;
      // The replay can start before `subscribe` resolves.
      open();
      const accepted = response.write(encode(entries));
      if (!accepted) {
        response.once('drain', onDrain);
        // A reader that takes nothing for this long is gone or hopeless: drop it so the run's grace policy applies
        // instead of the run generating for a socket nobody reads.
        drainTimer = setTimeout(() => response.destroy(), options.timing.drainTimeoutMs);
        drainTimer.unref();
      }
      return accepted;
    },
    end() {
      open();
      response.end();
    },
  };

  let refusal: RivuletError | undefined;
  try {
    subscription = await options.hub.subscribe(runId, options.afterSeq, sink);
    // The run expired between the existence check and now.
    if (subscription === undefined) refusal = new RivuletError('RUN_NOT_FOUND');
    else if (response.destroyed) subscription.close();
  } catch (error) {
    refusal = toRivuletError(error);
  }
  if (refusal !== undefined) {
    // Before any frame the refusal is a plain HTTP error; once streaming (replay of a run that ended meanwhile) it
    // is a terminal frame, so the stream never just stops.
    if (opened) endWithError(response, format, encode, refusal);
    else refuse(response, options.headers, refusal);
    await closed;
    return false;
  }
  open();

  // SSE pings are comments; NDJSON pings are blank lines (NDJSON readers skip them). Either keeps proxies with read
  // timeouts from cutting a stream that is waiting for its first token.
  const pingFrame = format === 'sse' ? formatSseComment('ping') : '\n';
  const ping = setInterval(() => {
    if (drainTimer === undefined && !response.writableEnded) response.write(pingFrame);
  }, options.timing.pingMs);
  ping.unref();

  await closed;
  clearInterval(ping);
  clearTimeout(drainTimer);
  response.off('drain', onDrain);
  // A client that went away detaches its reader; the run's grace timer decides what happens next.
  subscription?.close();
  return true;
}

/** A coded JSON error, as the server's error handler sends it, on a response the route handed over (hijacked). */
function refuse(
  response: ServerResponse,
  headers: StreamResponseOptions['headers'],
  error: RivuletError,
): void {
  if (response.headersSent || response.destroyed) return;
  const head: StreamResponseOptions['headers'] = {
    ...headers,
    'content-type': 'application/json; charset=utf-8',
  };
  if (error.retryAfterMs !== undefined) head['retry-after'] = Math.ceil(error.retryAfterMs / 1000);
  response.writeHead(error.status, head);
  response.end(JSON.stringify({ error: { code: error.code, message: error.message } }));
}

/** Ends a stream whose run cannot be read with a terminal `error` frame, so it never just stops. */
function endWithError(
  response: ServerResponse,
  format: StreamFormat,
  encode: (entries: readonly LogEntry[]) => string,
  error: RivuletError,
): void {
  if (response.writableEnded || response.destroyed) return;
  const event: RunEvent = {
    type: 'error',
    seq: -1,
    code: error.code,
    message: error.message,
    retryable: error.retryable,
  };
  // Without a seq of the run, the frame carries no id, so a client's Last-Event-ID stays where it was.
  const frame =
    format === 'sse'
      ? formatSseFrame({ event: 'error', data: encodeEvent(event) })
      : encode([{ event, json: encodeEvent(event) }]);
  response.end(frame);
}
