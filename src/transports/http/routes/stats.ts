// GET /api/stats: the last hour per minute (runs, outcomes, errors by code, TTFT p50/p95, tokens/s, active streams),
// optionally for one chatbot or provider. It feeds the dashboard; no external Prometheus is needed.

import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { idSchema, parseWith } from '../../schemas.ts';
import { RivuletError } from '../../../core/errors.ts';
import { canManage } from '../../../core/principal.ts';
import { principalOf, requireAdmin } from '../access.ts';
import type { AppContext } from '../context.ts';

const query = z.strictObject({ chatbotId: idSchema.optional(), provider: idSchema.optional() });

export function registerStatsRoutes(server: FastifyInstance, context: AppContext): void {
  server.get('/api/stats', async (request, reply) => {
    const filter = parseWith(query, request.query, 'query');
    const principal = principalOf(request);
    requireAdmin(principal);
    // An organisation's admin sees one of its chatbots at a time; the whole server is for admins of no organisation.
    if (principal.orgId !== null) {
      const chatbot =
        filter.chatbotId === undefined
          ? undefined
          : await context.stores.chatbots.getChatbot(filter.chatbotId);
      if (chatbot === undefined || !canManage(principal, chatbot)) {
        throw new RivuletError('FORBIDDEN', {
          message: 'Pass chatbotId: one of your organisation’s chatbots.',
        });
      }
    }
    // Sampled now too, so a quiet server's current minute is not stuck at its last 5 s sample.
    context.stats.sampleActiveStreams(context.hub.stats().activeRuns);
    return reply.header('cache-control', 'no-store').send({
      ...context.stats.snapshot({
        ...(filter.chatbotId === undefined ? {} : { chatbotId: filter.chatbotId }),
        ...(filter.provider === undefined ? {} : { provider: filter.provider }),
      }),
      activeStreams: context.hub.stats().activeRuns,
    });
  });
}
