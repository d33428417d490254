// GET /metrics: Prometheus text format from the app's own registry (METRICS_ENABLED=false leaves it unregistered).

import type { FastifyInstance } from 'fastify';
import { RivuletError } from '../../../core/errors.ts';
import { principalOf, requireAdmin } from '../access.ts';
import type { AppContext } from '../context.ts';

export function registerMetricsRoutes(server: FastifyInstance, context: AppContext): void {
  const metrics = context.metrics;
  if (metrics === undefined) return;
  server.get('/metrics', async (request, reply) => {
    // The whole server's figures: for admins of no particular organisation (a scraper uses an admin API key).
    const principal = principalOf(request);
    requireAdmin(principal);
    if (principal.orgId !== null) throw new RivuletError('FORBIDDEN');
    const body = await metrics.render();
    return reply.header('content-type', metrics.contentType).header('cache-control', 'no-store').send(body);
  });
}
