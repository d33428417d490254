// Helmet's security headers on every answer, worked out once. @fastify/helmet built Helmet's middleware again on
// every request (re-parsing the content security policy each time); the headers depend on the options alone, so they
// are recorded once at startup and replayed per request, byte for byte the same.

import type { FastifyInstance } from 'fastify';
import helmet, { type HelmetOptions } from 'helmet';
import type { IncomingMessage, ServerResponse } from 'node:http';

/** The app's page may load only its own scripts and talk only to its server. */
const HELMET_OPTIONS: HelmetOptions = {
  contentSecurityPolicy: {
    directives: {
      defaultSrc: ["'self'"],
      scriptSrc: ["'self'"],
      // Preact sets style attributes (chart colours, the widget's accent).
      styleSrc: ["'self'", "'unsafe-inline'"],
      imgSrc: ["'self'", 'data:'],
      connectSrc: ["'self'"],
      frameAncestors: ["'none'"],
      objectSrc: ["'none'"],
      baseUri: ["'self'"],
      formAction: ["'self'"],
    },
  },
  // The API is called from other sites (the widget) with CORS; CORP only governs no-cors loads.
  crossOriginResourcePolicy: { policy: 'same-site' },
};

type HeaderValue = Parameters<ServerResponse['setHeader']>[1];
/** A header Helmet sets, or (value undefined) one it removes, in Helmet's order. */
type HeaderStep = readonly [name: string, value: HeaderValue | undefined];

/**
 * What Helmet's middleware does to a response with these options, recorded. Only static options can be recorded:
 * a directive computed per request (a function, e.g. a nonce) is refused.
 */
export function recordHelmetHeaders(options: HelmetOptions): readonly HeaderStep[] {
  const steps: HeaderStep[] = [];
  const recorder = {
    setHeader(name: string, value: HeaderValue) {
      steps.push([name, value]);
      return recorder;
    },
    removeHeader(name: string) {
      steps.push([name, undefined]);
    },
  };
  const request = new Proxy({} as IncomingMessage, {
    get() {
      throw new Error('security headers that depend on the request cannot be computed once');
    },
  });
  helmet(options)(request, recorder as unknown as ServerResponse, (error) => {
    if (error !== undefined) throw new Error('Helmet refused the security header options', { cause: error });
  });
  return steps;
}

/** Sets the security headers on every response (the first headers it gets, as Helmet's plugin did). */
export function registerSecurityHeaders(server: FastifyInstance): void {
  const steps = recordHelmetHeaders(HELMET_OPTIONS);
  server.addHook('onRequest', (_request, reply, done) => {
    const raw = reply.raw;
    for (const [name, value] of steps) {
      if (value === undefined) raw.removeHeader(name);
      else raw.setHeader(name, value);
    }
    done();
  });
}
