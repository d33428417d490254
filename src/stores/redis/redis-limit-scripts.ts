// The Lua scripts behind shared limits: each runs atomically in Redis, so instances that take a stream slot or hold
// budget tokens at the same moment see each other. Time is Redis's own (TIME), so instances' clocks need not agree.

import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

/** Milliseconds by Redis's clock. */
const NOW = `local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)`;

/**
 * Takes a stream slot. KEYS[1]: the principal's sorted set of slot ids scored by when they lapse.
 * ARGV: slotId, limit, leaseMs. Returns {1, taken} when the slot is (or already was) taken, {0, taken} when refused.
 */
export const ACQUIRE_SLOT = `${NOW}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local lease = tonumber(ARGV[3])
local taken = redis.call('ZCARD', KEYS[1])
if redis.call('ZSCORE', KEYS[1], ARGV[1]) == false then
  if taken >= tonumber(ARGV[2]) then return {0, taken} end
  taken = taken + 1
end
redis.call('ZADD', KEYS[1], now + lease, ARGV[1])
if redis.call('PTTL', KEYS[1]) < lease then redis.call('PEXPIRE', KEYS[1], lease) end
return {1, taken}`;

/** Extends a slot's lease (takes it again if Redis lost it). KEYS[1]: the set; ARGV: slotId, leaseMs. */
export const REFRESH_SLOT = `${NOW}
local lease = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], now + lease, ARGV[1])
if redis.call('PTTL', KEYS[1]) < lease then redis.call('PEXPIRE', KEYS[1], lease) end
return 1`;

/**
 * Budget counters. Per budget two keys: a hash (fields: spent, held, and h:<holdId> -> tokens held by that answer)
 * and a sorted set of hold ids scored by when they lapse. A lapsed hold gives its tokens back on the next hold.
 */
const PURGE = `local function purge(counter, holds)
  local lapsed = redis.call('ZRANGEBYSCORE', holds, '-inf', now)
  for _, id in ipairs(lapsed) do
    local tokens = tonumber(redis.call('HGET', counter, 'h:' .. id) or '0')
    redis.call('HINCRBY', counter, 'held', -tokens)
    redis.call('HDEL', counter, 'h:' .. id)
  end
  if #lapsed > 0 then redis.call('ZREMRANGEBYSCORE', holds, '-inf', now) end
end`;

/**
 * Holds `want` tokens for one answer in every budget at once, or in none, when every budget has at least atLeast
 * left besides this hold; the hold may take a budget past its limit (the answer is then capped to what was left).
 * KEYS: per budget i, its hash (2i - 1) and its set of holds (2i).
 * ARGV: holdId, want, atLeast, leaseMs, ttlMs, then per budget: limit, spent ('' when the caller does not know it).
 * A given spent starts a missing counter, and raises one that fell behind the store (never lowers it).
 * Returns {1, left} held (left: the least any budget had besides this hold); {2, index} refused (0-based: that budget has fewer than atLeast left);
 * {0, index...} the counters of those budgets do not exist: call again with their spent.
 */
export const HOLD_TOKENS = `${NOW}
${PURGE}
local field = 'h:' .. ARGV[1]
local want, atLeast = tonumber(ARGV[2]), tonumber(ARGV[3])
local lease, ttl = tonumber(ARGV[4]), tonumber(ARGV[5])
local budgets = #KEYS / 2
local unknown = {0}
for i = 1, budgets do
  local counter, known = KEYS[2 * i - 1], ARGV[5 + 2 * i]
  local spent = redis.call('HGET', counter, 'spent')
  if known ~= '' then
    if spent == false or tonumber(spent) < tonumber(known) then redis.call('HSET', counter, 'spent', known) end
  elseif spent == false then
    table.insert(unknown, i - 1)
  end
end
if #unknown > 1 then return unknown end
local least = nil
for i = 1, budgets do
  local counter = KEYS[2 * i - 1]
  purge(counter, KEYS[2 * i])
  local spent = tonumber(redis.call('HGET', counter, 'spent'))
  local held = tonumber(redis.call('HGET', counter, 'held') or '0')
  local mine = tonumber(redis.call('HGET', counter, field) or '0')
  local left = tonumber(ARGV[4 + 2 * i]) - spent - (held - mine)
  if left < atLeast then return {2, i - 1} end
  if least == nil or left < least then least = left end
end
for i = 1, budgets do
  local counter, holds = KEYS[2 * i - 1], KEYS[2 * i]
  local mine = tonumber(redis.call('HGET', counter, field) or '0')
  redis.call('HINCRBY', counter, 'held', want - mine)
  redis.call('HSET', counter, field, want)
  redis.call('ZADD', holds, now + lease, ARGV[1])
  redis.call('PEXPIRE', counter, ttl)
  redis.call('PEXPIRE', holds, ttl)
end
return {1, least}`;

/**
 * Extends a hold's lease; holds `tokens` again where Redis lost the hold (a restart without persistence).
 * KEYS: as HOLD_TOKENS. ARGV: holdId, tokens, leaseMs, ttlMs.
 */
export const REFRESH_HOLD = `${NOW}
local field = 'h:' .. ARGV[1]
local lease, ttl = tonumber(ARGV[3]), tonumber(ARGV[4])
for i = 1, #KEYS / 2 do
  local counter, holds = KEYS[2 * i - 1], KEYS[2 * i]
  if redis.call('HEXISTS', counter, field) == 0 then
    redis.call('HINCRBY', counter, 'held', tonumber(ARGV[2]))
    redis.call('HSET', counter, field, ARGV[2])
  end
  redis.call('ZADD', holds, now + lease, ARGV[1])
  redis.call('PEXPIRE', counter, ttl)
  redis.call('PEXPIRE', holds, ttl)
end
return 1`;

/**
 * Releases a hold and adds what the answer spent to each counter that exists (a missing one starts from the store,
 * which was charged first). KEYS: as HOLD_TOKENS. ARGV: holdId, spent.
 */
export const SETTLE_HOLD = `local field = 'h:' .. ARGV[1]
for i = 1, #KEYS / 2 do
  local counter, holds = KEYS[2 * i - 1], KEYS[2 * i]
  local mine = redis.call('HGET', counter, field)
  if mine ~= false then
    redis.call('HINCRBY', counter, 'held', -tonumber(mine))
    redis.call('HDEL', counter, field)
  end
  redis.call('ZREM', holds, ARGV[1])
  if redis.call('HEXISTS', counter, 'spent') == 1 then
    redis.call('HINCRBY', counter, 'spent', tonumber(ARGV[2]))
  end
end
return 1`;

const digests = new Map<string, string>();

/** Runs a script by its digest (EVALSHA), sending its text only when Redis does not have it yet (NOSCRIPT). */
export async function runScript(
  redis: Redis,
  script: string,
  keys: readonly string[],
  args: readonly (string | number)[],
): Promise<unknown> {
  const digest = digests.get(script) ?? createHash('sha1').update(script).digest('hex');
  digests.set(script, digest);
  try {
    return await redis.evalsha(digest, keys.length, ...keys, ...args);
  } catch (error) {
    if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
    return redis.eval(script, keys.length, ...keys, ...args);
  }
}
