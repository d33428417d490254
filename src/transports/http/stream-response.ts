// Streams a run to an HTTP response as SSE or NDJSON, honouring socket backpressure and client disconnects.

import type { ServerResponse } from 'node:http';
import type { RunHub, RunSink, RunSubscription } from '../../core/run-hub.ts';
import { encodeNdjsonBatch } from '../encoders/ndjson.ts';
import { createSseEncoder, formatSseComment, formatSseRetry } from '../encoders/sse.ts';

export type StreamFormat = 'sse' | 'ndjson';

export interface StreamResponseOptions {
  hub: RunHub;
  runId: string;
  afterSeq: number;
  format: StreamFormat;
  pingMs: number;
  retryMs: number;
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
 * Writes the headers at once (so the client sees the stream open before the first token), then pipes the run.
 * Resolves when the response is finished or the client went away.
 */
export async function streamRunToResponse(
  response: ServerResponse,
  options: StreamResponseOptions,
): Promise<void> {
  const { format, runId } = options;
  response.writeHead(200, {
    ...options.headers,
    'content-type': CONTENT_TYPES[format],
    'cache-control': 'no-cache, no-transform',
    'x-accel-buffering': 'no',
  });
  // Stream frames go out as they are written; Nagle would hold small token frames back.
  response.socket?.setNoDelay(true);
  if (format === 'sse') response.write(formatSseRetry(options.retryMs));
  else response.flushHeaders();

  const encode = format === 'sse' ? createSseEncoder(runId) : encodeNdjsonBatch;

  let subscription: RunSubscription | undefined;
  let waitingForDrain = false;
  const onDrain = (): void => {
    waitingForDrain = false;
    subscription?.resume();
  };

  const done = new Promise<void>((resolve) => {
    response.once('close', resolve);
  });

  const sink: RunSink = {
    write(entries) {
      if (response.destroyed) return false;
      const accepted = response.write(encode(entries));
      if (!accepted) {
        waitingForDrain = true;
        response.once('drain', onDrain);
      }
      return accepted;
    },
    end() {
      response.end();
    },
  };

  const ping =
    format === 'sse'
      ? setInterval(() => {
          if (!waitingForDrain && !response.writableEnded) response.write(formatSseComment('ping'));
        }, options.pingMs)
      : undefined;
  ping?.unref();

  subscription = await options.hub.subscribe(runId, options.afterSeq, sink);
  if (subscription === undefined) {
    // The run expired between the existence check and now: say so in-band, the status is already sent.
    response.end();
  } else if (response.destroyed) {
    subscription.close();
  }

  await done;
  clearInterval(ping);
  response.off('drain', onDrain);
  // A client that went away detaches its reader; the run's grace timer decides what happens next.
  subscription?.close();
}
