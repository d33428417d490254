// Requests per minute, per IP address and per principal, for HTTP requests and WebSocket messages alike: one
// counter each, so a client cannot escape its limit by sending over a socket what it would otherwise send as
// requests. rate-limiter-flexible counts in this process's memory, or in Redis for every instance (REDIS_URL); while
// Redis cannot be reached, each instance counts alone in memory (its insurance limiter) rather than refuse or fail.

import type { Redis } from 'ioredis';
import {
  RateLimiterMemory,
  RateLimiterRedis,
  RateLimiterRes,
  type RateLimiterAbstract,
} from 'rate-limiter-flexible';
import { RivuletError } from '../core/errors.ts';
import type { Principal } from '../core/principal.ts';
import type { LimitsConfig } from '../config.ts';

const WINDOW_SECONDS = 60;

export class RequestLimits {
  private readonly perIp: RateLimiterAbstract | undefined;
  private readonly perPrincipal: RateLimiterAbstract | undefined;

  /** `shared`: count in Redis for every instance, with keys under `keyPrefix`. */
  constructor(limits: LimitsConfig, shared?: { redis: Redis; keyPrefix: string }) {
    this.perIp = limiter(limits.enabled ? limits.perIpPerMinute : 0, shared, 'ip');
    this.perPrincipal = limiter(limits.enabled ? limits.perPrincipalPerMinute : 0, shared, 'principal');
  }

  /** Counts one request or message from this address (before its credentials are checked, so guesses count). */
  async countAddress(ip: string): Promise<void> {
    await consume(this.perIp, `ip:${ip}`);
  }

  /** Counts one request or message of this principal. */
  async countPrincipal(principal: Principal | undefined, ip: string): Promise<void> {
    await consume(this.perPrincipal, `principal:${principalLimitKey(principal, ip)}`);
  }
}

/** What per-principal limits count by: anonymous visitors by their address (they make up their session ids). */
export function principalLimitKey(principal: Principal | undefined, ip: string): string {
  return principal?.limitKey ?? principal?.id ?? `ip:${ip}`;
}

function limiter(
  perMinute: number,
  shared: { redis: Redis; keyPrefix: string } | undefined,
  name: string,
): RateLimiterAbstract | undefined {
  if (perMinute <= 0) return undefined;
  const memory = new RateLimiterMemory({ points: perMinute, duration: WINDOW_SECONDS });
  if (shared === undefined) return memory;
  return new RateLimiterRedis({
    storeClient: shared.redis,
    keyPrefix: `${shared.keyPrefix}:rate:${name}`,
    points: perMinute,
    duration: WINDOW_SECONDS,
    // Not connected: straight to the insurance limiter, without waiting for a command to fail.
    rejectIfRedisNotReady: true,
    insuranceLimiter: memory,
  });
}

async function consume(limiter: RateLimiterAbstract | undefined, key: string): Promise<void> {
  if (limiter === undefined) return;
  try {
    await limiter.consume(key);
  } catch (refusal) {
    if (!(refusal instanceof RateLimiterRes)) throw refusal;
    throw new RivuletError('RATE_LIMITED', {
      retryAfterMs: Math.max(1000, refusal.msBeforeNext),
      detail: `limit ${limiter.points} per minute`,
    });
  }
}
