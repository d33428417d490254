// GET /api/stats: the last hour per minute (runs, outcomes, errors by code, TTFT p50/p95, tokens/s, active streams)
// and the last 5 minutes merged (`recent`), optionally for one chatbot or provider. It feeds the dashboard; no
// external Prometheus is needed.

import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { idSchema, parseWith } from '../../schemas.ts';
import { RivuletError } from '../../../core/errors.ts';
import { canManage } from '../../../core/principal.ts';
import { principalOf, requireAdmin } from '../access.ts';
import type { AppContext } from '../context.ts';
import type { StatsResponse } from '../../../observability/rolling-stats.ts';

const query = z.strictObject({ chatbotId: idSchema.optional(), provider: idSchema.optional() });

export function registerStatsRoutes(server: FastifyInstance, context: AppContext): void {
  server.get('/api/stats', async (request, reply) => {
    const filter = parseWith(query, request.query, 'query');
    const principal = principalOf(request);
    requireAdmin(principal);
    // Fix: an organisation's admin sees its own chatbots' figures only. The chatbot list, the providers, the errors
    // and the active streams were the whole server's, naming other organisations' chatbots. Admins of no
    // organisation see everything.
    let scope: Set<string> | undefined;
    if (principal.orgId !== null) {
      const chatbots = await context.stores.chatbots.listChatbots();
      scope = new Set(
        chatbots.filter((chatbot) => canManage(principal, chatbot)).map((chatbot) => chatbot.id),
      );
      if (filter.chatbotId !== undefined && !scope.has(filter.chatbotId)) {
        throw new RivuletError('FORBIDDEN', {
          message: 'Pass chatbotId: one of your organisation’s chatbots (or none for all of them).',
        });
      }
    }
    // Sampled now too, so a quiet server's current minute is not stuck at its last 5 s sample.
    const serverActive = context.hub.stats().activeRuns;
    context.stats.sampleActiveStreams(serverActive);
    const counted = filter.chatbotId !== undefined ? new Set([filter.chatbotId]) : scope;
    const body: StatsResponse = {
      ...context.stats.snapshot({
        ...(filter.chatbotId === undefined ? {} : { chatbotId: filter.chatbotId }),
        ...(filter.provider === undefined ? {} : { provider: filter.provider }),
        ...(scope === undefined ? {} : { chatbotIds: scope }),
      }),
      activeStreams: counted === undefined ? serverActive : context.stats.activeStreams(counted),
    };
    return reply.header('cache-control', 'no-store').send(body);
  });
}
