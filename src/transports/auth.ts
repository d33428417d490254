// Who is calling: a JWT (HS256 with a shared secret, or RS256/ES256 from a JWKS URL, with an algorithm allowlist,
// exp/nbf checked within a bounded clock skew), an API key, an anonymous visitor of a public chatbot (a session id
// and the page's Origin), or, on an open local install, the local admin. The same rules serve HTTP and WebSocket.

import {
  createLocalJWKSet,
  createRemoteJWKSet,
  errors as joseErrors,
  jwtVerify,
  type JSONWebKeySet,
  type JWTPayload,
  type JWTVerifyGetKey,
} from 'jose';
import { API_KEY_PATTERN, type ApiKeyStore } from '../core/api-keys.ts';
import { RivuletError } from '../core/errors.ts';
import { LOCAL_PRINCIPAL, type Principal } from '../core/principal.ts';
import type { AuthConfig } from '../config.ts';

/** Session ids an anonymous visitor's browser makes up (the widget uses a random UUID). */
const SESSION_ID_PATTERN = /^[A-Za-z0-9_-]{16,128}$/;

export interface Credentials {
  /** The bearer token (JWT or API key), from `Authorization`, the WebSocket `auth` message or protocol header. */
  token?: string | undefined;
  /** An anonymous visitor's session id (`X-Session-Id`). */
  sessionId?: string | undefined;
  /** The page's origin (`Origin` header), which a public chatbot must allow. */
  origin?: string | undefined;
  /** The caller's IP address: what an anonymous visitor's limits and budget count by. */
  ip?: string | undefined;
}

export interface AuthenticatorOptions {
  /** Keys for a JWKS given inline (tests); otherwise fetched from the configured URL and cached by jose. */
  jwks?: JSONWebKeySet;
}

export class Authenticator {
  readonly mode: AuthConfig['mode'];
  private readonly config: AuthConfig;
  private readonly apiKeys: ApiKeyStore;
  private readonly secret: Uint8Array | undefined;
  private readonly keySet: JWTVerifyGetKey | undefined;

  constructor(config: AuthConfig, apiKeys: ApiKeyStore, options: AuthenticatorOptions = {}) {
    this.mode = config.mode;
    this.config = config;
    this.apiKeys = apiKeys;
    const jwt = config.jwt;
    this.secret = jwt?.secret === undefined ? undefined : new TextEncoder().encode(jwt.secret);
    if (options.jwks !== undefined) this.keySet = createLocalJWKSet(options.jwks);
    else if (jwt?.jwksUrl !== undefined) {
      this.keySet = createRemoteJWKSet(new URL(jwt.jwksUrl), {
        cooldownDuration: 30_000,
        timeoutDuration: 5_000,
      });
    }
  }

  /**
   * The principal for these credentials. Throws UNAUTHORIZED (401) when auth is required and they are missing or
   * invalid; the reason goes to the log (`detail`), never to the caller.
   */
  async authenticate(credentials: Credentials): Promise<Principal> {
    if (this.mode === 'open') return LOCAL_PRINCIPAL;
    const token = credentials.token;
    if (token !== undefined && token !== '') {
      if (API_KEY_PATTERN.test(token)) return this.apiKeyPrincipal(token);
      return this.jwtPrincipal(token);
    }
    const sessionId = credentials.sessionId;
    if (sessionId !== undefined && sessionId !== '') {
      if (!SESSION_ID_PATTERN.test(sessionId)) {
        throw new RivuletError('UNAUTHORIZED', {
          message: 'X-Session-Id must be 16 to 128 letters, digits, "-" or "_".',
        });
      }
      return {
        id: `anon:${sessionId}`,
        kind: 'anonymous',
        orgId: null,
        admin: false,
        origin: credentials.origin,
        // A visitor makes up their own session id: their limits and budget follow their address instead, or a new
        // id would reset them.
        limitKey: credentials.ip === undefined ? undefined : `ip:${credentials.ip}`,
      };
    }
    throw new RivuletError('UNAUTHORIZED');
  }

  private async apiKeyPrincipal(token: string): Promise<Principal> {
    const key = await this.apiKeys.verifyApiKey(token);
    if (key === undefined) throw new RivuletError('UNAUTHORIZED', { detail: 'unknown or revoked API key' });
    // Keys are created with a validated organisation; one edited in the database to "" must not act for all of them.
    if (key.orgId !== null && !ORG_ID_PATTERN.test(key.orgId)) {
      throw new RivuletError('UNAUTHORIZED', { detail: `API key ${key.id} has a malformed organisation` });
    }
    return { id: `key:${key.id}`, kind: 'api-key', orgId: key.orgId, admin: key.admin };
  }

