// GET /api/runs/:runId/diagnosis (admins): why an answer fell back on quoted passages and what to fix
// ({ runId, provider, code, hint, at }); 404 RUN_NOT_FOUND when this instance recorded no provider failure for it.

import type { FastifyInstance } from 'fastify';
import { RivuletError } from '../../../core/errors.ts';
import { parseWith, runParamsSchema } from '../../schemas.ts';
import { principalOf, requireAdmin } from '../access.ts';
import type { AppContext } from '../context.ts';

export function registerDiagnosisRoutes(server: FastifyInstance, context: AppContext): void {
  server.get('/api/runs/:runId/diagnosis', (request, reply) => {
    requireAdmin(principalOf(request));
    const { runId } = parseWith(runParamsSchema, request.params, 'path');
    const incident = context.incidents.forRun(runId);
    if (incident === undefined) {
      throw new RivuletError('RUN_NOT_FOUND', { message: 'No provider failure is recorded for this run.' });
    }
    return reply.header('cache-control', 'no-store').send(incident);
  });
}
