// The HTTP plumbing every provider adapter shares: a POST with the run's signal, coded errors, bounded reads.

import type { Readable } from 'node:stream';
import { request, type Dispatcher } from 'undici';
import { RivuletError } from '../../core/errors.ts';
import { upstreamExcerpt } from '../../core/redact.ts';
import { errorForNetworkFailure, errorForStatus } from './upstream-errors.ts';

export type ResponseBody = Dispatcher.ResponseData['body'];

/** Error bodies are read for the log, up to this much. */
const MAX_ERROR_BODY_BYTES = 16 * 1024;
/** A non-streaming answer larger than this is not an answer. */
const MAX_JSON_BODY_BYTES = 32 * 1024 * 1024;

export interface ProviderRequest {
  url: string;
  headers: Record<string, string>;
  body: unknown;
  signal: AbortSignal;
  dispatcher: Dispatcher;
  /** No bytes for this long (before headers, or between body chunks) fails the call. */
  stallMs: number;
}

/** Provider URLs parsed once: they come from the configuration, and undici parsed the string again on every call. */
const parsedUrls = new Map<string, URL>();
const MAX_PARSED_URLS = 64;

function parsedUrl(url: string): URL {
  let parsed = parsedUrls.get(url);
  if (parsed === undefined) {
    parsed = new URL(url);
    if (parsedUrls.size >= MAX_PARSED_URLS) parsedUrls.clear();
    parsedUrls.set(url, parsed);
  }
  return parsed;
}

/**
 * A request body undici forgets once it is written. undici keeps a string or Buffer body until the response ends
 * (a string twice: as given and as its Buffer copy), and a Buffer under 4 KB pins the whole 8 KB pool slab it was cut
 * from: the grounded prompt, passages included, held for every stream as long as it is answered. An iterable is read
 * once; with the content-length header undici sends it as it would the Buffer (no chunked encoding).
 */
function sentOnce(body: Buffer): Iterable<Buffer> {
  let pending: Buffer | undefined = body;
  return {
    *[Symbol.iterator]() {
      const chunk = pending;
      pending = undefined;
      if (chunk !== undefined) yield chunk;
    },
  };
}

/**
 * POSTs JSON and returns the body of a 2xx response. Anything else becomes a coded error: network faults are
 * UPSTREAM_UNAVAILABLE / UPSTREAM_TIMEOUT, statuses map through errorForStatus (with Retry-After), and an abort
 * rethrows the signal's reason.
 */
export async function postToProvider(options: ProviderRequest): Promise<ResponseBody> {
  let response: Dispatcher.ResponseData;
  try {
    const body = Buffer.from(JSON.stringify(options.body));
    response = await request(parsedUrl(options.url), {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...options.headers,
        'content-length': String(body.byteLength),
      },
      // undici's API doc lists Iterable bodies (docs/api/Dispatcher.md, DispatchOptions.body); its types do not.
      body: sentOnce(body) as unknown as Readable,
      signal: options.signal,
      dispatcher: options.dispatcher,
      headersTimeout: options.stallMs,
      bodyTimeout: options.stallMs,
    });
  } catch (error) {
    options.signal.throwIfAborted();
    throw errorForNetworkFailure(error, false);
  }
  if (response.statusCode < 200 || response.statusCode >= 300) {
    const text = await readBounded(response.body, MAX_ERROR_BODY_BYTES);
    const retryAfter = response.headers['retry-after'];
    throw errorForStatus(response.statusCode, text, Array.isArray(retryAfter) ? retryAfter[0] : retryAfter);
  }
  return response.body;
}

/** Reads a whole JSON response (non-streaming calls); a cut body is UPSTREAM_DROPPED, bad JSON UPSTREAM_BAD_RESPONSE. */
export async function readJson(body: ResponseBody, signal: AbortSignal): Promise<unknown> {
  let text: string;
  try {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of body) {
      const buffer = chunk as Buffer;
      size += buffer.length;
      if (size > MAX_JSON_BODY_BYTES) {
        body.destroy();
        throw new RivuletError('UPSTREAM_BAD_RESPONSE', { detail: 'response body too large' });
      }
      chunks.push(buffer);
    }
    text = Buffer.concat(chunks).toString('utf8');
  } catch (error) {
    signal.throwIfAborted();
    if (error instanceof RivuletError) throw error;
    throw errorForNetworkFailure(error, true);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new RivuletError('UPSTREAM_BAD_RESPONSE', {
      detail: `unparseable JSON body: ${upstreamExcerpt(text)}`,
    });
  }
}

export async function readBounded(body: ResponseBody, maxBytes: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of body) {
      const buffer = chunk as Buffer;
      chunks.push(buffer);
      size += buffer.length;
      if (size >= maxBytes) break;
    }
  } catch {
    // The error body is only for the log; a broken one is not worth failing differently.
  }
  body.destroy();
  return Buffer.concat(chunks).toString('utf8').slice(0, maxBytes);
}
