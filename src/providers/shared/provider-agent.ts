// The undici Agent every provider (and embedding) client sends its requests through: undici's own, with pools that
// find a free connection without looking at every busy one.

import { createRequire } from 'node:module';
import { Agent, Pool, type Dispatcher } from 'undici';

/** undici's pool internals this module relies on (lib/dispatcher/pool-base.js); checked when a pool is made. */
interface PoolBaseModule {
  kClients: symbol;
  kNeedDrain: symbol;
  kAddClient: symbol;
  kGetDispatcher: symbol;
  kUrl: symbol;
}

type Slots = Record<symbol, unknown>;

const poolBase = ((): PoolBaseModule | undefined => {
  try {
    const require = createRequire(import.meta.url);
    const loaded = require('undici/lib/dispatcher/pool-base.js') as Partial<PoolBaseModule>;
    const { kUrl } = require('undici/lib/core/symbols.js') as Partial<PoolBaseModule>;
    const { kClients, kNeedDrain, kAddClient, kGetDispatcher } = loaded;
    if (
      typeof kUrl !== 'symbol' ||
      typeof kClients !== 'symbol' ||
      typeof kNeedDrain !== 'symbol' ||
      typeof kAddClient !== 'symbol' ||
      typeof kGetDispatcher !== 'symbol'
    ) {
      return undefined;
    }
    return { kClients, kNeedDrain, kAddClient, kGetDispatcher, kUrl };
  } catch {
    return undefined;
  }
})();

function ownSymbol(target: object, description: string): symbol | undefined {
  return Object.getOwnPropertySymbols(target).find((key) => key.description === description);
}

/**
 * An undici Pool that keeps its free connections on a stack. undici's Pool looks for a free connection by walking
 * every connection it has, twice per request (to dispatch, then to learn whether it is still free), so with 5,000
 * answers streaming each new request walked 5,000 busy connections (about 1.5% of the held scenario's CPU, all of it
 * while answers open). Here a connection goes on the stack when it is made and whenever it drains (is free again), and a
 * request takes the newest one still free, else a new one, as undici's would: the same connections, reused the same
 * way (any free one, a new one only when none is free), found in constant time. Without the internals it needs (another
 * undici), it is undici's Pool unchanged.
 */
export function idleStackPool(origin: string | URL, options: Pool.Options): Dispatcher {
  const pool = new Pool(origin, options);
  if (poolBase === undefined) return pool;
  const { kClients, kNeedDrain, kAddClient, kGetDispatcher, kUrl } = poolBase;
  const slots = pool as unknown as Slots;
  const kFactory = ownSymbol(pool, 'factory');
  const kOptions = ownSymbol(pool, 'options');
  const kConnections = ownSymbol(pool, 'connections');
  const clients = slots[kClients];
  if (
    kFactory === undefined ||
    kOptions === undefined ||
    kConnections === undefined ||
    !Array.isArray(clients)
  ) {
    return pool;
  }
  const poolOptions = slots[kOptions] as { clientTtl?: number | null } | undefined;
  // A client lifetime makes undici's walk drop expired connections: keep it.
  if (poolOptions?.clientTtl != null && poolOptions.clientTtl > 0) return pool;

  type Client = Dispatcher & Slots;
  const free: Client[] = [];
  // On the stack at most once each: a client that drains while still on it is found there.
  const stacked = new WeakSet<Client>();
  const pushFree = (client: Client): void => {
    if (stacked.has(client)) return;
    stacked.add(client);
    free.push(client);
  };
  // Clients undici dropped from the pool after a connection error (it takes them out of its list without closing them).
  const dropped = new WeakSet<Client>();
  pool.on('connectionError', (_origin: unknown, targets: readonly unknown[]) => {
    for (const target of targets) dropped.add(target as Client);
  });

  const addClient = slots[kAddClient] as (this: Pool, client: Client) => Pool;
  slots[kAddClient] = function (this: Pool, client: Client): Pool {
    const added = addClient.call(this, client);
    pushFree(client);
    // After undici's own drain listener (registered by addClient), which marks whether the client is still busy.
    client.on('drain', () => {
      if (client[kNeedDrain] !== true) pushFree(client);
    });
    return added;
  };

  slots[kGetDispatcher] = function (this: Pool): Client | undefined {
    const self = this as unknown as Slots;
    while (free.length > 0) {
      const client = free[free.length - 1] as Client;
      // Busy (or no longer the pool's): off the stack; it comes back when it drains.
      if (client[kNeedDrain] !== true && !dropped.has(client)) return client;
      free.pop();
      stacked.delete(client);
    }
    const connections = self[kConnections] as number | null;
    if (!connections || clients.length < connections) {
      const factory = self[kFactory] as (origin: URL, options: unknown) => Client;
      const client = factory(self[kUrl] as URL, self[kOptions]);
      (self[kAddClient] as (client: Client) => void).call(this, client);
      return client;
    }
    return undefined;
  };
  return pool;
}

/** How long a provider connection stays open unused for the next call. */
export const PROVIDER_KEEP_ALIVE_MS = 10_000;

/**
 * The Agent a provider (or embedding) client sends through: undici's, one idleStackPool per origin, connections kept
 * PROVIDER_KEEP_ALIVE_MS, a connect given up after `connectTimeoutMs` (the client's stall timeout).
 */
export function providerAgent(connectTimeoutMs: number): Agent {
  return new Agent({
    keepAliveTimeout: PROVIDER_KEEP_ALIVE_MS,
    connect: { timeout: connectTimeoutMs },
    factory: idleStackPool,
  });
}
