// The web app and widget, the browsers allowed to call the API (CORS), and the proxies whose X-Forwarded-For is
// believed.

import { isIP } from 'node:net';
import { z } from 'zod';
import type { AuthConfig } from './auth.ts';
import { booleanText, optionalText } from './fields.ts';
import type { Problems } from './problems.ts';

export type TrustProxy = false | number | string[];

export const webSchema = z.object({
  ENABLE_FRONTEND_STREAMING: booleanText(true),
  WEB_DIST_DIR: optionalText,
  CORS_ORIGINS: z
    .string()
    .optional()
    .transform((value, context) => {
      const trimmed = value?.trim() ?? '';
      if (trimmed === '') return undefined;
      if (trimmed === '*') return '*' as const;
      const origins = trimmed
        .split(',')
        .map((origin) => origin.trim())
        .filter((origin) => origin !== '');
      for (const origin of origins) {
        if (!isOrigin(origin)) {
          context.addIssue({
            code: 'custom',
            message: `"${origin}" is not an origin like https://example.com`,
          });
          return z.NEVER;
        }
      }
      return origins;
    }),
  TRUST_PROXY: z
    .string()
    .optional()
    .transform((value, context) => {
      const parsed = parseTrustProxy(value ?? '');
      if (typeof parsed === 'string') {
        context.addIssue({ code: 'custom', message: parsed });
        return z.NEVER;
      }
      return parsed;
    }),
});
export type WebValues = z.infer<typeof webSchema>;

export interface WebSettings {
  web: {
    /** The web app and widget stream answers; false shows whole answers through POST /api/chat (seed 000). */
    streaming: boolean;
    /**
     * Origins allowed to call the API from a browser (the widget on your site), or '*' for any. Unset: any where
     * auth is required (credentials are bearer tokens no other site can read), but only loopback pages on an open
     * install, so a website a local user visits cannot drive the local API.
     */
    corsOrigins: NonNullable<WebValues['CORS_ORIGINS']> | 'loopback';
    /** The built app and widget (`npm run build:web`); undefined: dist/web in this checkout. */
    distDir: string | undefined;
  };
  /**
   * Whose X-Forwarded-For to believe (TRUST_PROXY): false, the default, takes the socket's address as the client's
   * (a proxy in front then makes all visitors one address); a list of proxy addresses and CIDR ranges; or a number
   * of proxy hops, for when the proxies' addresses are not known and nothing reaches Rivulet but through them.
   */
  trustProxy: TrustProxy;
}

export function resolveWeb(values: WebValues, authMode: AuthConfig['mode'], problems: Problems): WebSettings {
  // Without auth every request acts as the local admin: a page that may call the API may do anything.
  if (authMode === 'open' && values.CORS_ORIGINS === '*') {
    problems.add(
      'CORS_ORIGINS',
      'is *, but no auth is configured: any website the user visits could act as the local admin. List the origins ' +
        '(pages on this machine are always allowed) or turn auth on',
    );
  }
  return {
    web: {
      streaming: values.ENABLE_FRONTEND_STREAMING,
      corsOrigins: values.CORS_ORIGINS ?? (authMode === 'open' ? 'loopback' : '*'),
      distDir: values.WEB_DIST_DIR,
    },
    trustProxy: values.TRUST_PROXY,
  };
}

/**
 * The proxies whose X-Forwarded-For is believed: off (the socket's address is the client's), their addresses and
 * CIDR ranges (or proxy-addr's names loopback, linklocal, uniquelocal), or the number of proxy hops in front. A
 * string is the reason the value was refused.
 */
export function parseTrustProxy(value: string): TrustProxy | string {
  const trimmed = value.trim();
  if (['', 'false', '0', 'no', 'off'].includes(trimmed.toLowerCase())) return false;
  if (['true', 'yes', 'on', '*'].includes(trimmed.toLowerCase())) {
    return (
      'trusting every address would let any client choose the address its limits count by (X-Forwarded-For is ' +
      'whatever it sends): give the proxy addresses, like 127.0.0.1 or 10.0.0.0/8, or the number of proxies in front'
    );
  }
  if (/^\d+$/.test(trimmed)) {
    const hops = Number(trimmed);
    return hops <= 32 ? hops : 'a number of proxy hops must be at most 32';
  }
  const entries = trimmed
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
  for (const entry of entries) {
    if (!isProxyAddress(entry)) {
      return `"${entry}" is not an IP address, a CIDR range (10.0.0.0/8, fd00::/8), loopback, linklocal or uniquelocal`;
    }
    // A /0 range is every address: the same as `true`, refused for the same reason.
    if (/\/0+$/.test(entry)) {
      return `"${entry}" trusts every address, which would let any client choose the address its limits count by: give the proxies' addresses`;
    }
  }
  return entries;
}

const PROXY_ADDRESS_NAMES = new Set(['loopback', 'linklocal', 'uniquelocal']);

function isProxyAddress(entry: string): boolean {
  if (PROXY_ADDRESS_NAMES.has(entry)) return true;
  const [address = '', prefix, ...rest] = entry.split('/');
  const family = isIP(address);
  if (family === 0 || rest.length > 0) return false;
  if (prefix === undefined) return true;
  return /^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128);
}

/** scheme://host[:port] with nothing after it: what a browser sends in `Origin`. */
function isOrigin(value: string): boolean {
  try {
    return new URL(value).origin === value;
  } catch {
    return false;
  }
}
