// Requests per minute, per IP address and per principal, for HTTP requests and WebSocket messages alike: one
// counter each, so a client cannot escape its limit by sending over a socket what it would otherwise send as
// requests. rate-limiter-flexible counts in memory here; its Redis limiter has the same interface for many instances.

import { RateLimiterMemory, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { RivuletError } from '../core/errors.ts';
import type { Principal } from '../core/principal.ts';
import type { LimitsConfig } from '../config.ts';

const WINDOW_SECONDS = 60;

export class RequestLimits {
  private readonly perIp: RateLimiterAbstract | undefined;
  private readonly perPrincipal: RateLimiterAbstract | undefined;

  constructor(limits: LimitsConfig) {
    this.perIp = limiter(limits.enabled ? limits.perIpPerMinute : 0);
    this.perPrincipal = limiter(limits.enabled ? limits.perPrincipalPerMinute : 0);
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

function limiter(perMinute: number): RateLimiterAbstract | undefined {
  return perMinute > 0 ? new RateLimiterMemory({ points: perMinute, duration: WINDOW_SECONDS }) : undefined;
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
