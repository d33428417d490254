// POST /api/chat/stream (SSE or NDJSON) and POST /api/chat (one JSON answer built from the same run).

import type { FastifyInstance } from 'fastify';
import { RivuletError, statusForCode } from '../../../core/errors.ts';
import { chatRequestSchema, parseWith } from '../../schemas.ts';
import { principalOf } from '../access.ts';
import { collectAnswer } from '../collect-answer.ts';
import type { AppContext } from '../context.ts';
import { negotiateFormat, streamCompressionFor, streamRunToResponse } from '../stream-response.ts';

export function registerChatRoutes(server: FastifyInstance, context: AppContext): void {
  const schema = chatRequestSchema();

  server.post('/api/chat/stream', async (request, reply) => {
    const body = parseWith(schema, request.body);
    const run = await context.chat.start(body, principalOf(request));
    // Ties the request id a user can quote to the run id every pipeline log line carries.
    request.log.info({ runId: run.runId }, 'run started');
    reply.hijack();
    const streamed = await streamRunToResponse(reply.raw, {
      hub: context.hub,
      runId: run.runId,
      afterSeq: -1,
      format: negotiateFormat(request.headers.accept),
      timing: context.config.sse,
      compression: streamCompressionFor(context, request),
      headers: { ...reply.getHeaders(), 'x-run-id': run.runId, 'x-request-id': request.id },
    });
    // Refused a reader (TOO_MANY_READERS): nobody would read this answer, so it is not generated.
    if (!streamed) await context.hub.stop(run.runId);
  });

  server.post('/api/chat', async (request, reply) => {
    const body = parseWith(schema, request.body);
    const run = await context.chat.start(body, principalOf(request));
    // Ties the request id a user can quote to the run id every pipeline log line carries.
    request.log.info({ runId: run.runId }, 'run started');
    const answer = await collectAnswer(context.hub, run.runId, reply.raw);
    if (reply.raw.destroyed) return reply;
    // A reader that ended without a terminal event (the run vanished from the hub) must not look like an answer.
    if (answer.finishReason === null) throw new RivuletError('RUN_NOT_FOUND');
    reply.header('x-run-id', run.runId);
    if (answer.error !== null) {
      const status = statusForCode(answer.error.code);
      return reply
        .code(status)
        .send({ error: { code: answer.error.code, message: answer.error.message }, answer });
    }
    return answer;
  });
}
