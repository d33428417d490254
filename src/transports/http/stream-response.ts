// Streams a run to an HTTP response in a wire format (SSE, NDJSON, ...), compressed when the settings and the client
// allow it, honouring socket backpressure and client disconnects.

import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Writable } from 'node:stream';
import { RivuletError, toRivuletError } from '../../core/errors.ts';
import { isTerminal } from '../../core/events.ts';
import type { RunHub, RunSink, RunSubscription } from '../../core/run-hub.ts';
import { ndjsonFormat } from '../encoders/ndjson.ts';
import { sseFormat } from '../encoders/sse.ts';
import type { StreamEncoder, WireFormat } from '../encoders/wire-format.ts';
import type { AppContext } from './context.ts';
import type { StreamCompression } from './stream-compression.ts';

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
  /** What STREAM_COMPRESSION allows, and the client's Accept-Encoding header. */
  compression: { policy: StreamCompression; acceptEncoding: string | string[] | undefined };
}

/** Picks NDJSON only when the client asks for it; SSE is the default. */
export function negotiateFormat(accept: string | undefined): WireFormat {
  return accept !== undefined && accept.includes('application/x-ndjson') ? ndjsonFormat : sseFormat;
}

/** The compression a route's stream may use: what the settings allow and what this client accepts. */
export function streamCompressionFor(
  context: Pick<AppContext, 'streamCompression'>,
  request: { headers: IncomingHttpHeaders },
): StreamResponseOptions['compression'] {
  return { policy: context.streamCompression, acceptEncoding: request.headers['accept-encoding'] };
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
  const { policy } = options.compression;
  const encoding = policy.choose(options.compression.acceptEncoding);
  const closed = closedOf(response);
  // Where frames go: the response, or a compressor in front of it once the stream is open. Either way each write is
  // one hub batch (what a turn appended, or after the first token what a write interval gathered) and leaves at once:
  // the compressor flushes every write, so a token never waits inside it.
  let out: Writable = response;
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
    // Every header is in this call (the routes pass reply.getHeaders(), the security headers included): with the
    // response's own table emptied first, Node writes them without copying them all into that table for the life of
    // the response (about 2 KB per held stream).
    forgetSetHeaders(response);
    response.writeHead(200, {
      ...options.headers,
      'content-type': format.contentType,
      'cache-control': 'no-cache, no-transform',
      'x-accel-buffering': 'no',
      ...(policy.varies ? { vary: withVary(options.headers.vary, 'Accept-Encoding') } : {}),
      ...(encoding === undefined ? {} : { 'content-encoding': encoding }),
    });
    // Stream frames go out as they are written; Nagle would hold small token frames back. Keep-alive probes let
    // the kernel notice a peer that vanished without closing (a phone that lost its network).
    response.socket?.setNoDelay(true);
    response.socket?.setKeepAlive(true, KEEPALIVE_PROBE_MS);
    if (encoding !== undefined) out = policy.compressInto(encoding, response);
    if (encoder.head === '') response.flushHeaders();
    else out.write(encoder.head);
    shedHead(response);
    // The head has gone to the socket (or is queued there, in order): what follows can be written to it directly.
    chunkSocket = directChunkSocket(response, out);
  };
  // Set once the stream is open when frames can skip `response.write` (see writeChunk).
  let chunkSocket: Socket | undefined;

  let subscription: RunSubscription | undefined;
  let drainTimer: NodeJS.Timeout | undefined;
  const onDrain = (): void => {
    clearTimeout(drainTimer);
    drainTimer = undefined;
    subscription?.resume();
  };

  // After the first token, a batch that does not end in a token (the last tokens with the generate phase's end and
  // the usage after them, or those alone, or the ending) waits in the corked socket for what follows: the ending, when
  // the answer's store lands by the end of the next event-loop turn (always on SQLite), leaves with it and the
  // stream's last chunk in one write instead of two or three. A batch ending in a token or the stream's end sends
  // everything at once; nothing waits here past the next turn (the hub's write interval comes before this).
  let tokenSent = false;
  let holding = false;
  const release = (): void => {
    if (!holding) return;
    holding = false;
    response.socket?.uncork();
  };

  const sink: RunSink = {
    write(entries) {
      if (response.destroyed) return false;
      // The replay can start before `subscribe` resolves.
      open();
      const frames = encoder.encode(entries);
      // Nothing of this batch has a frame in this format: an empty write would still cost a compressor flush.
      if (frames === '') return true;
      let token = false;
      for (const { event } of entries) {
        if (event.type === 'token') {
          token = true;
          break;
        }
      }
      if (token) tokenSent = true;
      const endsInToken = token && entries[entries.length - 1]?.event.type === 'token';
      const ending = !endsInToken && isTerminal(entries[entries.length - 1]!.event);
      if ((ending || (tokenSent && !endsInToken)) && !holding && response.socket !== null) {
        holding = true;
        response.socket.cork();
        setImmediate(release);
      }
      const accepted = writeFrames(response, out, chunkSocket, frames);
      // The ending's write stays held for end(), which follows at once: the chunked stream's last chunk joins it.
      if (endsInToken) release();
      if (!accepted) {
        (chunkSocket ?? out).once('drain', onDrain);
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
      if (trailer === '') out.end();
      else out.end(trailer);
      release();
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
    if (opened) endWithError(response, out, encoder, refusal);
    else refuse(response, format, options.headers, refusal);
    await closed;
    return false;
  }
  open();

  // Keeps proxies with read timeouts from cutting a stream that is waiting for its first token.
  const pingFrame = encoder.keepAlive;
  const ping = setInterval(() => {
    if (drainTimer === undefined && !out.writableEnded) writeFrames(response, out, chunkSocket, pingFrame);
  }, options.timing.pingMs);
  ping.unref();

  await closed;
  clearInterval(ping);
  clearTimeout(drainTimer);
  out.off('drain', onDrain);
  chunkSocket?.off('drain', onDrain);
  // A client that went away detaches its reader; the run's grace timer decides what happens next.
  subscription?.close();
  return true;
}

/**
 * Settles once the response is done with: sent and closed, or its connection gone (a response emits `close` either
 * way, once). One listener, the promise's own resolve: `finished()` registered about ten, each a closure, and `once`
 * adds a wrapper and its state, all kept for the life of the stream.
 */
function closedOf(response: ServerResponse): Promise<void> {
  if (response.closed) return Promise.resolve();
  return new Promise((resolve) => response.on('close', resolve));
}

/** Node's per-response header table (set by setHeader), found once; undefined if this Node keeps it elsewhere. */
let outHeadersKey: symbol | undefined | null = null;

/**
 * Drops the headers set on the response with setHeader, so that writeHead takes its own argument as the whole head
 * instead of merging it into the table (which the response then keeps until it ends). Only for a caller whose
 * writeHead carries those headers itself; a Node without the table as a symbol property is left as it is.
 */
function forgetSetHeaders(response: ServerResponse): void {
  if (outHeadersKey === null) {
    outHeadersKey = Object.getOwnPropertySymbols(response).find((key) => key.description === 'kOutHeaders');
  }
  if (outHeadersKey !== undefined) (response as unknown as Record<symbol, unknown>)[outHeadersKey] = null;
}

/** What a stream's response keeps as its head once the head has gone to the socket (see shedHead). */
const SENT_HEAD = 'HTTP/1.1 (sent)\r\n\r\n';

/**
 * Node keeps a response's head (`_header`) until the response ends: about 1.1 KB of header text per held stream.
 * Once the head has been handed to the socket (`_headerSent`), Node reads `_header` only to know there is one
 * (`headersSent`, and the checks refusing a second head or a late header), so the text is let go. A head not sent yet
 * (a compressor in front, which writes it with its first output) is kept, flattened: Node builds it by appending each
 * header line, a tree of about 70 string pieces (2.5 KB for 1 KB of text) that reading a character of it makes V8
 * flatten in place. The bytes sent are the same either way.
 */
function shedHead(response: ServerResponse): void {
  const outgoing = response as unknown as { _header?: unknown; _headerSent?: unknown };
  if (typeof outgoing._header !== 'string') return;
  if (outgoing._headerSent === true) outgoing._header = SENT_HEAD;
  else outgoing._header.charCodeAt(0);
}

/**
 * The socket a stream's frames can be written to directly, as HTTP/1.1 chunks: a chunked response (not HTTP/1.0, not
 * HEAD, whose responses are not chunked) with no compressor in front, holding its socket (so Node writes the
 * response's own bytes straight to it too: the head before, the last chunk after). Undefined otherwise.
 */
function directChunkSocket(response: ServerResponse, out: Writable): Socket | undefined {
  const socket = response.socket;
  if (out !== response || !response.chunkedEncoding || socket === null || socket.destroyed) return undefined;
  return socket;
}

/** Writes frames to the socket as a chunk where the stream can (see directChunkSocket), through `out` otherwise. */
function writeFrames(
  response: ServerResponse,
  out: Writable,
  chunkSocket: Socket | undefined,
  frames: string,
): boolean {
  return chunkSocket !== undefined && !response.writableEnded
    ? writeChunk(chunkSocket, frames)
    : out.write(frames);
}

/**
 * Writes frames as one HTTP/1.1 chunk, size line and CRLF included, in one socket write. `response.write` makes it
 * three writes to a socket it corks until the next tick, then one writev of the three pieces: 4.9 µs of CPU per frame
 * against 3.4 µs for this, 64 paced streams measured side by side. Returns false when the socket's buffer is full
 * (wait for its `drain`), like `write`.
 */
function writeChunk(socket: Socket, frames: string): boolean {
  if (socket.destroyed) return false;
  return socket.write(`${Buffer.byteLength(frames).toString(16)}\r\n${frames}\r\n`);
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
function endWithError(
  response: ServerResponse,
  out: Writable,
  encoder: StreamEncoder,
  error: RivuletError,
): void {
  if (out.writableEnded || response.destroyed) return;
  out.end(encoder.errorFrame(error));
}

/** A `Vary` header value with `field` added to what is already there (CORS sets `Vary: Origin`). */
function withVary(existing: string | number | string[] | undefined, field: string): string {
  const fields = (Array.isArray(existing) ? existing.join(',') : String(existing ?? ''))
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name !== '');
  const present = fields.some((name) => name === '*' || name.toLowerCase() === field.toLowerCase());
  return (present ? fields : [...fields, field]).join(', ');
}
