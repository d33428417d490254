// GET /api/runs/:runId/events (resume or join as SSE, EventSource-friendly), GET /api/runs/:runId/poll (long-polling
// for clients and proxies that cannot stream) and POST /api/runs/:runId/stop.

import type { FastifyInstance, FastifyRequest } from 'fastify';
import { RivuletError } from '../../../core/errors.ts';
import type { RunInfo } from '../../../core/run-hub.ts';
import { parseLastEventId, sseFormat } from '../../encoders/sse.ts';
import { findOwnedRun } from '../../run-access.ts';
import { encodePollBatch, POLL_KNOWN_EVENTS_WAIT_MS, POLL_MAX_WAIT_MS, pollRun } from '../../run-poll.ts';
import { parseWith, runEventsQuerySchema, runParamsSchema, runPollQuerySchema } from '../../schemas.ts';
import { principalOf } from '../access.ts';
import type { AppContext } from '../context.ts';
import { streamCompressionFor, streamRunToResponse } from '../stream-response.ts';

export function registerRunRoutes(server: FastifyInstance, context: AppContext): void {
  const findRun = (request: FastifyRequest): Promise<RunInfo> =>
    findOwnedRun(
      context.hub,
      parseWith(runParamsSchema, request.params, 'path').runId,
      principalOf(request).id,
    );

  server.get('/api/runs/:runId/events', async (request, reply) => {
    // A resume of an answer a killed server cut off is told so (RUN_INTERRUPTED), not just RUN_NOT_FOUND.
    const info = await findOwnedRun(
      context.hub,
      parseWith(runParamsSchema, request.params, 'path').runId,
      principalOf(request).id,
      context.stores.conversations,
    );
    const query = parseWith(runEventsQuerySchema, request.query, 'query');
    const header = request.headers['last-event-id'];
    const lastEventId = (Array.isArray(header) ? header[0] : header) ?? query.lastEventId;
    let afterSeq = -1;
    if (lastEventId !== undefined && lastEventId.trim() !== '') {
      const parsed = parseLastEventId(lastEventId, info.runId);
      if (parsed === undefined) throw new RivuletError('BAD_LAST_EVENT_ID');
      afterSeq = parsed;
    }
    request.log.debug(
      { runId: info.runId, afterSeq, lastSeq: info.lastSeq, state: info.state },
      afterSeq < 0 ? 'run joined from the start' : 'run resumed',
    );
    // Everything, terminal event included, was already delivered: 204 tells EventSource not to reconnect.
    if (info.state === 'finished' && afterSeq >= info.lastSeq) return reply.code(204).send();
    reply.hijack();
    await streamRunToResponse(reply.raw, {
      hub: context.hub,
      runId: info.runId,
      afterSeq,
      format: sseFormat,
      timing: context.config.sse,
      compression: streamCompressionFor(context, request),
      headers: { ...reply.getHeaders(), 'x-run-id': info.runId, 'x-request-id': request.id },
    });
    return reply;
  });

  server.get('/api/runs/:runId/poll', async (request, reply) => {
    // Validated before the run is looked up: a malformed cursor is the client's mistake whatever the run.
    const query = parseWith(runPollQuerySchema, request.query, 'query');
    const info = await findOwnedRun(
      context.hub,
      parseWith(runParamsSchema, request.params, 'path').runId,
      principalOf(request).id,
      context.stores.conversations,
    );
    const afterSeq = query.after ?? -1;
    const headers = { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' };
    // Everything was delivered: say so without attaching a reader (which would hold the poll for nothing).
    if (info.state === 'finished' && afterSeq >= info.lastSeq) {
      return reply
        .headers(headers)
        .send(encodePollBatch(info.runId, { entries: [], next: afterSeq, ended: true }));
    }
    // Events the hub already holds are answered even without `wait`: a shared hub may deliver them to a reader on
    // this instance a moment after it subscribed.
    const waitMs = Math.max(query.wait ?? 0, info.lastSeq > afterSeq ? POLL_KNOWN_EVENTS_WAIT_MS : 0);
    const batch = await pollRun(context.hub, info.runId, {
      afterSeq,
      waitMs: Math.min(waitMs, POLL_MAX_WAIT_MS),
      signal: request.signal,
    });
    return reply.headers(headers).send(encodePollBatch(info.runId, batch));
  });

  server.post(
    '/api/runs/:runId/stop',
    {
      // A stop button's `fetch` often sends `Content-Type: application/json` with no body: there is nothing to
      // parse, so skip the parser instead of refusing the stop with INVALID_JSON.
      onRequest: (request, _reply, done) => {
        const length = request.headers['content-length'];
        if (length === undefined || length === '0') delete request.headers['content-type'];
        done();
      },
    },
    async (request) => {
      const info = await findRun(request);
      const stopped = await context.hub.stop(info.runId);
      return { runId: info.runId, stopped, state: stopped ? 'stopping' : info.state };
    },
  );
}
