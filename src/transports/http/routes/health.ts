// GET /healthz: the process is up and serving (readiness with store checks lands with the operations issue).

import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../context.ts';

export function registerHealthRoutes(server: FastifyInstance, context: AppContext): void {
  server.get('/healthz', () => {
    const stats = context.hub.stats();
    return { status: 'ok', uptimeSeconds: Math.round(process.uptime()), activeRuns: stats.activeRuns };
  });
}
