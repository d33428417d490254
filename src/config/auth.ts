// Auth: who may call the API (open on loopback, or JWTs and API keys), and the refusal to serve an open API to the
// network.

import { z } from 'zod';
import { booleanText, integer, optionalText } from './fields.ts';
import { ConfigError, type Problems } from './problems.ts';
import type { ServerSettings } from './server.ts';

/** JWT algorithms Rivulet accepts at all; `none` is never one of them. */
export const JWT_ALGORITHMS = [
  'HS256',
  'HS384',
  'HS512',
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'ES256',
  'ES384',
  'EdDSA',
];

export const authSchema = z.object({
  AUTH_MODE: z.enum(['auto', 'open', 'required']).default('auto'),
  AUTH_JWT_SECRET: optionalText.refine(
    (value) => value === undefined || value.length >= 32,
    'must be at least 32 characters (an HS256 key shorter than its hash is weak)',
  ),
  AUTH_JWKS_URL: optionalText.refine(
    (value) => value === undefined || /^https?:\/\//.test(value),
    'must be an http(s) URL of a JSON Web Key Set',
  ),
  AUTH_JWT_ALGORITHMS: optionalText,
  AUTH_JWT_ISSUER: optionalText,
  AUTH_JWT_AUDIENCE: optionalText,
  AUTH_CLOCK_SKEW_SECONDS: integer(30).pipe(z.number().max(300)),
  // Not empty: AUTH_ADMIN_ROLE= would make any token with `"role": ""` an admin.
  AUTH_ORG_CLAIM: z.string().trim().min(1, 'must name a claim').default('org'),
  AUTH_ADMIN_ROLE: z.string().trim().min(1, 'must name a role').default('admin'),
  AUTH_TOKEN_IN_URL: booleanText(false),
});
export type AuthValues = z.infer<typeof authSchema>;

export interface AuthConfig {
  /**
   * `open`: no auth, every request acts as the local admin (a fresh install on a loopback address). `required`:
   * every API request needs a JWT or an API key, or a session id for a public chatbot.
   */
  mode: 'open' | 'required';
  jwt:
    | {
        secret: string | undefined;
        jwksUrl: string | undefined;
        algorithms: string[];
        issuer: string | undefined;
        audience: string | undefined;
        clockSkewSeconds: number;
        orgClaim: string;
        adminRole: string;
      }
    | undefined;
  /** Accept `?access_token=` (WebSocket and EventSource cannot send headers); off because URLs land in logs. */
  tokenInUrl: boolean;
}

export interface AuthSettings {
  auth: AuthConfig;
}

export function resolveAuth(values: AuthValues, problems: Problems): AuthSettings {
  const secret = values.AUTH_JWT_SECRET;
  const jwksUrl = values.AUTH_JWKS_URL;
  if (secret !== undefined && jwksUrl !== undefined) {
    problems.add('AUTH_JWT_SECRET', 'set AUTH_JWT_SECRET (HS256) or AUTH_JWKS_URL (RS256/ES256), not both');
  }
  const jwtConfigured = secret !== undefined || jwksUrl !== undefined;
  if (values.AUTH_MODE === 'open' && jwtConfigured) {
    problems.add(
      'AUTH_MODE',
      'is open, but a JWT secret or JWKS URL is set: use AUTH_MODE=required (or auto)',
    );
  }
  const defaults = secret !== undefined ? ['HS256'] : ['RS256', 'ES256'];
  const algorithms = values.AUTH_JWT_ALGORITHMS?.split(',').map((name) => name.trim()) ?? defaults;
  for (const algorithm of algorithms) {
    if (!JWT_ALGORITHMS.includes(algorithm)) {
      problems.add('AUTH_JWT_ALGORITHMS', `"${algorithm}" is not one of ${JWT_ALGORITHMS.join(', ')}`);
    } else if (algorithm.startsWith('HS') !== (secret !== undefined) && jwtConfigured) {
      // A symmetric algorithm with a public key set (or the reverse) is the classic key-confusion attack.
      problems.add(
        'AUTH_JWT_ALGORITHMS',
        `"${algorithm}" does not fit ${secret !== undefined ? 'a shared secret' : 'a JWKS URL'}`,
      );
    }
  }
  return {
    auth: {
      mode:
        values.AUTH_MODE === 'required' || (values.AUTH_MODE === 'auto' && jwtConfigured)
          ? 'required'
          : 'open',
      jwt: jwtConfigured
        ? {
            secret,
            jwksUrl,
            algorithms,
            issuer: values.AUTH_JWT_ISSUER,
            audience: values.AUTH_JWT_AUDIENCE,
            clockSkewSeconds: values.AUTH_CLOCK_SKEW_SECONDS,
            orgClaim: values.AUTH_ORG_CLAIM,
            adminRole: values.AUTH_ADMIN_ROLE,
          }
        : undefined,
      tokenInUrl: values.AUTH_TOKEN_IN_URL,
    },
  };
}

/** 127.0.0.0/8, ::1 and localhost: addresses only this machine can reach. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '').toLowerCase();
  return bare === 'localhost' || bare === '::1' || /^127(\.\d{1,3}){3}$/.test(bare);
}

/** Refuses to serve an open (auth-less) API on an address other machines can reach. */
export function assertSafeToServe(config: Pick<ServerSettings, 'host'> & AuthSettings): void {
  if (config.auth.mode === 'open' && !isLoopbackHost(config.host)) {
    throw new ConfigError(
      `Refusing to start: HOST=${config.host} is reachable from other machines and no auth is configured, so anyone ` +
        'could use the API (and your model budget). Set AUTH_JWT_SECRET or AUTH_JWKS_URL, or AUTH_MODE=required ' +
        'and create API keys with `rivulet keys create`; or listen on 127.0.0.1.',
    );
  }
}
