// Redis for tests: the server REDIS_URL names (.ci/run sets it), with a key prefix of its own per test file (removed
// afterwards). Without REDIS_URL, or when that server does not answer, Redis tests skip and say so once.

import { Redis } from 'ioredis';

export const REDIS_URL = process.env.REDIS_URL;

async function probe(): Promise<string | undefined> {
  if (REDIS_URL === undefined || REDIS_URL === '') return 'REDIS_URL is not set';
  const client = new Redis(REDIS_URL, {
    lazyConnect: true,
    connectTimeout: 2_000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  try {
    await client.connect();
    await client.ping();
    return undefined;
  } catch (error) {
    return `Redis at REDIS_URL does not answer (${(error as Error).message})`;
  } finally {
    client.disconnect();
  }
}

/** Why Redis tests skip here, or undefined when they run. */
export const redisSkipReason: string | undefined = await probe();
if (redisSkipReason !== undefined) {
  console.warn(`[redis] Redis tests skipped: ${redisSkipReason}.`);
}

let prefixes = 0;

/** A key prefix no other test run uses. */
export function testKeyPrefix(label = 'test'): string {
  prefixes += 1;
  return `rivulet-test:${label}:${process.pid}:${prefixes}:${Date.now().toString(36)}`;
}

/** Deletes every key under the prefix. */
export async function deleteKeys(prefix: string): Promise<void> {
  if (REDIS_URL === undefined || redisSkipReason !== undefined) return;
  const client = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  try {
    let cursor = '0';
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await client.del(...keys);
    } while (cursor !== '0');
  } finally {
    client.disconnect();
  }
}
