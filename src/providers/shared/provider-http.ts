// The HTTP plumbing every provider adapter shares: a call with the run's signal, coded errors, bounded reads.

import { getGlobalDispatcher, type Dispatcher } from 'undici';
import { RivuletError } from '../../core/errors.ts';
import { upstreamExcerpt } from '../../core/redact.ts';
import { errorForNetworkFailure, errorForStatus } from './upstream-errors.ts';

/** Error bodies are read for the log, up to this much. */
const MAX_ERROR_BODY_BYTES = 16 * 1024;
/** A non-streaming answer larger than this is not an answer. */
const MAX_JSON_BODY_BYTES = 32 * 1024 * 1024;

export interface ProviderRequest {
  url: string;
  /** POST (the default) sends `body` as JSON; GET sends nothing. */
  method?: 'GET' | 'POST';
  headers: Record<string, string>;
  body?: unknown;
  signal: AbortSignal;
  /** undici's global dispatcher when absent. */
  dispatcher?: Dispatcher;
  /** No bytes for this long (before headers, or between body chunks) fails the call. */
  stallMs: number;
}

/**
 * What a call does with the body of a 2xx response, chunk by chunk as undici's parser hands them over (no body
 * stream in between). Throwing from any of these fails the call with that error (a RivuletError, ideally) and closes
 * the connection.
 */
export interface BodyReader<T> {
  /**
   * A chunk of the body. True once the answer is complete: the call resolves at once (with undefined: only readers
   * of void return true) and the rest of the body is read and dropped.
   */
  data(chunk: Buffer): boolean;
  /** The body ended: the call's result. */
  end(): T;
  /** The connection broke or stalled during the body (`error` is what that means, coded): the result, or throw. */
  broken(error: RivuletError): T;
}

interface ParsedUrl {
  origin: string;
  path: string;
}

/** Provider URLs parsed once: they come from the configuration. */
const parsedUrls = new Map<string, ParsedUrl>();
const MAX_PARSED_URLS = 64;

function parsedUrl(url: string): ParsedUrl {
  let parsed = parsedUrls.get(url);
  if (parsed === undefined) {
    const { origin, pathname, search } = new URL(url);
    parsed = { origin, path: `${pathname}${search}` };
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
class SentOnce implements Iterable<Buffer> {
  #pending: Buffer | undefined;

  constructor(body: Buffer) {
    this.#pending = body;
  }

  // A method of the class, not of an object literal: a generator written in a literal was a new function (with a
  // prototype object of its own, in dictionary form) per call, kept with the request for the life of the stream.
  *[Symbol.iterator](): Iterator<Buffer> {
    const chunk = this.#pending;
    this.#pending = undefined;
    if (chunk !== undefined) yield chunk;
  }
}

/**
 * Calls a provider and hands the body of a 2xx response to `reader`. Anything else becomes a coded error: network
 * faults are UPSTREAM_UNAVAILABLE / UPSTREAM_TIMEOUT (UPSTREAM_DROPPED / UPSTREAM_STALLED once the body started,
 * unless the reader says the answer is whole), statuses map through errorForStatus (with Retry-After), and an abort
 * rejects with the signal's reason and closes the connection.
 */
export function callProvider<T>(options: ProviderRequest, reader: BodyReader<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const { signal } = options;
    if (signal.aborted) {
      reject(signal.reason as Error);
      return;
    }
    const call = new ProviderCall(signal, reader, resolve, reject);
    try {
      const { origin, path } = parsedUrl(options.url);
      let headers = options.headers;
      let body: Iterable<Buffer> | undefined;
      if (options.method !== 'GET') {
        const json = Buffer.from(JSON.stringify(options.body));
        headers = {
          'content-type': 'application/json',
          ...headers,
          'content-length': String(json.byteLength),
        };
        body = new SentOnce(json);
      }
      (options.dispatcher ?? getGlobalDispatcher()).dispatch(
        {
          origin,
          path,
          method: options.method ?? 'POST',
          headers,
          // undici's API doc lists Iterable bodies (docs/api/Dispatcher.md, DispatchOptions.body); its types do not.
          body: body as unknown as Buffer | undefined,
          headersTimeout: options.stallMs,
          bodyTimeout: options.stallMs,
        },
        call,
      );
    } catch (error) {
      // A URL or body that cannot be sent: the call never started.
      call.onResponseError(undefined, error as Error);
    }
  });
}

/**
 * One call's undici dispatch handler: body chunks go from the HTTP parser to the reader in the same call, where
 * `request()` pushed them into a Readable that emitted them to a 'data' listener. Nothing ever pauses the upstream
 * (nor did the Readable, flowing): callers keep what they need in their run's log.
 */
