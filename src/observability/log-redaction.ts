// The last line of defence against secrets in logs: every line the app writes (its own, Fastify's request logs,
// errors with their causes) goes through here. Request URLs lose their query-string credentials (`?access_token=`,
// `?key=`: accepted or not, they were sent), and strings anywhere in a line, error messages, details and stacks
// included, are masked where they look like a key, a token or a password (src/core/redact.ts).

import type { FastifyRequest } from 'fastify';
import pino, { type Logger } from 'pino';
import { maskCredentials, redactUrl } from '../core/redact.ts';

/** Plain data is walked this deep; deeper values are logged as they are (log fields are shallow). */
const MAX_DEPTH = 6;

function isPlain(value: object): boolean {
  const prototype = Object.getPrototypeOf(value) as unknown;
  return prototype === Object.prototype || prototype === null || Array.isArray(value);
}

/** Strings masked, plain objects and arrays walked; anything else (a request, an Error) is left to its serializer. */
export function maskValue(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return maskCredentials(value);
  if (typeof value !== 'object' || value === null || depth >= MAX_DEPTH || !isPlain(value)) return value;
  if (Array.isArray(value)) return value.map((item) => maskValue(item, depth + 1));
  const masked: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) masked[key] = maskValue(item, depth + 1);
  return masked;
}

/** Fastify's request serializer, with the URL's credentials masked. */
function serializeRequest(request: FastifyRequest): Record<string, unknown> {
  return {
    method: request.method,
    url: redactUrl(request.url),
    version: request.headers['accept-version'],
    // The Host header itself: request.host would take X-Forwarded-Host from a trusted proxy (or, with a hop count
    // in TRUST_PROXY, from anyone), and only X-Forwarded-For is meant to be believed.
    host: request.headers.host,
    remoteAddress: request.ip,
    remotePort: request.socket.remotePort,
  };
}

function serializeError(error: unknown): unknown {
  return maskValue(pino.stdSerializers.err(error as Error));
}

/**
 * A child of `logger` that masks credentials in every line it and its children (Fastify's request loggers) write.
 * Messages are not masked: they are fixed text; what varies goes in fields.
 */
export function redactingLogger(logger: Logger): Logger {
  return logger.child(
    {},
    {
      formatters: { log: (fields) => maskValue(fields) as Record<string, unknown> },
      serializers: { req: serializeRequest, err: serializeError },
    },
  );
}
