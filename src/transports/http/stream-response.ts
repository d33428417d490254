// Streams a run to an HTTP response in a wire format (SSE, NDJSON, ...), honouring socket backpressure and client
// disconnects.

import type { ServerResponse } from 'node:http';
import { finished } from 'node:stream/promises';
import { RivuletError, toRivuletError } from '../../core/errors.ts';
import type { RunHub, RunSink, RunSubscription } from '../../core/run-hub.ts';
import { ndjsonFormat } from '../encoders/ndjson.ts';
import { sseFormat } from '../encoders/sse.ts';
import type { StreamEncoder, WireFormat } from '../encoders/wire-format.ts';

/** First TCP keep-alive probe after this much silence from the peer. */
const KEEPALIVE_PROBE_MS = 15_000;

export interface StreamResponseOptions {
  hub: RunHub;
  runId: string;
  afterSeq: number;
  format: WireFormat;
  /** Keep-alive interval, reconnect hint, and how long a reader's socket may stay full before it is dropped. */
  timing: { pingMs: number; retryMs: number; drainTimeoutMs: number };
  /** Headers already set on the Fastify reply (CORS and the like) and extras such as X-Run-Id. */
  headers: Record<string, string | number | string[] | undefined>;
}

/** Picks NDJSON only when the client asks for it; SSE is the default. */
export function negotiateFormat(accept: string | undefined): WireFormat {
  return accept !== undefined && accept.includes('application/x-ndjson') ? ndjsonFormat : sseFormat;
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
  const encoder = format.createEncoder({ runId, retryMs: options.timing.retryMs });
  // Registered first: `finished` also settles for a response that is already closed.
  const closed = finished(response).catch(() => undefined);
  let opened = false;
  const open = (): void => {
    if (opened || response.destroyed) return;
    opened = true;
    // The headers, the head and the first events go out in one write at the end of this event-loop turn: a new
    // answer's first events reach its reader then (the hub delivers the burst before the first token at the turn's
    // end), and otherwise the headers would leave alone in a write of their own. The socket is corked, not the
    // response: uncorking a response sends its buffered chunk piece by piece after uncorking the socket.
    const socket = response.socket;
    socket?.cork();
    setImmediate(() => socket?.uncork());
    response.writeHead(200, {
      ...options.headers,
      'content-type': format.contentType,
      'cache-control': 'no-cache, no-transform',
      'x-accel-buffering': 'no',
    });
    // Stream frames go out as they are written; Nagle would hold small token frames back. Keep-alive probes let
    // the kernel notice a peer that vanished without closing (a phone that lost its network).
    response.socket?.setNoDelay(true);
    response.socket?.setKeepAlive(true, KEEPALIVE_PROBE_MS);
    if (encoder.head === '') response.flushHeaders();
    else response.write(encoder.head);
  };

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
      const accepted = response.write(encoder.encode(entries));
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
      const trailer = encoder.trailer();
      if (trailer === '') response.end();
      else response.end(trailer);
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
    if (opened) endWithError(response, encoder, refusal);
    else refuse(response, format, options.headers, refusal);
    await closed;
    return false;
  }
  open();

  // Keeps proxies with read timeouts from cutting a stream that is waiting for its first token.
  const pingFrame = encoder.keepAlive;
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

/** A JSON error in the format's shape, on a response the route handed over (hijacked). */
function refuse(
  response: ServerResponse,
  format: WireFormat,
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
  response.end(JSON.stringify(format.refusalBody(error)));
}

/** Ends a stream whose run cannot be read with the format's terminal error frame, so it never just stops. */
function endWithError(response: ServerResponse, encoder: StreamEncoder, error: RivuletError): void {
  if (response.writableEnded || response.destroyed) return;
  response.end(encoder.errorFrame(error));
}