class ProviderCall<T> implements Dispatcher.DispatchHandler {
  private controller: Dispatcher.DispatchController | undefined;
  private settled = false;
  /** The status of a non-2xx response whose body is being read for the log; 0 before headers and for a 2xx. */
  private errorStatus = 0;
  private errorRetryAfter: string | undefined;
  private errorChunks: Buffer[] | undefined;
  private errorBytes = 0;
  private receiving = false;
  private readonly signal: AbortSignal;
  private readonly reader: BodyReader<T>;
  private readonly resolve: (value: T) => void;
  private readonly reject: (error: unknown) => void;

  constructor(
    signal: AbortSignal,
    reader: BodyReader<T>,
    resolve: (value: T) => void,
    reject: (error: unknown) => void,
  ) {
    this.signal = signal;
    this.reader = reader;
    this.resolve = resolve;
    this.reject = reject;
    signal.addEventListener('abort', this.onAbort);
  }

  // Each failure settles the call before it aborts the request: undici reports the abort to onResponseError at once.
  private readonly onAbort = (): void => {
    this.fail(this.signal.reason);
    this.controller?.abort(this.signal.reason as Error);
  };

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    // Aborted while queued for a connection.
    if (this.signal.aborted) controller.abort(this.signal.reason as Error);
  }

  onResponseStart(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: Record<string, string | string[] | undefined>,
  ): void {
    // undici's controller keeps the raw header Buffers (for interceptors, none here) as long as the response lasts:
    // about 1.6 KB a held stream. What this call needs of them is read here.
    controller.rawHeaders = null;
    if (statusCode < 200) return;
    if (statusCode < 300) {
      this.receiving = true;
      return;
    }
    this.errorStatus = statusCode;
    const retryAfter = headers['retry-after'];
    this.errorRetryAfter = Array.isArray(retryAfter) ? retryAfter[0] : retryAfter;
    this.errorChunks = [];
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.settled) return;
    if (this.errorChunks !== undefined) {
      this.errorChunks.push(chunk);
      this.errorBytes += chunk.length;
      if (this.errorBytes >= MAX_ERROR_BODY_BYTES) {
        this.failForStatus();
        controller.abort(new Error('enough of the error body read'));
      }
      return;
    }
    let complete: boolean;
    try {
      complete = this.reader.data(chunk);
    } catch (error) {
      this.fail(error);
      controller.abort(error instanceof Error ? error : new Error(String(error)));
      return;
    }
    if (complete) this.succeed(undefined as T);
  }

  onResponseEnd(): void {
    this.done();
    if (this.settled) return;
    if (this.errorChunks !== undefined) {
      this.failForStatus();
      return;
    }
    this.settle(() => this.reader.end());
  }

  onResponseError(_controller: Dispatcher.DispatchController | undefined, error: Error): void {
    this.done();
    if (this.settled) return;
    if (this.signal.aborted) {
      this.fail(this.signal.reason);
    } else if (this.errorChunks !== undefined) {
      // The error body is only for the log; a broken one is not worth failing differently.
      this.failForStatus();
    } else if (this.receiving) {
      const coded = errorForNetworkFailure(error, true);
      this.settle(() => this.reader.broken(coded));
    } else {
      this.fail(errorForNetworkFailure(error, false));
    }
  }

  /** The response is over: the signal no longer concerns it. */
  private done(): void {
    this.signal.removeEventListener('abort', this.onAbort);
  }

  private failForStatus(): void {
    const text = Buffer.concat(this.errorChunks!).toString('utf8').slice(0, MAX_ERROR_BODY_BYTES);
    this.errorChunks = undefined;
    this.fail(errorForStatus(this.errorStatus, text, this.errorRetryAfter));
  }

  private settle(result: () => T): void {
    let value: T;
    try {
      value = result();
    } catch (error) {
      this.fail(error);
      return;
    }
    this.succeed(value);
  }

  private succeed(value: T): void {
    if (this.settled) return;
    this.settled = true;
    this.resolve(value);
  }

  private fail(error: unknown): void {
    if (this.settled) return;
    this.settled = true;
    this.reject(error);
  }
}

/** A whole JSON response (non-streaming calls); a cut body is UPSTREAM_DROPPED, bad JSON UPSTREAM_BAD_RESPONSE. */
export function requestJson(options: ProviderRequest): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  return callProvider(options, {
    data(chunk) {
      size += chunk.length;
      if (size > MAX_JSON_BODY_BYTES) {
        throw new RivuletError('UPSTREAM_BAD_RESPONSE', { detail: 'response body too large' });
      }
      chunks.push(chunk);
      return false;
    },
    end() {
      const text = Buffer.concat(chunks).toString('utf8');
      try {
        return JSON.parse(text) as unknown;
      } catch {
        throw new RivuletError('UPSTREAM_BAD_RESPONSE', {
          detail: `unparseable JSON body: ${upstreamExcerpt(text)}`,
        });
      }
    },
    broken(error) {
      throw error;
    },
  });
}
