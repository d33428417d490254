// GET /healthz: the process is up. GET /readyz: this instance should get traffic (not shutting down, store answers).

import type { FastifyInstance } from 'fastify';
import { RivuletError } from '../../../core/errors.ts';
import type { AppContext } from '../context.ts';

export function registerHealthRoutes(server: FastifyInstance, context: AppContext): void {
  server.get('/healthz', () => {
    const stats = context.hub.stats();
    return { status: 'ok', uptimeSeconds: Math.round(process.uptime()), activeRuns: stats.activeRuns };
  });

  server.get('/readyz', async () => {
    if (context.chat.isDraining) throw new RivuletError('SHUTTING_DOWN');
    try {
      await context.stores.ping();
    } catch (error) {
      throw new RivuletError('STORE_UNAVAILABLE', {
        detail: error instanceof Error ? error.message : String(error),
      });
    }
    return { status: 'ready' };
  });
}
