// GET /metrics: Prometheus text format from the app's own registry (METRICS_ENABLED=false leaves it unregistered).

import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../context.ts';

export function registerMetricsRoutes(server: FastifyInstance, context: AppContext): void {
  const metrics = context.metrics;
  if (metrics === undefined) return;
  server.get('/metrics', async (_request, reply) => {
    const body = await metrics.render();
    return reply.header('content-type', metrics.contentType).header('cache-control', 'no-store').send(body);
  });
}