  private async jwtPrincipal(token: string): Promise<Principal> {
    const jwt = this.config.jwt;
    if (jwt === undefined)
      throw new RivuletError('UNAUTHORIZED', { detail: 'JWT given but no JWT key configured' });
    let payload: JWTPayload;
    try {
      const options = {
        algorithms: jwt.algorithms,
        clockTolerance: jwt.clockSkewSeconds,
        requiredClaims: ['exp', 'sub'],
        ...(jwt.issuer === undefined ? {} : { issuer: jwt.issuer }),
        ...(jwt.audience === undefined ? {} : { audience: jwt.audience }),
      };
      payload =
        this.secret !== undefined
          ? (await jwtVerify(token, this.secret, options)).payload
          : (await jwtVerify(token, this.keySet as JWTVerifyGetKey, options)).payload;
    } catch (error) {
      const reason = error instanceof joseErrors.JOSEError ? error.code : 'malformed token';
      throw new RivuletError('UNAUTHORIZED', { detail: `JWT refused: ${reason}` });
    }
    const sub = payload.sub;
    if (typeof sub !== 'string' || sub === '' || sub.length > 200) {
      throw new RivuletError('UNAUTHORIZED', { detail: 'JWT without a usable sub' });
    }
    return {
      id: `user:${sub}`,
      kind: 'user',
      orgId: orgOf(payload, jwt.orgClaim),
      admin: rolesOf(payload).includes(jwt.adminRole),
    };
  }
}

/** What organisation ids look like everywhere else (chatbots, API keys): the schemas' idSchema rule. */
const ORG_ID_PATTERN = /^[\w.-]{1,200}$/;

/**
 * The organisation a token names, or null when it names none (the claim is absent). Fix: a claim that is there but
 * is not an organisation id (an array, "", a number, an object, 10 KB of text) used to read as "no organisation",
 * which for an admin means every organisation. A malformed claim cannot be trusted to narrow or widen anything, so
 * the token is refused (401; the reason goes to the log).
 */
function orgOf(payload: JWTPayload, claim: string): string | null {
  if (!Object.hasOwn(payload, claim)) return null;
  const org = payload[claim];
  if (typeof org === 'string' && ORG_ID_PATTERN.test(org)) return org;
  throw new RivuletError('UNAUTHORIZED', {
    detail: `JWT refused: its "${claim}" claim is not an organisation id (${describeClaim(org)})`,
  });
}

/** The `role` string and the `roles` strings; either may be absent, anything else refuses the token. */
function rolesOf(payload: JWTPayload): string[] {
  const roles: string[] = [];
  if (Object.hasOwn(payload, 'role')) {
    if (typeof payload.role !== 'string') {
      throw new RivuletError('UNAUTHORIZED', {
        detail: `JWT refused: its "role" claim is not a string (${describeClaim(payload.role)})`,
      });
    }
    roles.push(payload.role);
  }
  if (Object.hasOwn(payload, 'roles')) {
    const list = payload.roles;
    if (!Array.isArray(list) || !list.every((role) => typeof role === 'string')) {
      throw new RivuletError('UNAUTHORIZED', {
        detail: `JWT refused: its "roles" claim is not an array of strings (${describeClaim(list)})`,
      });
    }
    roles.push(...list);
  }
  return roles;
}

/** A malformed claim's shape for the log, never its content (it may be long or carry anything). */
function describeClaim(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (typeof value === 'string')
    return value === '' ? 'an empty string' : `a string of ${value.length} characters`;
  return `a ${typeof value}`;
}

/** The bearer token of an `Authorization` header, if it has one. */
export function bearerToken(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const match = /^Bearer[ ]+(\S+)\s*$/i.exec(header);
  return match?.[1];
}

/** WebSocket clients that cannot send headers offer `rivulet.v1, rivulet.bearer.<token>` as subprotocols. */
export const WS_PROTOCOL = 'rivulet.v1';
const WS_BEARER_PREFIX = 'rivulet.bearer.';

export function tokenFromProtocols(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  for (const protocol of header.split(',')) {
    const trimmed = protocol.trim();
    if (trimmed.startsWith(WS_BEARER_PREFIX)) return trimmed.slice(WS_BEARER_PREFIX.length);
  }
  return undefined;
}
