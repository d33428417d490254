// A loopback TCP proxy that can cut connections like a flaky network: after so many bytes towards the client, on
// command, or by dropping every new connection. It forwards raw bytes, so HTTP, SSE and WebSocket upgrades all pass.

import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

export interface CuttingProxyOptions {
  /**
   * The i-th accepted connection is cut once this many bytes went from the server to the client through it
   * (`undefined` or a missing entry: never cut by bytes). The bytes include HTTP headers and WebSocket framing.
   */
  cutAfterBytes?: readonly (number | undefined)[];
}

export interface CuttingProxy {
  /** http://127.0.0.1:port */
  readonly url: string;
  /** Connections accepted and forwarded (dropped ones not included). */
  readonly accepted: number;
  /** Connections cut so far (by bytes or by `cut()`). */
  readonly cuts: number;
  /** Connections that arrived after `refuse()` and were dropped at once. */
  readonly refused: number;
  /** Connections currently open. */
  readonly open: number;
  /** Cuts every open connection now (both sides destroyed, no close handshake); returns how many. */
  cut(): number;
  /** From now on the server is unreachable: open connections are cut, new ones are dropped before any byte. */
  refuse(): void;
  /** New connections are forwarded again. */
  accept(): void;
  /** Resolves once `accepted` reaches `count`. */
  waitForConnections(count: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

interface Pair {
  client: Socket;
  upstream: Socket;
}

/** Starts a proxy on 127.0.0.1 in front of `target` (an http://127.0.0.1:port URL). */
export async function startCuttingProxy(
  target: string,
  options: CuttingProxyOptions = {},
): Promise<CuttingProxy> {
  const { hostname, port: targetPort } = new URL(target);
  const plan = options.cutAfterBytes ?? [];
  const pairs = new Set<Pair>();
  const waiters = new Set<() => void>();
  let accepted = 0;
  let cuts = 0;
  let refused = 0;
  let refusing = false;

  const destroy = (pair: Pair): void => {
    if (!pairs.delete(pair)) return;
    pair.client.destroy();
    pair.upstream.destroy();
  };
  const cutPair = (pair: Pair): void => {
    if (!pairs.has(pair)) return;
    cuts += 1;
    // Both sides go at once, without any protocol goodbye: the client sees a response (or socket) end in the
    // middle, the server sees its reader vanish. Bytes already written are delivered before the FIN.
    destroy(pair);
  };

  const server: Server = createServer({ noDelay: true }, (client) => {
    if (refusing) {
      refused += 1;
      client.resetAndDestroy();
      return;
    }
    const limit = plan[accepted];
    accepted += 1;
    for (const waiter of waiters) waiter();
    const upstream = connect({ host: hostname, port: Number(targetPort), noDelay: true });
    const pair: Pair = { client, upstream };
    pairs.add(pair);
    let forwarded = 0;
    let cutting = false;

    client.on('data', (chunk: Buffer) => upstream.write(chunk));
    upstream.on('data', (chunk: Buffer) => {
      if (!pairs.has(pair) || cutting) return;
      if (limit === undefined || forwarded + chunk.length < limit) {
        forwarded += chunk.length;
        client.write(chunk);
        return;
      }
      // Deliver exactly up to the limit (likely in the middle of a frame), then cut.
      const head = chunk.subarray(0, limit - forwarded);
      forwarded = limit;
      cutting = true;
      if (head.length > 0) client.write(head, () => cutPair(pair));
      else cutPair(pair);
    });
    client.on('end', () => upstream.end());
    upstream.on('end', () => client.end());
    client.on('error', () => destroy(pair));
    upstream.on('error', () => destroy(pair));
    client.on('close', () => destroy(pair));
    upstream.on('close', () => destroy(pair));
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0 }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    get accepted() {
      return accepted;
    },
    get cuts() {
      return cuts;
    },
    get refused() {
      return refused;
    },
    get open() {
      return pairs.size;
    },
    cut() {
      const open = [...pairs];
      for (const pair of open) cutPair(pair);
      return open.length;
    },
    refuse() {
      refusing = true;
      for (const pair of [...pairs]) cutPair(pair);
    },
    accept() {
      refusing = false;
    },
    waitForConnections(count, timeoutMs = 5_000) {
      return new Promise<void>((resolve, reject) => {
        const check = (): void => {
          if (accepted < count) return;
          waiters.delete(check);
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`cutting proxy: ${accepted} of ${count} connections within ${timeoutMs} ms`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    close() {
      for (const pair of [...pairs]) destroy(pair);
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
