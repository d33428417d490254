// Auth and request limits in front of every API route: the principal is found once per request (onRequest), then
// requests per minute are counted per IP address and per principal (request-limits.ts, shared with WebSocket messages). Public routes
// (the app's files, /healthz, /readyz, /api/config) need neither.

import type { FastifyInstance, FastifyRequest } from 'fastify';
import { RivuletError, toRivuletError } from '../../core/errors.ts';
import type { Principal } from '../../core/principal.ts';
import { isLoopbackHost, type Config } from '../../config.ts';
import type { RequestLimits } from '../request-limits.ts';
import type { OriginPolicy } from './origins.ts';
import { bearerToken, tokenFromProtocols, type Authenticator, type Credentials } from '../auth.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** Who the request acts for; set on API routes before any handler runs. */
    principal: Principal | undefined;
    /**
     * WebSocket upgrades only: the credentials were refused. The socket is accepted and closed with 1008, since a
     * browser sees nothing of a refused upgrade.
     */
    authFailure: RivuletError | undefined;
    /** The credentials the request came with (a WebSocket re-checks them for each answer it asks for). */
    credentials: Credentials | undefined;
  }
}

const PUBLIC_API = new Set(['/api/config']);
const READ_ONLY_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Routes that act for a principal: the API, the OpenAI-compatible API, and the metrics. */
function isProtected(path: string): boolean {
  if (PUBLIC_API.has(path)) return false;
  return path.startsWith('/api/') || path.startsWith('/v1/') || path === '/metrics';
}

/** The host name of a Host header: `127.0.0.1:3000` → `127.0.0.1`, `[::1]:3000` → `::1`. */
function hostnameOf(host: string): string {
  const bracket = /^\[([^\]]+)\]/.exec(host);
  if (bracket !== null) return bracket[1] ?? '';
  return host.replace(/:\d*$/, '');
}

/**
 * The route a request reached (its pattern, `/api/runs/:runId/events`), or its raw path when none matched. The
 * pattern, because the router decodes the path: `/%61pi/ws` reaches `/api/ws`, and must be protected like it.
 */
const pathOf = (request: FastifyRequest): string => {
  const route = request.routeOptions.url;
  if (route !== undefined) return route;
  const query = request.url.indexOf('?');
  return query === -1 ? request.url : request.url.slice(0, query);
};

function credentialsOf(request: FastifyRequest, config: Config['auth'], webSocket: boolean): Credentials {
  const header = (name: string): string | undefined => {
    const value = request.headers[name];
    return Array.isArray(value) ? value[0] : value;
  };
  let token = bearerToken(header('authorization'));
  if (token === undefined && webSocket) token = tokenFromProtocols(header('sec-websocket-protocol'));
  if (token === undefined && config.tokenInUrl) {
    const query = request.query as Record<string, unknown> | undefined;
    if (typeof query?.access_token === 'string') token = query.access_token;
  }
  return { token, sessionId: header('x-session-id'), origin: header('origin'), ip: request.ip };
}

export function registerAccess(
  server: FastifyInstance,
  config: Config,
  authenticator: Authenticator,
  origins: OriginPolicy,
  limits: RequestLimits,
): void {
  server.decorateRequest('principal', undefined);
  server.decorateRequest('authFailure', undefined);
  server.decorateRequest('credentials', undefined);

  // The per-IP limit is counted before authentication, so refused credentials count too (otherwise guessing tokens or
  // keys from one address is never slowed down).
  server.addHook('onRequest', async (request) => {
    if (isProtected(pathOf(request))) await limits.countAddress(request.ip);
  });

  // DNS rebinding: on an open install, a page from evil.example whose name now resolves to 127.0.0.1 would reach
  // the API as "same origin". Requests must name a loopback host.
  if (authenticator.mode === 'open') {
    server.addHook('onRequest', (request, _reply, done) => {
      if (isLoopbackHost(hostnameOf(request.headers.host ?? ''))) {
        done();
        return;
      }
      done(
        new RivuletError('FORBIDDEN', {
          message: 'This install runs without auth and answers only requests to a loopback address.',
        }),
      );
    });
  }

  // Cross-site requests: a page may change something (POST, DELETE) or open a WebSocket only if it is one the server
  // would let read the answer (origins.ts). Neither a multipart POST nor a WebSocket waits for CORS.
  server.addHook('onRequest', async (request) => {
    const path = pathOf(request);
    if (!isProtected(path)) return;
    const webSocket = path === '/api/ws';
    if (!webSocket && READ_ONLY_METHODS.has(request.method)) return;
    try {
      await origins.check(request);
    } catch (error) {
      const coded = toRivuletError(error);
      request.log.info({ code: coded.code, detail: coded.detail }, 'origin refused');
      if (!webSocket) throw coded;
      request.authFailure = coded;
    }
  });

  server.addHook('onRequest', async (request) => {
    const path = pathOf(request);
    if (!isProtected(path) || request.authFailure !== undefined) return;
    const webSocket = path === '/api/ws';
    const credentials = credentialsOf(request, config.auth, webSocket);
    // A WebSocket may also sign in with its first message: no credentials yet is not a failure there.
    const none = credentials.token === undefined && credentials.sessionId === undefined;
    if (webSocket && none && authenticator.mode === 'required') return;
    request.credentials = credentials;
    try {
      request.principal = await authenticator.authenticate(credentials);
    } catch (error) {
      const coded = toRivuletError(error);
      if (coded.detail !== undefined)
        request.log.info({ code: coded.code, detail: coded.detail }, 'auth refused');
      if (!webSocket) throw coded;
      request.authFailure = coded;
    }
  });

  server.addHook('onRequest', async (request) => {
    if (isProtected(pathOf(request))) await limits.countPrincipal(request.principal, request.ip);
  });
}

/** The request's principal; routes behind registerAccess always have one (WebSockets sign in first). */
export function principalOf(request: FastifyRequest): Principal {
  const principal = request.principal;
  if (principal === undefined) throw new RivuletError('UNAUTHORIZED');
  return principal;
}

/** Admin actions: anonymous visitors must sign in (401), signed-in non-admins are refused (403). */
export function requireAdmin(principal: Principal): void {
  if (principal.kind === 'anonymous') throw new RivuletError('UNAUTHORIZED');
  if (!principal.admin) throw new RivuletError('FORBIDDEN');
}
