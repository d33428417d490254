// Maps what a provider's HTTP endpoint does wrong (status codes, socket faults, timeouts) to coded errors.

import { RivuletError, type ErrorCode } from '../../core/errors.ts';
import { upstreamExcerpt } from '../../core/redact.ts';

/** Upstream error bodies are for logs only, and only this much of them. */
const MAX_DETAIL_CHARS = 500;

/**
 * Providers sometimes echo credentials in error bodies ("Incorrect API key provided: sk-abc...xyz"): anything that
 * looks like a key or token is masked (before the body is cut, so half a key is masked too).
 */
export function errorForStatus(status: number, body: string, retryAfter: string | undefined): RivuletError {
  const detail = `upstream HTTP ${status}: ${upstreamExcerpt(body, MAX_DETAIL_CHARS)}`;
  return new RivuletError(codeForStatus(status), { detail, retryAfterMs: parseRetryAfter(retryAfter) });
}

function codeForStatus(status: number): ErrorCode {
  if (status === 429) return 'UPSTREAM_RATE_LIMITED';
  if (status === 401 || status === 403) return 'UPSTREAM_AUTH_FAILED';
  if (status === 408) return 'UPSTREAM_TIMEOUT';
  if (status === 409 || status >= 500) return 'UPSTREAM_UNAVAILABLE';
  return 'UPSTREAM_BAD_REQUEST';
}

/** Retry-After is either delta-seconds or an HTTP date. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/**
 * A transport-level failure. `receiving` is true once response headers arrived: a socket fault then means the
 * answer was cut short (UPSTREAM_DROPPED) rather than never started (UPSTREAM_UNAVAILABLE).
 */
export function errorForNetworkFailure(error: unknown, receiving: boolean): RivuletError {
  const code = (error as { code?: unknown } | undefined)?.code;
  const label = typeof code === 'string' ? code : error instanceof Error ? error.name : 'Error';
  // A socket error names the URL it failed on, and a base URL may carry a key in its query string.
  const detail = upstreamExcerpt(error instanceof Error ? `${label}: ${error.message}` : String(error), 500);
  if (code === 'UND_ERR_BODY_TIMEOUT') return new RivuletError('UPSTREAM_STALLED', { detail, cause: error });
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT') {
    return new RivuletError('UPSTREAM_TIMEOUT', { detail, cause: error });
  }
  return new RivuletError(receiving ? 'UPSTREAM_DROPPED' : 'UPSTREAM_UNAVAILABLE', { detail, cause: error });
}
