// GET /healthz: the process is up. GET /readyz: this instance should get traffic (not shutting down, store answers).

import type { FastifyInstance } from 'fastify';
import { RivuletError } from '../../../core/errors.ts';
import type { AppContext } from '../context.ts';

export function registerHealthRoutes(server: FastifyInstance, context: AppContext): void {
  // Public: nothing about the server's traffic (it listed the whole server's running answers to anyone). Admins
  // of no organisation read that in /api/stats and /metrics.
  // Under `--workers N`, which worker answered (an operator, and the tests, can see both serve).
  const worker = context.workerIndex === undefined ? {} : { worker: context.workerIndex };
  server.get('/healthz', () => ({ status: 'ok', uptimeSeconds: Math.round(process.uptime()), ...worker }));

  server.get('/readyz', async () => {
    if (context.chat.isDraining) throw new RivuletError('SHUTTING_DOWN');
    try {
      await context.stores.ping();
    } catch (error) {
      throw new RivuletError('STORE_UNAVAILABLE', {
        detail: error instanceof Error ? error.message : String(error),
      });
    }
    const { backend, vectors } = context.stores;
    // Which store answers, and whether retrieval can use vectors or is lexical (BM25) only, and why.
    return {
      status: 'ready',
      store: {
        backend,
        vectors: vectors.available,
        ...(vectors.available ? {} : { vectorsOff: vectors.error }),
      },
    };
  });
}
